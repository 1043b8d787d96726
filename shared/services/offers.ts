/**
 * Finding capacity (`GET /v1/offers`, docs/offers.md): checks the request, reads each candidate
 * pool's load once for the whole range (its capacity buckets, one batch per pool: the cost grows
 * with the range, not with the reservations in it), and hands the loads to the pure search in
 * shared/domain/offers.ts. Offers are priced by `priceWindow`, with the same measured demand the
 * quote path uses, so quoting an offer gives its total while nothing changed in between.
 */
import { BOOKING_HORIZON_HOURS, MAX_LEAD_MS, MAX_RESERVED_HOURS } from '#domain/capacity.ts';
import { bookableFromOf, poolLabel, siteClosed, type Pool } from '#domain/catalog.ts';
import { DomainError } from '#domain/errors.ts';
import type { Money } from '#domain/money.ts';
import {
  earliestFitBeyond,
  findOffers,
  mostGpusFree,
  poolTakes,
  searchStartOf,
  type OfferSearch,
  type OfferSort,
  type PoolInput,
} from '#domain/offers.ts';
import { HOUR_MS, epochHour, fromEpochHour } from '#domain/time.ts';
import type { CatalogCache } from '#store/catalog.ts';
import { readPoolLoad } from '#store/capacity.ts';
import { isSellable, listedProfile } from '#domain/resale.ts';
import { openListingsOfPool } from '#store/listings.ts';
import type { Db } from '#store/db.ts';
import { withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import type { Clock } from '../ids.ts';

export const MAX_OFFERS = 50;
export const DEFAULT_OFFERS = 10;

export interface OfferQuery {
  gpuType: string;
  gpus: number;
  durationHours?: number | undefined;
  minDurationHours?: number | undefined;
  maxDurationHours?: number | undefined;
  earliestStart?: Date | undefined;
  latestEnd?: Date | undefined;
  sites?: string[] | undefined;
  maxPricePerGpuHour?: number | undefined;
  sort?: OfferSort | undefined;
  limit?: number | undefined;
}

export interface OfferView {
  site: string;
  gpuType: string;
  poolId: string;
  gpus: number;
  start: string;
  end: string;
  durationHours: number;
  total: Money;
  pricePerGpuHour: Money;
  lines: { description: string; amount: Money }[];
}

export interface NearestView {
  mostGpus: { site: string; poolId: string; gpus: number; start: string; end: string } | null;
  earliestFit: { site: string; poolId: string; start: string; end: string } | null;
}

export interface OfferResult {
  /** The range searched, after defaults and rounding to whole hours. */
  earliestStart: string;
  latestEnd: string;
  data: OfferView[];
  nearest: NearestView | null;
}

export interface OfferDeps {
  db: Db;
  clock: Clock;
  catalog: CatalogCache;
  retry?: RetryPolicy | undefined;
  /** The pool's measured demand, exactly as the booking service's quotes use it. */
  measuredUtilizationBps?: ((pool: Pool, now: Date) => Promise<number>) | undefined;
}

const invalid = (path: string, message: string) => new DomainError('validation_failed', `${path}: ${message}`, { errors: [{ path, message }] });
const semantic = (path: string, message: string) => new DomainError('unprocessable', `${path}: ${message}`, { errors: [{ path, message }] });

/** The hours asked: `durationHours`, or `minDurationHours` + `maxDurationHours`, each 1 h to 365 days. */
function durationsOf(q: OfferQuery): { minHours: number; maxHours: number } {
  const hoursOk = (path: string, h: number) => {
    if (!Number.isSafeInteger(h) || h < 1 || h > MAX_RESERVED_HOURS) throw invalid(path, `must be a whole number of hours from 1 to ${MAX_RESERVED_HOURS} (365 days)`);
  };
  const ranged = q.minDurationHours !== undefined || q.maxDurationHours !== undefined;
  if (q.durationHours !== undefined) {
    if (ranged) throw invalid('durationHours', 'give either durationHours or minDurationHours and maxDurationHours, not both');
    hoursOk('durationHours', q.durationHours);
    return { minHours: q.durationHours, maxHours: q.durationHours };
  }
  if (!ranged) throw invalid('durationHours', 'required (or minDurationHours and maxDurationHours)');
  if (q.minDurationHours === undefined) throw invalid('minDurationHours', 'required with maxDurationHours');
  if (q.maxDurationHours === undefined) throw invalid('maxDurationHours', 'required with minDurationHours');
  hoursOk('minDurationHours', q.minDurationHours);
  hoursOk('maxDurationHours', q.maxDurationHours);
  if (q.maxDurationHours < q.minDurationHours) throw invalid('maxDurationHours', 'must be at least minDurationHours');
  return { minHours: q.minDurationHours, maxHours: q.maxDurationHours };
}

const iso = (hour: number) => fromEpochHour(hour).toISOString();

export function createOfferService(deps: OfferDeps) {
  const { db, clock, catalog } = deps;

  /** Checks the request against the catalog and the clock; every rule broken is named by its field. */
  async function plan(q: OfferQuery) {
    const now = clock();
    const c = await catalog.get();
    if (!c.gpuTypes.some((g) => g.id === q.gpuType)) throw semantic('gpuType', `unknown GPU type "${q.gpuType}"`);
    const sites = q.sites && q.sites.length > 0 ? [...new Set(q.sites)] : undefined;
    for (const s of sites ?? []) if (!c.sites.some((x) => x.id === s)) throw semantic('site', `unknown site "${s}"`);
    const ofType = c.pools.filter((p) => p.gpuType === q.gpuType && (!sites || sites.includes(p.site)));
    if (ofType.length === 0) throw semantic('site', `no ${q.gpuType} pool at ${sites?.join(', ') ?? 'any site'}`);
    if (!Number.isSafeInteger(q.gpus) || q.gpus < 1) throw invalid('gpus', 'must be a positive whole number');
    const pools = ofType.filter((p) => poolTakes(p, q.gpus));
    if (pools.length === 0) {
      const rules = [...new Set(ofType.map((p) => `${p.id}: a multiple of ${p.stepGpus} from ${p.minGpus} to ${p.totalGpus}`))].join('; ');
      throw semantic('gpus', `${q.gpus} GPUs is not a whole-node booking in any ${q.gpuType} pool (${rules})`);
    }
    const { minHours, maxHours } = durationsOf(q);
    if (q.maxPricePerGpuHour !== undefined && (!Number.isSafeInteger(q.maxPricePerGpuHour) || q.maxPricePerGpuHour < 0)) {
      throw invalid('maxPricePerGpuHour', 'must be integer cents (e.g. 250 for €2.50 per GPU-hour)');
    }
    const limit = q.limit ?? DEFAULT_OFFERS;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_OFFERS) throw invalid('limit', `must be a whole number from 1 to ${MAX_OFFERS}`);

    const nextHour = epochHour(now) + 1;
    const horizonHour = epochHour(now) + BOOKING_HORIZON_HOURS;
    const lastStartHour = Math.floor((now.getTime() + MAX_LEAD_MS) / HOUR_MS);
    // earliestStart rounds up and latestEnd down to whole hours; an earliestStart already past means now.
    const fromHour = q.earliestStart ? Math.max(nextHour, Math.ceil(q.earliestStart.getTime() / HOUR_MS)) : nextHour;
    const toHour = q.latestEnd ? Math.floor(q.latestEnd.getTime() / HOUR_MS) : horizonHour;
    if (fromHour > lastStartHour) throw semantic('earliestStart', `bookings start at most 12 months ahead (by ${iso(lastStartHour)})`);
    if (toHour > horizonHour) throw semantic('latestEnd', `the range ends at the latest at the booking horizon, ${iso(horizonHour)}`);
    if (toHour <= fromHour) throw semantic('latestEnd', `must be after earliestStart (${iso(fromHour)})`);
    if (toHour - fromHour < minHours) {
      throw semantic('latestEnd', `the range ${iso(fromHour)} → ${iso(toHour)} is ${toHour - fromHour} h, shorter than the ${minHours} h asked`);
    }
    const search: OfferSearch = {
      gpus: q.gpus,
      minHours,
      maxHours,
      fromHour,
      // Nothing can end later than the last start plus the longest window.
      toHour: Math.min(toHour, lastStartHour + maxHours),
      lastStartHour,
      now,
      sort: q.sort ?? 'price',
      limit,
      maxPricePerGpuHour: q.maxPricePerGpuHour ?? null,
    };
    // A site under maintenance offers nothing; a pool offers from its site's opening at the earliest.
    const open = pools
      .map((p) => ({ pool: p, site: c.sites.find((s) => s.id === p.site) }))
      .filter(({ site }) => !site || !siteClosed(site))
      .map(({ pool, site }) => ({ ...pool, bookableFrom: bookableFromOf(pool, site).toISOString() }));
    return { now, catalog: c, pools: open, search, requestedToHour: toHour, horizonHour };
  }

  /** One read per pool of its load over [from, to), and its measured demand, as quotes read them. */
  async function inputsFor(pools: Pool[], from: number, to: number, now: Date, c: Awaited<ReturnType<CatalogCache['get']>>, demand?: Map<string, number>) {
    return Promise.all(
      pools.map(async (pool): Promise<PoolInput> => {
        const start = Math.min(searchStartOf(pool, from), to);
        const [own, measured, listings] = await Promise.all([
          withOptimisticRetry(() => readPoolLoad(db, pool.id, pool.totalGpus, start, to), deps.retry),
          demand?.has(pool.id) ? demand.get(pool.id)! : deps.measuredUtilizationBps ? deps.measuredUtilizationBps(pool, now) : 0,
          withOptimisticRetry(() => openListingsOfPool(db, pool.id, start, to), deps.retry),
        ]);
        // Listed GPU-hours (resale) are offered as free, as quotes count them.
        const load = { ...own, listed: listedProfile(listings.filter((l) => isSellable(l, now)), start, to, now) };
        return { pool, label: poolLabel(pool, c), load, measuredUtilizationBps: measured };
      }),
    );
  }

  return {
    async search(q: OfferQuery): Promise<OfferResult> {
      const { now, catalog: c, pools, search, requestedToHour } = await plan(q);
      const inputs = await inputsFor(pools, search.fromHour, search.toHour, now, c);
      const offers = findOffers(inputs, search);
      const data: OfferView[] = offers.map((o) => ({
        site: o.pool.site,
        gpuType: o.pool.gpuType,
        poolId: o.pool.id,
        gpus: o.gpus,
        start: iso(o.startHour),
        end: iso(o.endHour),
        durationHours: o.endHour - o.startHour,
        total: o.price.total,
        pricePerGpuHour: o.price.unitPrice,
        lines: o.price.lines.map((l) => ({ description: l.description, amount: l.amount })),
      }));
      let nearest: NearestView | null = null;
      if (data.length === 0) {
        const most = mostGpusFree(inputs, search, search.minHours);
        // Beyond the range: read on to the last window that may start, once per pool.
        const beyondFrom = Math.max(search.fromHour, requestedToHour - search.minHours + 1);
        const beyondTo = search.lastStartHour + search.minHours;
        const demand = new Map(inputs.map((i) => [i.pool.id, i.measuredUtilizationBps]));
        const beyond = beyondFrom + search.minHours <= beyondTo ? await inputsFor(pools, beyondFrom, beyondTo, now, c, demand) : [];
        const fit = earliestFitBeyond(beyond, { gpus: search.gpus, fromHour: beyondFrom, toHour: requestedToHour, lastStartHour: search.lastStartHour }, search.minHours);
        nearest = {
          mostGpus: most ? { site: most.pool.site, poolId: most.pool.id, gpus: most.gpus, start: iso(most.startHour), end: iso(most.endHour) } : null,
          earliestFit: fit ? { site: fit.pool.site, poolId: fit.pool.id, start: iso(fit.startHour), end: iso(fit.endHour) } : null,
        };
      }
      return { earliestStart: iso(search.fromHour), latestEnd: iso(requestedToHour), data, nearest };
    },
  };
}

export type OfferService = ReturnType<typeof createOfferService>;
