/**
 * A pool's measured demand (metered GPU usage of the last 7 whole hours × 24, in bps of capacity),
 * the input pricing takes beside the window's booked fraction. Quotes and offers read it through this
 * one function, so an offer and the quote for the same window use the same figure.
 *
 * Reading it is 8 sharded queries per pool (shared/store/usage.ts); a 7-day average moves slowly, so
 * each process keeps a pool's figure for up to `ttlMs` within the same hour (the window moves each
 * hour). A late usage event therefore reaches prices within `ttlMs` (default 60 s).
 */
import { capacityNow, type Pool } from '#domain/catalog.ts';
import { epochHour } from '#domain/time.ts';
import type { Db } from '#store/db.ts';
import { poolUtilizationBps } from '#store/usage.ts';

export const MEASURED_DEMAND_HOURS = 7 * 24;

export type MeasuredDemand = (pool: Pool, now: Date) => Promise<number>;

export function createMeasuredDemand(db: Db, options: { ttlMs?: number } = {}): MeasuredDemand {
  const ttlMs = options.ttlMs ?? 60_000;
  const kept = new Map<string, { hour: number; at: number; value: Promise<number> }>();
  return (pool, now) => {
    const hour = epochHour(now);
    const capacity = capacityNow(pool, now);
    const key = `${pool.id}/${capacity}`;
    const entry = kept.get(key);
    if (entry && entry.hour === hour && now.getTime() - entry.at >= 0 && now.getTime() - entry.at < ttlMs) return entry.value;
    const value = poolUtilizationBps(db, pool.id, capacity, hour - MEASURED_DEMAND_HOURS, hour);
    kept.set(key, { hour, at: now.getTime(), value });
    value.catch(() => kept.delete(key));
    return value;
  };
}
