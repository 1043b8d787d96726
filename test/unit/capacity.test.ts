import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BOOKING_HORIZON_HOURS,
  BUCKET_HOURS,
  MAX_RESERVED_HOURS,
  availableAt,
  bucketsForRange,
  minAvailable,
  shiftHours,
  type Bucket,
  type PoolLoad,
} from '../../shared/domain/capacity.ts';

const load = (totalGpus: number, buckets: Bucket[] = [], onDemand = 0): PoolLoad => ({ totalGpus, onDemand, buckets: new Map(buckets.map((b) => [b.bucket, b])) });

const apply = (l: PoolLoad, changed: Bucket[]): PoolLoad => {
  const buckets = new Map(l.buckets);
  for (const b of changed) buckets.set(b.bucket, b);
  return { ...l, buckets };
};

describe('capacity buckets', () => {
  it('a 365-day booking touches at most 28 buckets and the on-demand horizon at most 54', () => {
    for (let start = 0; start < BUCKET_HOURS; start += 7) {
      expect(bucketsForRange(start, start + MAX_RESERVED_HOURS).length).toBeLessThanOrEqual(28);
      expect(bucketsForRange(start, start + BOOKING_HORIZON_HOURS).length).toBeLessThanOrEqual(54);
    }
  });

  it('shiftHours adds and frees exactly the hours of the window, across bucket edges', () => {
    const l = load(64);
    const changed = shiftHours(l, BUCKET_HOURS - 2, BUCKET_HOURS + 3, 8);
    const after = load(64, changed);
    expect(changed.map((b) => b.bucket)).toEqual([0, 1]);
    expect(availableAt(after, BUCKET_HOURS - 3)).toBe(64);
    for (let h = BUCKET_HOURS - 2; h < BUCKET_HOURS + 3; h++) expect(availableAt(after, h)).toBe(56);
    expect(availableAt(after, BUCKET_HOURS + 3)).toBe(64);
    const freed = load(64, shiftHours(after, BUCKET_HOURS - 2, BUCKET_HOURS + 3, -8));
    expect(minAvailable(freed, 0, 2 * BUCKET_HOURS)).toBe(64);
  });

  it('refuses to free more than was booked', () => {
    expect(() => shiftHours(load(64), 0, 3, -8)).toThrow(/negative/);
  });

  it('on-demand and maintenance take capacity from every hour', () => {
    const maint = shiftHours(load(64), 10, 20, 16, 'maint');
    const l = load(64, maint, 8);
    expect(availableAt(l, 5)).toBe(56);
    expect(availableAt(l, 15)).toBe(40);
    expect(minAvailable(l, 0, 30)).toBe(40);
  });

  it('property: after any sequence of bookings and releases, free = total - sum of live bookings, hour by hour', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ start: fc.nat(900), len: fc.integer({ min: 1, max: 400 }), gpus: fc.integer({ min: 1, max: 8 }).map((n) => n * 8), release: fc.boolean() }), { maxLength: 25 }),
        (ops) => {
          let l = load(512);
          const live: { start: number; end: number; gpus: number }[] = [];
          for (const op of ops) {
            const end = op.start + op.len;
            if (minAvailable(l, op.start, end) < op.gpus) continue;
            l = apply(l, shiftHours(l, op.start, end, op.gpus));
            live.push({ start: op.start, end, gpus: op.gpus });
            if (op.release) {
              const r = live.shift()!;
              l = apply(l, shiftHours(l, r.start, r.end, -r.gpus));
            }
          }
          for (let h = 0; h < 1400; h += 13) {
            const booked = live.filter((r) => r.start <= h && h < r.end).reduce((s, r) => s + r.gpus, 0);
            expect(booked).toBeLessThanOrEqual(512);
            expect(availableAt(l, h)).toBe(512 - booked);
          }
        },
      ),
    );
  });
});
