import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BOOKING_HORIZON_HOURS,
  BUCKET_HOURS,
  MAX_RESERVED_HOURS,
  assertFree,
  assertFreeFrom,
  availableAt,
  bucketsForRange,
  capacityAt,
  capacityConflicts,
  leastCapacityFrom,
  peakCapacityFrom,
  stepSpan,
  utilizationBps,
  withStep,
  type CapacityStep,
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

describe('capacity schedule', () => {
  const scheduled = (totalGpus: number, steps: CapacityStep[], buckets: Bucket[] = [], onDemand = 0): PoolLoad => ({ ...load(totalGpus, buckets, onDemand), steps });

  it('the capacity in force in an hour is the last step at or before it, else the first capacity', () => {
    const s = { totalGpus: 64, steps: [{ fromHour: 100, totalGpus: 128 }, { fromHour: 200, totalGpus: 32 }] };
    expect(capacityAt(s, 99)).toBe(64);
    expect(capacityAt(s, 100)).toBe(128);
    expect(capacityAt(s, 199)).toBe(128);
    expect(capacityAt(s, 200)).toBe(32);
    expect(capacityAt(s, 1_000_000)).toBe(32);
    expect(peakCapacityFrom(s, 0)).toBe(128);
    expect(peakCapacityFrom(s, 200)).toBe(32);
    expect(leastCapacityFrom(s, 0)).toBe(32);
    expect(leastCapacityFrom(s, 150)).toBe(32);
    expect(leastCapacityFrom({ totalGpus: 64 }, 0)).toBe(64);
  });

  it('withStep inserts in hour order and replaces a step at the same hour; stepSpan runs to the next step', () => {
    const steps = withStep(withStep(undefined, { fromHour: 200, totalGpus: 32 }), { fromHour: 100, totalGpus: 128 });
    expect(steps).toEqual([{ fromHour: 100, totalGpus: 128 }, { fromHour: 200, totalGpus: 32 }]);
    expect(withStep(steps, { fromHour: 100, totalGpus: 256 })).toEqual([{ fromHour: 100, totalGpus: 256 }, { fromHour: 200, totalGpus: 32 }]);
    expect(stepSpan(steps, 150)).toEqual({ fromHour: 150, toHour: 200 });
    expect(stepSpan(steps, 100)).toEqual({ fromHour: 100, toHour: 200 });
    expect(stepSpan(steps, 300)).toEqual({ fromHour: 300, toHour: null });
  });

  it('availability and the capacity rule use the capacity in force in each hour', () => {
    const l = scheduled(0, [{ fromHour: 50, totalGpus: 64 }], shiftHours(load(0), 60, 70, 16));
    expect(availableAt(l, 49)).toBe(0);
    expect(availableAt(l, 50)).toBe(64);
    expect(availableAt(l, 65)).toBe(48);
    expect(minAvailable(l, 50, 80)).toBe(48);
    expect(() => assertFree(l, 49, 51, 8, 'w')).toThrow(/Only 0 GPUs/);
    expect(() => assertFree(l, 50, 80, 48, 'w')).not.toThrow();
    expect(() => assertFree(l, 50, 80, 56, 'w')).toThrow(/Only 48 GPUs/);
  });

  it('utilization divides booked GPU-hours by the capacity in force, hour by hour', () => {
    // 10 hours at 64 then 10 at 128, 16 booked throughout: 320 of 1920 GPU-hours.
    const l = scheduled(64, [{ fromHour: 10, totalGpus: 128 }], shiftHours(load(64), 0, 20, 16));
    expect(utilizationBps(l, 0, 20)).toBe(Math.round((320 * 10_000) / 1920));
    expect(utilizationBps(scheduled(0, []), 0, 5)).toBe(0);
  });

  it('a reduction conflicts in the hours sold beyond it, and beyond the horizon where running on-demand exceeds it', () => {
    const l = scheduled(64, [], shiftHours(load(64), 20, 25, 48), 8);
    // 48 reserved + 8 on-demand = 56 sold in hours 20-24; 56 still fits, 48 does not.
    expect(capacityConflicts(l, 0, null, 56, 1000, 10)).toEqual([]);
    expect(capacityConflicts(l, 0, null, 48, 1000, 10).map((c) => c.hour)).toEqual([20, 21, 22, 23, 24]);
    expect(capacityConflicts(l, 0, null, 48, 1000, 2)).toEqual([
      { hour: 20, occupied: 56, capacity: 48 },
      { hour: 21, occupied: 56, capacity: 48 },
    ]);
    expect(capacityConflicts(l, 0, 22, 48, 1000, 10).map((c) => c.hour)).toEqual([20, 21]);
    expect(capacityConflicts(l, 25, null, 8, 1000, 10)).toEqual([]);
    expect(capacityConflicts(l, 25, null, 0, 1000, 1)).toEqual([{ hour: 25, occupied: 8, capacity: 0 }]);
    // Past the horizon only on-demand counts: a retirement there conflicts with running on-demand only.
    expect(capacityConflicts(l, 2000, null, 0, 1000, 10)).toEqual([{ hour: 2000, occupied: 8, capacity: 0 }]);
    expect(capacityConflicts(scheduled(64, []), 2000, null, 0, 1000, 10)).toEqual([]);
  });

  it('an on-demand start fits only if its GPUs stay installed under every later step', () => {
    const l = scheduled(64, [{ fromHour: 5000, totalGpus: 8 }], [], 0);
    expect(() => assertFreeFrom(l, 0, 1000, 16, 'w')).toThrow(/Only 8 GPUs stay installed/);
    expect(() => assertFreeFrom(l, 0, 1000, 8, 'w')).not.toThrow();
  });
});
