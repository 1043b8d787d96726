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

/**
 * The pool has `totalGpus` GPUs from hour `fromHour` (UTC epoch hour) until the next step: GPUs being
 * installed or retired from a date. Before its first step a pool has the `totalGpus` it was created with.
 */
export interface CapacityStep {
  fromHour: number;
  totalGpus: number;
}

/** Most scheduled changes a pool keeps (past ones included): the schedule lives in one item. */
export const MAX_CAPACITY_CHANGES = 200;

/** A pool's capacity over time: the GPUs it was created with, then its steps sorted by `fromHour`. */
export interface CapacitySchedule {
  totalGpus: number;
  steps?: readonly CapacityStep[] | undefined;
}

export interface PoolLoad extends CapacitySchedule {
  onDemand: number;
  buckets: ReadonlyMap<number, Bucket>;
  /**
   * GPUs for resale per hour (open listings, shared/domain/resale.ts): free for what availability,
   * offers and quote pricing show. Only those reads attach it; the commit paths never do, so an
   * on-demand start or an extension cannot count listed GPUs it does not take.
   */
  listed?: ReadonlyMap<number, number> | undefined;
}

/** The capacity in force in one hour: the last step that started at or before it, else the pool's first capacity. */
export function capacityAt(schedule: CapacitySchedule, hour: number): number {
  let total = schedule.totalGpus;
  for (const s of schedule.steps ?? []) {
    if (s.fromHour > hour) break;
    total = s.totalGpus;
  }
  return total;
}

/** The most GPUs the pool has in any hour from `fromHour` on (what a booking can ever ask). */
export function peakCapacityFrom(schedule: CapacitySchedule, fromHour: number): number {
  let peak = capacityAt(schedule, fromHour);
  for (const s of schedule.steps ?? []) if (s.fromHour > fromHour) peak = Math.max(peak, s.totalGpus);
  return peak;
}

/** The fewest GPUs the pool has in any hour from `fromHour` on (forever: the last step lasts). */
export function leastCapacityFrom(schedule: CapacitySchedule, fromHour: number): number {
  let least = capacityAt(schedule, fromHour);
  for (const s of schedule.steps ?? []) if (s.fromHour > fromHour) least = Math.min(least, s.totalGpus);
  return least;
}

/** The schedule with `step` added (a step at the same hour is replaced), sorted by hour. */
export function withStep(steps: readonly CapacityStep[] | undefined, step: CapacityStep): CapacityStep[] {
  return [...(steps ?? []).filter((s) => s.fromHour !== step.fromHour), { fromHour: step.fromHour, totalGpus: step.totalGpus }].sort((a, b) => a.fromHour - b.fromHour);
}

/** The hours a new step at `fromHour` governs: up to the next step of the schedule (null: for ever). */
export function stepSpan(steps: readonly CapacityStep[] | undefined, fromHour: number): { fromHour: number; toHour: number | null } {
  const next = (steps ?? []).find((s) => s.fromHour > fromHour);
  return { fromHour, toHour: next ? next.fromHour : null };
}

/** An hour in which what is sold (reserved bookings, maintenance, running on-demand) would exceed a new capacity. */
export interface CapacityConflict {
  hour: number;
  occupied: number;
  capacity: number;
}

/**
 * The first `limit` hours in [fromHour, toHour) whose occupied GPUs (reserved + maintenance + running
 * on-demand, read in `load`) exceed `totalGpus`. `toHour` null means for ever: no reserved booking
 * reaches past `horizonHour`, so from there only running on-demand GPUs can conflict.
 */
export function capacityConflicts(load: PoolLoad, fromHour: number, toHour: number | null, totalGpus: number, horizonHour: number, limit: number): CapacityConflict[] {
  const out: CapacityConflict[] = [];
  const scanTo = Math.min(toHour ?? horizonHour, horizonHour);
  for (let h = fromHour; h < scanTo && out.length < limit; h++) {
    const { used, maint } = takenAt(load, h);
    const occupied = used + maint + load.onDemand;
    if (occupied > totalGpus) out.push({ hour: h, occupied, capacity: totalGpus });
  }
  const beyond = Math.max(fromHour, horizonHour);
  if (out.length === 0 && (toHour === null || toHour > beyond) && load.onDemand > totalGpus) out.push({ hour: beyond, occupied: load.onDemand, capacity: totalGpus });
  return out;
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
  return Math.max(0, capacityAt(load, hour) - used - maint - load.onDemand) + (load.listed?.get(hour) ?? 0);
}

export function minAvailable(load: PoolLoad, startHour: number, endHour: number): number {
  let min = Number.POSITIVE_INFINITY;
  for (let h = startHour; h < endHour; h++) min = Math.min(min, availableAt(load, h));
  return min === Number.POSITIVE_INFINITY ? load.totalGpus : min;
}

/**
 * The capacity rule, the one place that decides whether `gpus` more fit: in every hour of
 * [startHour, endHour), capacity in force in that hour (the pool's schedule) minus maintenance,
 * reserved bookings and running on-demand must leave at least `gpus` free. Refuses with
 * `capacity_unavailable` (409); `where` names the hours for the message (e.g. "every hour of that
 * window in valence-rovaltain-h100").
 */
export function assertFree(load: PoolLoad, startHour: number, endHour: number, gpus: number, where: string): void {
  const free = minAvailable(load, startHour, endHour);
  if (free < gpus) throw new DomainError('capacity_unavailable', `Only ${free} GPUs are free in ${where}; ${gpus} asked`);
}

/**
 * An on-demand start runs until stopped: `gpus` must be free in every hour of the booking horizon
 * from `fromHour` (where reserved bookings can be), and beyond it under every later capacity step
 * (GPUs retired after the horizon must not strand a running reservation).
 */
export function assertFreeFrom(load: PoolLoad, fromHour: number, horizonHours: number, gpus: number, where: string): void {
  assertFree(load, fromHour, fromHour + horizonHours, gpus, where);
  const later = leastCapacityFrom(load, fromHour + horizonHours) - load.onDemand;
  if (later < gpus) throw new DomainError('capacity_unavailable', `Only ${Math.max(0, later)} GPUs stay installed in ${where} (capacity schedule); ${gpus} asked`);
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
  if (endHour <= startHour) return 0;
  let booked = 0;
  let capacity = 0;
  for (let h = startHour; h < endHour; h++) {
    const c = capacityAt(load, h);
    capacity += c;
    booked += c - availableAt(load, h);
  }
  return capacity <= 0 ? 0 : Math.round((booked * 10_000) / capacity);
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
