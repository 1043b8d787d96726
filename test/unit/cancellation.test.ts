import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CANCELLATION_POLICY, refundFor } from '#domain/cancellation.ts';
import { eur } from '#domain/money.ts';
import { DAY_MS, HOUR_MS } from '#domain/time.ts';

const START = new Date('2026-06-01T00:00:00Z');
const before = (ms: number): Date => new Date(START.getTime() - ms);
const refund = (paidCents: number, noticeMs: number) => refundFor({ paid: eur(paidCents), start: START, now: before(noticeMs) });

describe('refundFor', () => {
  it.each([
    ['30 days', 30 * DAY_MS, 100],
    ['exactly 7 days', 7 * DAY_MS, 100],
    ['7 days less 1 ms', 7 * DAY_MS - 1, 50],
    ['3 days', 3 * DAY_MS, 50],
    ['exactly 48 hours', 48 * HOUR_MS, 50],
    ['48 hours less 1 ms', 48 * HOUR_MS - 1, 0],
    ['1 hour', HOUR_MS, 0],
    ['at the start', 0, 0],
    ['after the start', -HOUR_MS, 0],
  ])('cancelled %s before the start → %i %%', (_label, noticeMs, percent) => {
    const r = refund(405546, noticeMs);
    expect(r.percent).toBe(percent);
    expect(r.amount).toEqual(eur(percent === 100 ? 405546 : percent === 50 ? 202773 : 0));
  });

  it('says which rule applied and how much notice there was', () => {
    expect(refund(1000, 8 * DAY_MS + 3 * HOUR_MS).rule).toBe('100 % refund: cancelled at least 7 days before the start (8 d 3 h before the start)');
    expect(refund(1000, 4 * DAY_MS + 16 * HOUR_MS).rule).toBe(
      '50 % refund: cancelled at least 48 hours (but less than 7 days) before the start (4 d 16 h before the start)',
    );
    expect(refund(1000, 5 * HOUR_MS + 30 * 60_000).rule).toBe('0 % refund: cancelled less than 48 hours before the start, or after it (5 h 30 min before the start)');
    expect(refund(1000, -1).rule).toBe('0 % refund: cancelled less than 48 hours before the start, or after it (after the start)');
  });

  it('rounds half a cent up', () => {
    expect(refund(1, 3 * DAY_MS).amount).toEqual(eur(1)); // 0.5 → 1
    expect(refund(3, 3 * DAY_MS).amount).toEqual(eur(2)); // 1.5 → 2
    expect(refund(5, 3 * DAY_MS).amount).toEqual(eur(3)); // 2.5 → 3
    expect(refund(0, 30 * DAY_MS).amount).toEqual(eur(0));
  });

  it('refunds huge amounts exactly', () => {
    expect(refund(Number.MAX_SAFE_INTEGER, 3 * DAY_MS).amount).toEqual(eur(4_503_599_627_370_496));
    expect(refund(Number.MAX_SAFE_INTEGER, 30 * DAY_MS).amount).toEqual(eur(Number.MAX_SAFE_INTEGER));
  });

  it('rejects a negative amount paid or an invalid date', () => {
    expect(() => refund(-1, 30 * DAY_MS)).toThrow(RangeError);
    expect(() => refundFor({ paid: eur(100), start: new Date(Number.NaN), now: START })).toThrow(RangeError);
  });

  it('never refunds more than was paid nor less than zero, and never more for later notice (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: -30 * DAY_MS, max: 400 * DAY_MS }),
        fc.integer({ min: 0, max: 30 * DAY_MS }),
        (paid, noticeMs, later) => {
          const early = refund(paid, noticeMs);
          const late = refund(paid, noticeMs - later);
          expect(early.amount.amount).toBeGreaterThanOrEqual(0);
          expect(early.amount.amount).toBeLessThanOrEqual(paid);
          expect(late.amount.amount).toBeLessThanOrEqual(early.amount.amount);
          const errorTimes100 = BigInt(early.amount.amount) * 100n - BigInt(paid) * BigInt(early.percent);
          expect(errorTimes100 <= 50n && errorTimes100 > -50n).toBe(true);
        },
      ),
    );
  });
});

describe('CANCELLATION_POLICY', () => {
  it('states the three rules', () => {
    expect(CANCELLATION_POLICY).toMatch(/at least 7 days .*100 %/);
    expect(CANCELLATION_POLICY).toMatch(/at least 48 hours before the start, 50 %/);
    expect(CANCELLATION_POLICY).toMatch(/later, or after the start, nothing/);
  });
});
