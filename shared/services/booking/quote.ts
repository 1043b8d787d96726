/**
 * Quotes: a priced offer for a window, valid 15 minutes. Reads the window's capacity buckets (one
 * BatchGetItem) and the pool's measured utilization (cached per pool by the composition root,
 * services/utilization.ts).
 */
import { assertFree, availableAt } from '#domain/capacity.ts';
import { allocate, eligibleFor, isSellable, listedProfile, resaleOrder } from '#domain/resale.ts';
import { openListingsOfPool } from '#store/listings.ts';
import { perGpuHour, recordQuoted } from '#store/market.ts';
import { priceWindow } from '#domain/window-price.ts';
import type { Principal } from '#domain/principal.ts';
import { epochHour } from '#domain/time.ts';
import { readPoolLoad } from '#store/capacity.ts';
import { putQuote, type Quote } from '#store/quotes.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import type { BookingDeps } from './commit.ts';
import { QUOTE_TTL_MS, checkGpus, checkSiteOpen, checkWindow, orgOf, poolFor, siteOf } from './rules.ts';

export interface QuoteRequest {
  site: string;
  gpuType: string;
  gpus: number;
  start: string;
  end: string;
}

export function createQuotes(deps: BookingDeps) {
  const { db, clock, ids, catalog } = deps;
  const measured = deps.measuredUtilizationBps;

  return {
    async quote(principal: Principal, req: QuoteRequest): Promise<Quote> {
      const orgId = orgOf(principal);
      const { pool, label } = await poolFor(catalog, req.site, req.gpuType);
      checkGpus(pool, req.gpus);
      const now = clock();
      const start = new Date(req.start);
      const end = new Date(req.end);
      checkWindow(pool, start, end, now);
      checkSiteOpen(await siteOf(catalog, pool.site), start, now);
      const sH = epochHour(start);
      const eH = epochHour(end);
      const [load, measuredBps, listings] = await Promise.all([
        withOptimisticRetry(() => readPoolLoad(db, pool.id, pool.totalGpus, sH, eH), deps.retry),
        measured ? measured(pool, now) : Promise.resolve(0),
        withOptimisticRetry(() => openListingsOfPool(db, pool.id, sH, eH), deps.retry),
      ]);
      const sellable = listings.filter((l) => isSellable(l, now));
      const where = `every hour of that window in ${pool.id}`;
      // Priced as offers price it: listed GPUs count as free (availability and offers show them so).
      const priced = priceWindow({ pool, poolLabel: label, load: { ...load, listed: listedProfile(sellable, sH, eH, now) }, gpus: req.gpus, startHour: sH, endHour: eH, now, measuredUtilizationBps: measuredBps });
      // It fits with the operator's free GPUs and the listings this booking may take at that price (the hold decides again).
      const eligible = sellable.filter((l) => eligibleFor(l, orgId, priced.total, priced.gpuHours));
      if (eligible.length === 0) assertFree(load, sH, eH, req.gpus, where);
      else allocate({ startHour: sH, endHour: eH, gpus: req.gpus, order: resaleOrder(pool), now, where }, (h) => availableAt(load, h), eligible);
      const q: Quote = {
        id: ids.next('qt'),
        orgId,
        poolId: pool.id,
        site: pool.site,
        gpuType: pool.gpuType,
        gpus: req.gpus,
        start: start.toISOString(),
        end: end.toISOString(),
        lines: priced.lines,
        total: priced.total,
        gpuHours: priced.gpuHours,
        unitPrice: priced.unitPrice,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + QUOTE_TTL_MS).toISOString(),
      };
      // Market data (GET /v1/market/prices): the quoted price per GPU-hour, no org identity. Sent with
      // the quote's own write, so that the quotes of a rush, priced in the same turn, share its update.
      await Promise.all([
        withOptimisticRetry(() => putQuote(db, q), deps.retry),
        withOptimisticRetry(() => recordQuoted(db, pool.id, now, perGpuHour(q.total.amount, q.gpuHours)), deps.retry),
      ]);
      return q;
    },
  };
}
