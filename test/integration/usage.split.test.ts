/** Pure parts of metering: hour splitting and transaction packing (no database). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_EVENT_DURATION_MS, fitUnderCaps, splitByHour, splitByMinute, takeTransaction, type CapUse } from '../../shared/services/metering.ts';
import { MAX_TRANSACTION_ITEMS } from '../../shared/store/transact.ts';
import { shardOf, USAGE_SHARDS } from '../../shared/store/usage.ts';
import { incrementsOf } from '../../shared/store/usage-increments.ts';

const MAX_SECONDS = MAX_EVENT_DURATION_MS / 1000;

describe('splitByHour', () => {
  it('splits exactly: pieces add up to the interval, one per hour touched, each within its hour', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000_000_000 }), fc.integer({ min: 1, max: MAX_SECONDS }), fc.integer({ min: 1, max: 1024 }), (start, length, gpus) => {
        const pieces = splitByHour(start, start + length, gpus);
        expect(pieces.reduce((s, p) => s + p.gpuSeconds, 0)).toBe(length * gpus);
        expect(pieces[0]!.epochHour).toBe(Math.floor(start / 3600));
        expect(pieces.at(-1)!.epochHour).toBe(Math.floor((start + length - 1) / 3600));
        pieces.forEach((p, i) => {
          if (i > 0) expect(p.epochHour).toBe(pieces[i - 1]!.epochHour + 1);
          expect(p.gpuSeconds).toBeGreaterThan(0);
          expect(p.gpuSeconds).toBeLessThanOrEqual(3600 * gpus);
          expect(p.gpuSeconds % gpus).toBe(0);
        });
      }),
    );
  });

  it('splits 10:30:00–12:15:30 into 1800, 3600 and 930 seconds', () => {
    const start = Date.parse('2026-11-24T10:30:00Z') / 1000;
    expect(splitByHour(start, start + 6330, 2).map((p) => p.gpuSeconds)).toEqual([3600, 7200, 1860]);
  });
});

describe('splitByMinute', () => {
  it('splits each hour piece exactly into the minutes it touches, none over gpus × 60', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000_000_000 }), fc.integer({ min: 1, max: MAX_SECONDS }), fc.integer({ min: 1, max: 1024 }), (start, length, gpus) => {
        for (const piece of splitByHour(start, start + length, gpus)) {
          const minutes = splitByMinute(start, start + length, gpus, piece.epochHour);
          expect(minutes.reduce((s, [, seconds]) => s + seconds, 0)).toBe(piece.gpuSeconds);
          for (const [minute, seconds] of minutes) {
            expect(minute).toBeGreaterThanOrEqual(0);
            expect(minute).toBeLessThan(60);
            expect(seconds).toBeLessThanOrEqual(gpus * 60);
          }
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('transaction packing', () => {
  const countable = (reservation: string, startSec: number, lengthSec: number, onDemand: boolean) => {
    const pieces = splitByHour(startSec, startSec + lengthSec, 8).map((p) => ({ reservationId: reservation, orgId: 'org_a', poolId: 'pool_a', onDemand, ...p }));
    return { aggregateIds: [...new Set(pieces.flatMap((p) => incrementsOf(p, 0).map((i) => i.id)))] };
  };

  it('the longest event, misaligned over 25 hours and a month boundary, fits one transaction', () => {
    const start = Date.parse('2026-11-30T12:30:00Z') / 1000;
    const c = countable('res_a', start, MAX_SECONDS, true);
    expect(1 + c.aggregateIds.length).toBeLessThanOrEqual(MAX_TRANSACTION_ITEMS);
    expect(takeTransaction([c])).toHaveLength(1);
  });

  it('never puts more than 100 items in a transaction and always makes progress', () => {
    const arbEvent = fc.record({
      reservation: fc.constantFrom('res_a', 'res_b', 'res_c', 'res_d'),
      start: fc.integer({ min: 1_790_000_000, max: 1_790_400_000 }),
      length: fc.integer({ min: 1, max: MAX_SECONDS }),
      onDemand: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(arbEvent, { minLength: 1, maxLength: 400 }), (events) => {
        let queue = events.map((e) => countable(e.reservation, e.start, e.length, e.onDemand));
        while (queue.length > 0) {
          const taken = takeTransaction(queue);
          expect(taken.length).toBeGreaterThan(0);
          expect(taken.length + new Set(taken.flatMap((c) => c.aggregateIds)).size).toBeLessThanOrEqual(MAX_TRANSACTION_ITEMS);
          queue = queue.slice(taken.length);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('never merges events of one capped minute past its cap in a transaction, skips busy items, and still takes every event eventually', () => {
    const arb = fc.array(fc.record({ item: fc.constantFrom('a', 'b'), minute: fc.integer({ min: 0, max: 3 }), add: fc.integer({ min: 1, max: 480 }) }), { minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(arb, (raw) => {
        const queue = raw.map((r, i) => ({ n: i, aggregateIds: [r.item], caps: [{ id: r.item, adds: { [`m${r.minute}`]: r.add }, limits: { [`m${r.minute}`]: 480 } }] as CapUse[] }));
        const busy = new Set(['b']);
        const taken = takeTransaction(queue, { busy });
        expect(taken.every((c) => c.caps[0]!.id !== 'b')).toBe(true);
        const sums = new Map<string, number>();
        for (const c of taken) for (const [name, add] of Object.entries(c.caps[0]!.adds)) sums.set(name, (sums.get(name) ?? 0) + add);
        for (const sum of sums.values()) expect(sum).toBeLessThanOrEqual(480);
        // Without busy items, repeated packing drains the queue.
        let rest = queue;
        while (rest.length > 0) {
          const batch = takeTransaction(rest);
          expect(batch.length).toBeGreaterThan(0);
          rest = rest.filter((c) => !batch.includes(c));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('after a refusal, keeps in order the events that still fit under the counts the item holds now', () => {
    const cap = (add: number): CapUse[] => [{ id: 'h', adds: { m00: add }, limits: { m00: 480 } }];
    const batch = [{ caps: cap(200) }, { caps: cap(300) }, { caps: cap(100) }];
    const { fit, over } = fitUnderCaps(batch, new Map([['h', new Map([['m00', 180]])]]));
    expect(fit).toEqual([batch[0], batch[2]]);
    expect(over).toEqual([batch[1]]);
    expect(fitUnderCaps(batch, new Map()).fit).toEqual(batch);
  });

  it('spreads event ids evenly over the shards', () => {
    const counts = new Array<number>(USAGE_SHARDS).fill(0);
    for (let i = 0; i < 80_000; i++) counts[shardOf(`vr-node-${i % 97}-${i}`)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600);
  });
});
