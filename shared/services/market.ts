/**
 * Market data (GET /v1/market/prices): per bucket of one pool, the list price, the quoted and the
 * booked prices per GPU-hour (min, p50, p95, max, count), booked GPU-hours, utilization and resale
 * volume. Prices and volumes come from the rollups written with each quote and each confirmation
 * (shared/store/market.ts, one Query for the range); utilization from the pool's capacity buckets
 * over the same hours (one BatchGetItem). No org identity is stored or shown.
 */
import { utilizationBps } from '#domain/capacity.ts';
import { DomainError } from '#domain/errors.ts';
import { priceStats } from '#domain/market.ts';
import { DAY_MS, HOUR_MS, epochHour } from '#domain/time.ts';
import type { CatalogCache } from '#store/catalog.ts';
import { readPoolLoad } from '#store/capacity.ts';
import type { Db } from '#store/db.ts';
import { marketBucket, readMarket, type MarketGranularity } from '#store/market.ts';

export const MAX_MARKET_BUCKETS = { hour: 31 * 24, day: 366 } as const;

export interface MarketQuery {
  site: string;
  gpuType: string;
  from: Date;
  to: Date;
  granularity: MarketGranularity;
}

const field = (path: string, message: string) => new DomainError('validation_failed', `${path}: ${message}`, { errors: [{ path, message }] });

export function createMarketService(deps: { db: Db; catalog: CatalogCache }) {
  return {
    async prices(q: MarketQuery) {
      const c = await deps.catalog.get();
      if (!c.sites.some((s) => s.id === q.site)) throw field('site', `unknown site "${q.site}"`);
      if (!c.gpuTypes.some((g) => g.id === q.gpuType)) throw field('gpuType', `unknown GPU type "${q.gpuType}"`);
      const pool = c.pools.find((p) => p.site === q.site && p.gpuType === q.gpuType);
      if (!pool) throw field('gpuType', `site "${q.site}" has no ${q.gpuType} pool`);
      const slotMs = q.granularity === 'day' ? DAY_MS : HOUR_MS;
      const from = new Date(Math.floor(q.from.getTime() / slotMs) * slotMs);
      const to = new Date(Math.ceil(q.to.getTime() / slotMs) * slotMs);
      if (to <= from) throw field('to', 'must be after from');
      const buckets = (to.getTime() - from.getTime()) / slotMs;
      if (buckets > MAX_MARKET_BUCKETS[q.granularity]) {
        throw field('to', `at most ${MAX_MARKET_BUCKETS[q.granularity]} ${q.granularity === 'day' ? 'days' : 'hours'} per request`);
      }
      const [rows, load] = await Promise.all([
        readMarket(deps.db, pool.id, from, to, q.granularity),
        readPoolLoad(deps.db, pool.id, pool.totalGpus, epochHour(from), epochHour(to)),
      ]);
      const byBucket = new Map(rows.map((r) => [r.bucket, r]));
      const data = [];
      for (let t = from.getTime(); t < to.getTime(); t += slotMs) {
        const at = new Date(t);
        const row = byBucket.get(marketBucket(at, q.granularity));
        const sH = epochHour(at);
        data.push({
          start: at.toISOString(),
          end: new Date(t + slotMs).toISOString(),
          listPricePerGpuHour: pool.priceBook.reservedRatePerGpuHour,
          quotedPerGpuHour: priceStats(row?.quoted ?? new Map()),
          bookedPerGpuHour: priceStats(row?.booked ?? new Map()),
          bookedGpuHours: row?.bookedGpuHours ?? 0,
          utilizationBps: utilizationBps(load, sH, sH + slotMs / HOUR_MS),
          resoldGpuHours: row?.resoldGpuHours ?? 0,
        });
      }
      return { site: pool.site, gpuType: pool.gpuType, poolId: pool.id, granularity: q.granularity, data };
    },
  };
}
export type MarketService = ReturnType<typeof createMarketService>;
