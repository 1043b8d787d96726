/**
 * Commands that create a reservation (a hold of a quote, an on-demand start). Each is checked on its
 * own here (`prepare`: idempotent replay, quote, hooks), then decided and committed in its pool's
 * group (sequencer.ts).
 */
import { randomUUID } from 'node:crypto';
import { toApiReservation, type Reservation } from '#domain/reservation.ts';
import { epochHour } from '#domain/time.ts';
import type { Principal } from '#domain/principal.ts';
import { getQuote, quoteUse } from '#store/quotes.ts';
import { createRequestRecord, reservationCreate, reservationOfCreateRequest } from '#store/reservations.ts';
import { onDemandFirstHour } from '#domain/budget.ts';
import { peakCapacity, type Pool } from '#domain/catalog.ts';
import { DomainError } from '#domain/errors.ts';
import { DEFAULT_HOLD_LIMITS, holdViolation, mergeLimits } from '#domain/limits.ts';
import { holdLedgerOpen, readHoldLedger, readLimitOverrides, windowKey } from '#store/hold-limits.ts';
import type { TransactItem } from '#store/transact.ts';
import { hookEffects, spendOf, type BookingDeps, type SpendEffect } from './commit.ts';
import { HOLD_TTL_MS, checkGpus, checkQuoteHoldable, checkSiteOpen, createRequestHash, newReservation, orgOf, poolById, poolFor, semantic, siteOf } from './rules.ts';
import type { Prepared, Sequencer } from './sequencer.ts';

/** What a client's create request is remembered by: its Idempotency-Key and what it asked for. */
export interface CreateOptions {
  idempotencyKey?: string | undefined;
  /** When the request arrived (performance.now()); defaults to when the service got it. */
  receivedAt?: number | undefined;
}

