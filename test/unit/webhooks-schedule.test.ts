import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  classifyResponse,
  DISABLE_AFTER_FAILING_MS,
  MAX_ATTEMPTS,
  nextAttemptAt,
  RETRY_DELAYS_MS,
  shouldDisableEndpoint,
} from '../../shared/webhooks/schedule.ts';

const HOUR = 3_600_000;
const start = new Date('2026-05-01T00:00:00Z');

/** Every attempt time of one delivery that never succeeds, the first at `start`. */
function attemptTimes(random: () => number): Date[] {
  const times = [start];
  for (let attempt = 1; ; attempt++) {
    const next = nextAttemptAt({ attempt, now: times[times.length - 1]!, random });
    if (!next) return times;
    times.push(next);
  }
}

describe('retry schedule', () => {
  it('is the Standard Webhooks schedule', () => {
    expect(RETRY_DELAYS_MS).toEqual([0, 5_000, 300_000, 1_800_000, 2 * HOUR, 5 * HOUR, 10 * HOUR, 14 * HOUR, 20 * HOUR, 24 * HOUR]);
    expect(MAX_ATTEMPTS).toBe(10);
  });

  it('keeps retrying for at least 72 hours whatever the jitter (SPEC invariant 7)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 9, maxLength: 9 }), (draws) => {
        let i = 0;
        const times = attemptTimes(() => draws[i++]!);
        expect(times).toHaveLength(10);
        const spanMs = times[times.length - 1]!.getTime() - start.getTime();
        expect(spanMs).toBeGreaterThanOrEqual(72 * HOUR);
        expect(spanMs).toBeLessThanOrEqual(1.2 * RETRY_DELAYS_MS.reduce((a, b) => a + b, 0));
      }),
    );
  });

  it('spans the nominal ~75.6 h with no jitter and ~90.7 h with the most', () => {
    const span = (r: number) => attemptTimes(() => r).at(-1)!.getTime() - start.getTime();
    expect(span(0)).toBe(75 * HOUR + 35 * 60_000 + 5_000);
    expect(span(0.999999)).toBeCloseTo(1.2 * (75 * HOUR + 35 * 60_000 + 5_000), -3);
  });

  it('jitters each delay by up to 20 %, never earlier than the schedule', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const delay = nextAttemptAt({ attempt, now: start, random: () => r })!.getTime() - start.getTime();
        const scheduled = RETRY_DELAYS_MS[attempt]!;
        expect(delay).toBeGreaterThanOrEqual(scheduled);
        expect(delay).toBeLessThanOrEqual(Math.round(scheduled * 1.2));
      }),
    );
    const halfway = nextAttemptAt({ attempt: 4, now: start, random: () => 0.5 })!;
    expect(halfway.getTime() - start.getTime()).toBe(7_920_000); // 2 h + 10 %
  });

  it('gives up after the tenth attempt', () => {
    expect(nextAttemptAt({ attempt: 9, now: start, random: () => 0 })).not.toBeNull();
    expect(nextAttemptAt({ attempt: 10, now: start, random: () => 0 })).toBeNull();
    expect(nextAttemptAt({ attempt: 10, now: start, random: () => 0, retryAfterMs: 60_000 })).toBeNull();
  });

  it('refuses an attempt count below 1', () => {
    expect(() => nextAttemptAt({ attempt: 0, now: start, random: () => 0 })).toThrow(RangeError);
    expect(() => nextAttemptAt({ attempt: 1.5, now: start, random: () => 0 })).toThrow(RangeError);
  });

  it('honours a Retry-After later than the schedule, capped at 24 h, and ignores an earlier one', () => {
    const at = (retryAfterMs: number, attempt = 1) => nextAttemptAt({ attempt, now: start, random: () => 0, retryAfterMs })!.getTime() - start.getTime();
    expect(at(120_000)).toBe(120_000);
    expect(at(1_000)).toBe(5_000);
    expect(at(3 * 24 * HOUR)).toBe(24 * HOUR);
    expect(at(60_000, 5)).toBe(5 * HOUR);
    expect(at(-5)).toBe(5_000);
  });
});

describe('classifyResponse', () => {
  it.each([
    [200, 'success'],
    [201, 'success'],
    [204, 'success'],
    [299, 'success'],
    [410, 'disable'],
    [429, 'retry_after'],
    [503, 'retry_after'],
    [301, 'retry'],
    [302, 'retry'],
    [400, 'retry'],
    [401, 'retry'],
    [404, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [504, 'retry'],
    [null, 'retry'],
  ] as const)('%s → %s', (status, outcome) => {
    expect(classifyResponse(status)).toBe(outcome);
  });
});

describe('disabling a failing endpoint', () => {
  it('happens after 5 days of failures, not before', () => {
    expect(DISABLE_AFTER_FAILING_MS).toBe(5 * 24 * HOUR);
    expect(shouldDisableEndpoint({ failingSince: start, now: new Date(start.getTime() + DISABLE_AFTER_FAILING_MS - 1) })).toBe(false);
    expect(shouldDisableEndpoint({ failingSince: start, now: new Date(start.getTime() + DISABLE_AFTER_FAILING_MS) })).toBe(true);
  });
});
