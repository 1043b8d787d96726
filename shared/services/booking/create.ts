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
import { DEFAULT_HOLD_LIMITS, holdViolation, mergeLimits, type HoldLimits } from '#domain/limits.ts';
import { holdLedgerOpen, readHoldLedger, readLimitOverrides, windowKey } from '#store/hold-limits.ts';
import type { TransactItem } from '#store/transact.ts';
import { hookEffects, spendOf, type BookingDeps, type SpendEffect } from './commit.ts';
import { HOLD_TTL_MS, checkGpus, checkQuoteHoldable, checkSiteOpen, createRequestHash, newReservation, orgOf, poolById, poolFor, semantic, siteOf } from './rules.ts';
import type { Prepared } from './group-member.ts';
import type { Sequencer } from './sequencer.ts';

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
  async function holdLimitWrite(orgId: string, pool: Pool, sH: number, eH: number, gpus: number, now: Date, known?: HoldLimits): Promise<{ write: TransactItem; limits: HoldLimits }> {
    const [ledger, limits] = await Promise.all([readHoldLedger(db, orgId), known ?? limitsOf(orgId, pool)]);
    const hour = epochHour(now);
    const window = windowKey(pool.id, sH, eH);
    const w = ledger.windows[window];
    const usage = { open: ledger.open, poolGpus: ledger.gpusByPool[pool.id] ?? 0, sameWindow: w && w.hour === hour ? w.n : 0 };
    const violation = holdViolation(limits, usage, gpus, peakCapacity(pool));
    if (violation) throw new DomainError('hold_limit', violation.detail, { errors: [{ path: 'quoteId', message: `limit "${violation.name}" (${violation.limit}) reached` }] });
    return { write: holdLedgerOpen(db, orgId, ledger, pool.id, gpus, window, hour), limits };
  }

  /** The hold limits in force for an org in a pool: the org's override, then the pool's, then the defaults. */
  async function limitsOf(orgId: string, pool: Pool): Promise<HoldLimits> {
    const [orgLimits, poolLimits] = await Promise.all([readLimitOverrides(db, `org:${orgId}`), readLimitOverrides(db, `pool:${pool.id}`)]);
    return mergeLimits(deps.holdLimits ?? DEFAULT_HOLD_LIMITS, poolLimits, orgLimits);
  }

  return {
    async hold(principal: Principal, quoteId: string, options: CreateOptions = {}): Promise<Reservation> {
      const orgId = orgOf(principal);
      const id = ids.next('res');
      const changeId = randomUUID();
      const requestHash = createRequestHash(options.idempotencyKey, 'hold', quoteId);
      /**
       * What a check reads that only another request could change (the quote, the limits in force):
       * kept between the checks of one request when only its org's own state moved (`orgStateOnly`,
       * after the org's earlier request committed). A request that lost a race on them (its quote used
       * by another, its create request recorded twice) is checked again in full.
       */
      let memo: { quote: Awaited<ReturnType<typeof getQuote>>; limits?: HoldLimits } | undefined;
      return sequencer.submit(orgId, options.receivedAt, async (now, orgStateOnly) => {
        if (!orgStateOnly || !memo) {
          // Read together (one batch with the other requests checked in the same turn).
          const [madeEarlier, quote] = await Promise.all([requestHash ? reservationOfCreateRequest(db, orgId, requestHash) : null, getQuote(db, quoteId)]);
          if (madeEarlier) return { done: madeEarlier };
          memo = { quote };
        }
        const q = checkQuoteHoldable(memo.quote, quoteId, orgId, now);
        const pool = await poolById(catalog, q.poolId);
        const sH = epochHour(new Date(q.start));
        const eH = epochHour(new Date(q.end));
        // The org's two records (spend, hold ledger) are read together, in one batch with the other
        // requests checked at the same time; refusals keep their order: budget, site, hold limit.
        const [spentRead, ledgerRead] = await Promise.allSettled([
          spend(orgId, [{ kind: 'hold', reservationId: id, price: q.total, keyId: principal.keyId, heldAt: now.toISOString() }], { amount: q.total, keyId: principal.keyId }, now),
          holdLimitWrite(orgId, pool, sH, eH, q.gpus, now, memo.limits),
        ]);
        if (spentRead.status === 'rejected') throw spentRead.reason;
        const spent = spentRead.value;
        checkSiteOpen(await siteOf(catalog, pool.site), new Date(q.start), now);
        if (ledgerRead.status === 'rejected') throw ledgerRead.reason;
        memo.limits = ledgerRead.value.limits;
        const ledgerWrite = ledgerRead.value.write;
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