export function createCreates(deps: BookingDeps, sequencer: Sequencer) {
  const { db, ids, catalog } = deps;
  const spend = spendOf(deps);

  /** The request's own items and events, with the hooks' effects. */
  async function withHooks(r: Reservation, requestHash: string | null, now: Date, own: Prepared['items'], event: string, spent: SpendEffect): Promise<Pick<Prepared, 'items' | 'events' | 'afterCommit'>> {
    const extra = await hookEffects(deps.hooks, (h) => h.onCreate?.(r, now));
    return {
      items: [...own, reservationCreate(db, r), ...(requestHash ? [createRequestRecord(db, r.orgId, requestHash, r.id, now)] : []), ...spent.items, ...extra.items],
      events: [{ type: event, data: toApiReservation(r) }, ...spent.events, ...extra.events],
      afterCommit: extra.afterCommit,
    };
  }

  /**
   * The hoarding check of a hold (README "Limits"): reads the org's hold ledger and the limits (the
   * org's override, then the pool's, then the defaults), answers 409 hold-limit naming the limit, and
   * returns the ledger write that joins the hold's transaction (conditioned on the ledger's version;
   * the group commit takes one request per org, so concurrent holds of one org cannot both pass).
   */
  async function holdLimitWrite(orgId: string, pool: Pool, sH: number, eH: number, gpus: number, now: Date): Promise<TransactItem> {
    const [ledger, orgLimits, poolLimits] = await Promise.all([readHoldLedger(db, orgId), readLimitOverrides(db, `org:${orgId}`), readLimitOverrides(db, `pool:${pool.id}`)]);
    const limits = mergeLimits(deps.holdLimits ?? DEFAULT_HOLD_LIMITS, poolLimits, orgLimits);
    const hour = epochHour(now);
    const window = windowKey(pool.id, sH, eH);
    const w = ledger.windows[window];
    const usage = { open: ledger.open, poolGpus: ledger.gpusByPool[pool.id] ?? 0, sameWindow: w && w.hour === hour ? w.n : 0 };
    const violation = holdViolation(limits, usage, gpus, peakCapacity(pool));
    if (violation) throw new DomainError('hold_limit', violation.detail, { errors: [{ path: 'quoteId', message: `limit "${violation.name}" (${violation.limit}) reached` }] });
    return holdLedgerOpen(db, orgId, ledger, pool.id, gpus, window, hour);
  }

  return {
    async hold(principal: Principal, quoteId: string, options: CreateOptions = {}): Promise<Reservation> {
      const orgId = orgOf(principal);
      const id = ids.next('res');
      const changeId = randomUUID();
      const requestHash = createRequestHash(options.idempotencyKey, 'hold', quoteId);
      return sequencer.submit(orgId, options.receivedAt, async (now) => {
        const madeEarlier = requestHash ? await reservationOfCreateRequest(db, orgId, requestHash) : null;
        if (madeEarlier) return { done: madeEarlier };
        const q = checkQuoteHoldable(await getQuote(db, quoteId), quoteId, orgId, now);
        // The budget is checked before capacity is decided: a refusal costs one read.
        const spent = await spend(orgId, [{ kind: 'hold', reservationId: id, price: q.total, keyId: principal.keyId, heldAt: now.toISOString() }], { amount: q.total, keyId: principal.keyId }, now);
        const pool = await poolById(catalog, q.poolId);
        checkSiteOpen(await siteOf(catalog, pool.site), new Date(q.start), now);
        const sH = epochHour(new Date(q.start));
        const eH = epochHour(new Date(q.end));
        const ledgerWrite = await holdLimitWrite(orgId, pool, sH, eH, q.gpus, now);
        const r = newReservation(
          {
            id,
            orgId,
            kind: 'reserved',
            status: 'held',
            poolId: pool.id,
            site: q.site,
            gpuType: q.gpuType,
            gpus: q.gpus,
            start: q.start,
            end: q.end,
            holdExpiresAt: new Date(now.getTime() + HOLD_TTL_MS).toISOString(),
            quoteId,
            price: q.total,
            lines: q.lines,
            keyId: principal.keyId,
            lastChangeId: changeId,
          },
          now,
        );
        return {
          pool,
          take: { kind: 'hours', startHour: sH, endHour: eH, gpus: q.gpus },
          where: `every hour of that window in ${pool.id}`,
          reservation: r,
          ...(await withHooks(r, requestHash, now, [ledgerWrite, quoteUse(db, quoteId, id)], 'reservation.held', spent)),
        };
      });
    },

    async startOnDemand(principal: Principal, req: { site: string; gpuType: string; gpus: number }, options: CreateOptions = {}): Promise<Reservation> {
      const orgId = orgOf(principal);
      const { pool } = await poolFor(catalog, req.site, req.gpuType);
      checkGpus(pool, req.gpus);
      const id = ids.next('res');
      const changeId = randomUUID();
      const requestHash = createRequestHash(options.idempotencyKey, 'on_demand', req.site, req.gpuType, req.gpus);
      return sequencer.submit(orgId, options.receivedAt, async (now) => {
        const madeEarlier = requestHash ? await reservationOfCreateRequest(db, orgId, requestHash) : null;
        if (madeEarlier) return { done: madeEarlier };
        if (now < new Date(pool.bookableFrom)) throw semantic('gpuType', `pool ${pool.id} opens ${pool.bookableFrom}`);
        checkSiteOpen(await siteOf(catalog, pool.site), null, now);
        const rate = pool.onDemandRate.amount;
        const spent = await spend(
          orgId,
          [{ kind: 'start', running: { reservationId: id, poolId: pool.id, gpus: req.gpus, start: now.toISOString(), ratePerGpuHour: rate, keyId: principal.keyId } }],
          { amount: onDemandFirstHour(req.gpus, rate), keyId: principal.keyId },
          now,
        );
        const r = newReservation(
          {
            id,
            orgId,
            kind: 'on_demand',
            status: 'active',
            poolId: pool.id,
            site: pool.site,
            gpuType: pool.gpuType,
            gpus: req.gpus,
            start: now.toISOString(),
            end: null,
            holdExpiresAt: null,
            quoteId: null,
            price: null,
            lines: [],
            keyId: principal.keyId,
            lastChangeId: changeId,
          },
          now,
        );
        return {
          pool,
          take: { kind: 'onDemand', gpus: req.gpus },
          where: `every hour of the booking horizon in ${pool.id} (on-demand runs until stopped)`,
          reservation: r,
          ...(await withHooks(r, requestHash, now, [], 'reservation.started', spent)),
        };
      });
    },
  };
}
