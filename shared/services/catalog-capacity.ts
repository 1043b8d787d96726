/**
 * A pool's capacity as the operator changes it (catalog-admin.ts): the schedule step written into the
 * pool, the writes of a step (refused when it leaves fewer GPUs than are sold), and the check that a
 * site or pool closing or opening later leaves no booking unserved.
 */
import { BOOKING_HORIZON_HOURS, BUCKET_HOURS, MAX_CAPACITY_CHANGES, bucketOf, bucketsForRange, capacityAt, capacityConflicts, stepSpan, withStep, type CapacityStep, type PoolLoad } from '#domain/capacity.ts';
import type { CapacityChange, Pool } from '#domain/catalog.ts';
import { DomainError } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import { HOUR_MS, epochHour } from '#domain/time.ts';
import { bucketChecks, capacityScheduleWrite, readPoolLoad } from '#store/capacity.ts';
import type { Db } from '#store/db.ts';
import { StaleReadError } from '#store/retry.ts';
import type { TransactItem } from '#store/transact.ts';

/** Hours (UTC epoch) in [from, to) where reserved bookings hold GPUs of the pool; at most `limit`. */
function bookedHours(load: PoolLoad, from: number, to: number, limit: number): number[] {
  const out: number[] = [];
  for (let h = from; h < to && out.length < limit; h++) {
    const b = load.buckets.get(bucketOf(h));
    if ((b?.used[h - bucketOf(h) * BUCKET_HOURS] ?? 0) > 0) out.push(h);
  }
  return out;
}

export const iso = (hour: number) => new Date(hour * HOUR_MS).toISOString();

/** How many conflicting hours a refused reduction lists. */
const CONFLICTS_LISTED = 10;

/** A capacity change as the API shows it. */
export interface CapacityChangeView extends CapacityChange {
  poolId: string;
}

/** A date no capacity change may reach (the catalog's dates lie before 2100). */
export const LATEST_CHANGE_MS = Date.parse('2100-01-01T00:00:00Z');

/** The pool with `step` in its schedule (catalog copy): a change at the same hour is replaced. */
export function withChange(pool: Pool, step: CapacityStep, principal: Principal, now: Date): Pool {
  const kept = (pool.capacityChanges ?? []).filter((c) => epochHour(new Date(c.effectiveFrom)) !== step.fromHour);
  const added: CapacityChange = { effectiveFrom: iso(step.fromHour), totalGpus: step.totalGpus, createdAt: now.toISOString(), actor: principal.keyId };
  return { ...pool, capacityChanges: [...kept, added].sort((a, b) => Date.parse(a.effectiveFrom) - Date.parse(b.effectiveFrom)) };
}

export const field = (path: string, message: string) => new DomainError('unprocessable', `${path}: ${message}`, { errors: [{ path, message }] });

/** Refuses a change that would leave reserved bookings in hours [from, to) of these pools unservable. */
export async function assertNoBookings(db: Db, now: Date, pools: Pool[], from: number, toHour: number, field: string, why: string): Promise<void> {
  // No booking reaches past the booking horizon, so neither does the check.
  const to = Math.min(toHour, epochHour(now) + 1 + BOOKING_HORIZON_HOURS);
  if (to <= from) return;
  for (const pool of pools) {
    const load = await readPoolLoad(db, pool.id, pool.totalGpus, from, to);
    const hours = bookedHours(load, from, to, 5);
    const onDemand = load.onDemand > 0;
    if (hours.length > 0 || onDemand) {
      const detail = onDemand ? `${load.onDemand} on-demand GPUs are running in pool ${pool.id}` : `pool ${pool.id} is booked in hours ${hours.map(iso).join(', ')}`;
      throw new DomainError('bookings_exist', `${field}: ${why}; ${detail}`, { errors: [{ path: field, message: `${why}: ${detail}` }] });
    }
  }
}

/**
 * The writes of a capacity step: the pool's capacity item (its schedule, authoritative for every
 * booking decision) at the next version and, for a reduction, a check of every capacity bucket of
 * the hours it governs, after refusing it if any of those hours is sold beyond the new capacity.
 * Bookings write or check the capacity item's version in their own transaction, so a booking and a
 * reduction racing cannot both commit on a stale view (docs/decisions.md, "Capacity schedule").
 */
export async function capacityItems(db: Db, pool: Pool, step: CapacityStep, now: Date): Promise<TransactItem[]> {
  const nowHour = epochHour(now);
  // No reserved booking reaches past this hour; beyond it only running on-demand GPUs can conflict.
  const horizonHour = nowHour + BOOKING_HORIZON_HOURS + 1;
  const head = await readPoolLoad(db, pool.id, pool.totalGpus, 0, 0);
  const steps = withStep(head.steps, step);
  if (steps.length > MAX_CAPACITY_CHANGES) throw field('effectiveFrom', `a pool keeps at most ${MAX_CAPACITY_CHANGES} scheduled changes`);
  if (step.totalGpus >= capacityAt(head, step.fromHour)) return [capacityScheduleWrite(db, head, steps)];
  const span = stepSpan(head.steps, step.fromHour);
  const from = Math.max(step.fromHour, nowHour);
  const scanTo = Math.max(from, Math.min(span.toHour ?? horizonHour, horizonHour));
  const load = await readPoolLoad(db, pool.id, pool.totalGpus, from, scanTo);
  if (load.onDemandVersion !== head.onDemandVersion) throw new StaleReadError(`${pool.id}: capacity item changed while reading; re-reading`);
  const conflicts = capacityConflicts(load, from, span.toHour, step.totalGpus, horizonHour, CONFLICTS_LISTED);
  if (conflicts.length > 0) {
    const first = conflicts[0]!;
    const message = `${step.totalGpus} GPUs from ${iso(step.fromHour)} is fewer than already sold: ${first.occupied} GPUs in hour ${iso(first.hour)}${conflicts.length > 1 ? ` and ${conflicts.length - 1} more hour(s) listed` : ''}`;
    throw new DomainError('capacity_conflict', `totalGpus: ${message}; move or cancel those bookings first, or retire the GPUs later`, {
      errors: [{ path: 'totalGpus', message }],
      extensions: { conflicts: conflicts.map((c) => ({ start: iso(c.hour), end: iso(c.hour + 1), sold: c.occupied, totalGpus: c.capacity })) },
    });
  }
  return [capacityScheduleWrite(db, load, steps), ...bucketChecks(db, load, bucketsForRange(from, scanTo))];
}
