import { availableAt, capacityAt, minAvailable } from '#domain/capacity.ts';
import { bookableFromOf, siteClosed } from '#domain/catalog.ts';
import { DomainError, invalidField } from '#domain/errors.ts';
import { DAY_MS, HOUR_MS, epochHour, fromEpochHour } from '#domain/time.ts';
import type { CatalogCache } from '#store/catalog.ts';
import { readPoolLoad } from '#store/capacity.ts';
import type { Db } from '#store/db.ts';
import { listedProfile } from '#domain/resale.ts';
import { openListingsOfPool } from '#store/listings.ts';
import type { Clock } from '../ids.ts';

export const MAX_AVAILABILITY_WINDOW_MS = 366 * DAY_MS;
/**
 * Most slots one API answer holds (~90 bytes of JSON each: under 1 MB, far from Lambda's 6 MB
 * response limit whatever the catalog grows to). A page holds whole pools only; a whole 366-day hourly
 * window of one pool (8 784 slots) fits one page.
 */
export const MAX_AVAILABILITY_SLOTS_PER_PAGE = 10_000;

export interface AvailabilityQuery {
  site?: string | undefined;
  gpuType?: string | undefined;
  start: Date;
  end: Date;
  granularity: 'hour' | 'day';
}

/** Free GPUs per pool and slot, for the API's availability route and the portal's sites page. */
export function createAvailabilityService(deps: { db: Db; catalog: CatalogCache; clock: Clock }) {
  /**
   * Reads the window's capacity buckets (≤ 28 items per pool for a year): the cost grows with the
   * window, not with the number of reservations in it.
   */
  async function query(q: AvailabilityQuery, page?: { after?: string | undefined; maxSlots?: number | undefined }) {
    const slotMs = q.granularity === 'day' ? DAY_MS : HOUR_MS;
    const start = new Date(Math.floor(q.start.getTime() / slotMs) * slotMs);
    const end = new Date(Math.ceil(q.end.getTime() / slotMs) * slotMs);
    if (end <= start) throw new DomainError('validation_failed', 'end: must be after start', { errors: [{ path: 'end', message: 'must be after start' }] });
    if (end.getTime() - start.getTime() > MAX_AVAILABILITY_WINDOW_MS) {
      throw new DomainError('validation_failed', 'end: the window is at most 365 days', { errors: [{ path: 'end', message: 'the window is at most 365 days' }] });
    }
    const catalog = await deps.catalog.get();
    const matching = catalog.pools
      .filter((p) => (!q.site || p.site === q.site) && (!q.gpuType || p.gpuType === q.gpuType))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const sH = epochHour(start);
    const eH = epochHour(end);
    const slotHours = slotMs / HOUR_MS;
    // Paged (the API): whole pools in id order, after the cursor's pool, while their slots fit the page.
    let pools = matching;
    let nextAfter: string | null = null;
    if (page) {
      const from = page.after === undefined ? 0 : matching.findIndex((p) => p.id === page.after) + 1;
      if (from === 0 && page.after !== undefined) throw invalidField('cursor', 'is not a cursor of this query');
      const perPool = (eH - sH) / slotHours;
      const fit = Math.max(1, Math.floor((page.maxSlots ?? MAX_AVAILABILITY_SLOTS_PER_PAGE) / perPool));
      pools = matching.slice(from, from + fit);
      nextAfter = from + fit < matching.length ? pools.at(-1)!.id : null;
    }
    const result = await Promise.all(
      pools.map(async (pool) => {
        const now = deps.clock();
        const [own, listings] = await Promise.all([readPoolLoad(deps.db, pool.id, pool.totalGpus, sH, eH), openListingsOfPool(deps.db, pool.id, sH, eH)]);
        // Listed GPU-hours (resale) are free to book: they show as available.
        const load = { ...own, listed: listedProfile(listings, sH, eH, now) };
        const site = catalog.sites.find((s) => s.id === pool.site);
        // Nothing is bookable while the site is under maintenance, nor before the pool and its site open.
        const closed = site ? siteClosed(site) !== null : false;
        const bookableFrom = bookableFromOf(pool, site);
        const openHour = Math.ceil(bookableFrom.getTime() / HOUR_MS);
        const bookableAt = (i: number) => (closed || i < openHour ? 0 : availableAt(load, i));
        const slots = [];
        let peak = 0;
        let least = Number.POSITIVE_INFINITY;
        for (let h = sH; h < eH; h += slotHours) {
          let available = Number.POSITIVE_INFINITY;
          let capacity = Number.POSITIVE_INFINITY;
          for (let i = h; i < h + slotHours; i++) {
            available = Math.min(available, bookableAt(i));
            capacity = Math.min(capacity, capacityAt(load, i));
          }
          slots.push({ start: fromEpochHour(h).toISOString(), end: fromEpochHour(h + slotHours).toISOString(), capacity, available });
          peak = Math.max(peak, capacity);
          least = Math.min(least, available);
        }
        return {
          poolId: pool.id,
          site: pool.site,
          gpuType: pool.gpuType,
          siteStatus: site?.status ?? 'active',
          bookableFrom: bookableFrom.toISOString(),
          capacity: peak,
          minAvailable: least === Number.POSITIVE_INFINITY ? minAvailable(load, sH, eH) : least,
          slots,
        };
      }),
    );
    return { start: start.toISOString(), end: end.toISOString(), granularity: q.granularity, pools: result, nextAfter };
  }
  return { query };
}
export type AvailabilityService = ReturnType<typeof createAvailabilityService>;
