/**
 * Capacity per pool-hour, pure. Hours are UTC epoch hours. Capacity lives in fixed 14-day buckets
 * (see docs/table-design.md): each bucket holds, per hour, the GPUs of reserved bookings (`used`)
 * and of maintenance (`maint`). Running on-demand reservations occupy every future hour and are one
 * number per pool (`onDemand`).
 */
import { DomainError } from './errors.ts';
import { DAY_MS, HOUR_MS } from './time.ts';

export const BUCKET_HOURS = 336;
export const MAX_RESERVED_HOURS = 365 * 24;
/** Reserved bookings start at most 12 months ahead (366 days covers leap years) and last at most 365 days. */
export const MAX_LEAD_MS = 366 * DAY_MS;
/** Every hour in which a reserved booking can exist; an on-demand start must fit in all of them. */
export const BOOKING_HORIZON_HOURS = Math.ceil((MAX_LEAD_MS + MAX_RESERVED_HOURS * HOUR_MS) / HOUR_MS) + 1;

export interface Bucket {
  bucket: number;
  used: number[];
  maint: number[];
  /** 0 when the bucket item does not exist yet. */
  version: number;
}

export const bucketOf = (hour: number): number => Math.floor(hour / BUCKET_HOURS);

export function bucketsForRange(startHour: number, endHour: number): number[] {
  const out: number[] = [];
  if (endHour <= startHour) return out;
  for (let b = bucketOf(startHour); b <= bucketOf(endHour - 1); b++) out.push(b);
  return out;
}

export const emptyBucket = (bucket: number): Bucket => ({
  bucket,
  used: new Array<number>(BUCKET_HOURS).fill(0),
  maint: new Array<number>(BUCKET_HOURS).fill(0),
  version: 0,
});

export interface PoolLoad {
  totalGpus: number;
  onDemand: number;
  buckets: ReadonlyMap<number, Bucket>;
}

/** GPUs taken in one hour by reserved bookings and by maintenance (0 where no bucket exists yet). */
function takenAt(load: PoolLoad, hour: number): { used: number; maint: number } {
  const bucket = bucketOf(hour);
  const b = load.buckets.get(bucket);
  const i = hour - bucket * BUCKET_HOURS;
  return { used: b?.used[i] ?? 0, maint: b?.maint[i] ?? 0 };
}

/** Free GPUs in one hour: capacity minus maintenance, reserved bookings and running on-demand. */
export function availableAt(load: PoolLoad, hour: number): number {
  const { used, maint } = takenAt(load, hour);
  return Math.max(0, load.totalGpus - used - maint - load.onDemand);
}

export function minAvailable(load: PoolLoad, startHour: number, endHour: number): number {
  let min = Number.POSITIVE_INFINITY;
  for (let h = startHour; h < endHour; h++) min = Math.min(min, availableAt(load, h));
  return min === Number.POSITIVE_INFINITY ? load.totalGpus : min;
}

/**
 * The capacity rule, the one place that decides whether `gpus` more fit: in every hour of
 * [startHour, endHour), capacity minus maintenance, reserved bookings and running on-demand must
 * leave at least `gpus` free. Refuses with `capacity_unavailable` (409); `where` names the hours
 * for the message (e.g. "every hour of that window in valence-rovaltain-h100").
 */
export function assertFree(load: PoolLoad, startHour: number, endHour: number, gpus: number, where: string): void {
  const free = minAvailable(load, startHour, endHour);
  if (free < gpus) throw new DomainError('capacity_unavailable', `Only ${free} GPUs are free in ${where}; ${gpus} asked`);
}

/** Peak GPUs booked (reserved + maintenance) in the range, ignoring on-demand. */
export function peakReserved(load: PoolLoad, startHour: number, endHour: number): number {
  let peak = 0;
  for (let h = startHour; h < endHour; h++) {
    const { used, maint } = takenAt(load, h);
    peak = Math.max(peak, used + maint);
  }
  return peak;
}

/** Average booked fraction of the pool over the range, in basis points (feeds the utilization factor). */
export function utilizationBps(load: PoolLoad, startHour: number, endHour: number): number {
  if (load.totalGpus <= 0 || endHour <= startHour) return 0;
  let booked = 0;
  for (let h = startHour; h < endHour; h++) booked += load.totalGpus - availableAt(load, h);
  return Math.round((booked * 10_000) / (load.totalGpus * (endHour - startHour)));
}

/**
 * Adds `delta` GPUs (negative frees them) to `field` in every hour of [startHour, endHour).
 * Returns the changed buckets as new objects; the input is not modified.
 */
export function shiftHours(
  load: PoolLoad,
  startHour: number,
  endHour: number,
  delta: number,
  field: 'used' | 'maint' = 'used',
): Bucket[] {
  const changed: Bucket[] = [];
  for (const b of bucketsForRange(startHour, endHour)) {
    const current = load.buckets.get(b) ?? emptyBucket(b);
    const next: Bucket = { ...current, used: [...current.used], maint: [...current.maint] };
    const from = Math.max(startHour, b * BUCKET_HOURS);
    const to = Math.min(endHour, (b + 1) * BUCKET_HOURS);
    for (let h = from; h < to; h++) {
      const i = h - b * BUCKET_HOURS;
      const value = (next[field][i] ?? 0) + delta;
      if (value < 0) throw new Error(`capacity accounting would go negative in hour ${h} (bucket ${b})`);
      next[field][i] = value;
    }
    changed.push(next);
  }
  return changed;
}
