/**
 * Booking: quotes, holds, confirmations, extensions, cancellations, on-demand starts and stops, and
 * the timed transitions. Every change is one DynamoDB transaction carrying the capacity it takes or
 * frees, the reservation, and its outbox event; each runs in an optimistic retry loop that re-reads
 * what it checks (docs/table-design.md).
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  BOOKING_HORIZON_HOURS,
  MAX_LEAD_MS,
  MAX_RESERVED_HOURS,
  bucketsForRange,
  minAvailable,
  shiftHours,
  utilizationBps,
} from '#domain/capacity.ts';
import { poolLabel, type Pool } from '#domain/catalog.ts';
import { refundFor } from '#domain/cancellation.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import { onDemandFirstHour, type SpendChange } from '#domain/budget.ts';
import { addMoney, eur, type Money } from '#domain/money.ts';
import { priceReservation, type PriceLine } from '#domain/pricing.ts';
import { priceWindow } from '#domain/window-price.ts';
import type { Principal } from '#domain/principal.ts';
import { assertTransition, toApiReservation, type Refund, type Reservation } from '#domain/reservation.ts';
import { HOUR_MS, epochHour, isWholeHour } from '#domain/time.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { CatalogCache } from '#store/catalog.ts';
import { bucketChecks, bucketWrites, onDemandCheck, onDemandWrite, readPoolLoad, releaseWrites } from '#store/capacity.ts';
import { DEFAULT_HOLD_LIMITS, holdViolation, mergeLimits, type HoldLimits } from '#domain/limits.ts';
import { holdLedgerClose, holdLedgerOpen, readHoldLedger, readLimitOverrides, windowKey } from '#store/hold-limits.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites, type EventDraft } from '#store/events.ts';
import { getQuote, putQuote, quoteUse, type Quote } from '#store/quotes.ts';
import { createRequestRecord, getReservation, reservationCreate, reservationOfCreateRequest, reservationReplace } from '#store/reservations.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import { withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';

export const QUOTE_TTL_MS = 15 * 60_000;
export const HOLD_TTL_MS = 15 * 60_000;
export const ENDING_SOON_MS = HOUR_MS;

/** What billing adds to a booking transaction (invoice records, credit notes) and does after it commits. */
export interface BillingEffect {
  items: TransactItem[];
  events: EventDraft[];
  invoiceId?: string;
  afterCommit?: () => Promise<void>;
}

export interface ReservationBilling {
  onConfirm(r: Reservation, now: Date): Promise<BillingEffect>;
  onExtend(r: Reservation, extension: { start: string; end: string; lines: PriceLine[]; total: Money }, now: Date): Promise<BillingEffect>;
  onCancel(r: Reservation, refund: Refund, now: Date): Promise<BillingEffect>;
}

/** What spend controls add to a booking transaction: the org's spend record and alert events. */
export interface SpendEffect {
  items: TransactItem[];
  events: EventDraft[];
}

/**
 * Spend controls' hook (shared/services/budgets.ts): records `changes` in the org's spend record in the
 * booking's own transaction and, with `check`, refuses (402 budget_exceeded) a booking of that amount
 * that would take the org's budget or the key's limit over. Each attempt re-reads the record.
 */
export interface ReservationSpend {
  onChange(orgId: string, changes: SpendChange[], check: { amount: Money; keyId: string | null } | null, now: Date): Promise<SpendEffect>;
}

const NO_SPEND: SpendEffect = { items: [], events: [] };

export interface BookingDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  catalog: CatalogCache;
  billing?: ReservationBilling | undefined;
  spend?: ReservationSpend | undefined;
  retry?: RetryPolicy | undefined;
  /**
   * Measured demand for a pool (bps of capacity, e.g. metered GPU usage of the last 7 days). Pricing's
   * utilization is the larger of this and the booked fraction of the quoted window.
   */
  measuredUtilizationBps?: ((pool: Pool, now: Date) => Promise<number>) | undefined;
  /** Default hold limits, before the operator's overrides per pool and org (DEFAULT_HOLD_LIMITS unless the composition raises them). */
  holdLimits?: HoldLimits | undefined;
  /** Called after each commit (tests use it to crash between writes; metrics use it to count). */
  onCommitted?: ((what: string) => void) | undefined;
}

export interface QuoteRequest {
  site: string;
  gpuType: string;
  gpus: number;
  start: string;
  end: string;
}

/** What a client's create request is remembered by: its Idempotency-Key and what it asked for. */
export interface CreateOptions {
  idempotencyKey?: string | undefined;
}
const createRequestHash = (key: string | undefined, ...request: (string | number)[]): string | null =>
  key === undefined ? null : createHash('sha256').update([key, ...request].join('\n')).digest('hex');

const semantic = (path: string, message: string) => new DomainError('unprocessable', `${path}: ${message}`, { errors: [{ path, message }] });

function orgOf(principal: Principal): string {
  if (principal.role !== 'customer' || !principal.orgId) throw new DomainError('forbidden', 'Only customer keys act on reservations');
  return principal.orgId;
}

/** The refund of cancelling `r` at `now`: a hold costs nothing; a confirmed booking by the policy (shared/domain/cancellation.ts). */
export const cancellationRefund = (r: Reservation, now: Date): Refund =>
  r.status === 'held'
    ? { percent: 100, amount: eur(0), rule: 'Hold released before confirmation: nothing was charged' }
    : refundFor({ paid: r.price ?? eur(0), start: new Date(r.start), now });

export function createBookingService(deps: BookingDeps) {
  const { db, clock, ids, catalog } = deps;
  const spend = (orgId: string, changes: SpendChange[], check: { amount: Money; keyId: string | null } | null, now: Date): Promise<SpendEffect> =>
    deps.spend ? deps.spend.onChange(orgId, changes, check, now) : Promise.resolve(NO_SPEND);

  async function poolFor(site: string, gpuType: string): Promise<{ pool: Pool; label: string }> {
    const c = await catalog.get();
    if (!c.sites.some((s) => s.id === site)) throw semantic('site', `unknown site "${site}"`);
    if (!c.gpuTypes.some((g) => g.id === gpuType)) throw semantic('gpuType', `unknown GPU type "${gpuType}"`);
    const pool = c.pools.find((p) => p.site === site && p.gpuType === gpuType);
    if (!pool) throw semantic('gpuType', `site "${site}" has no ${gpuType} pool`);
    return { pool, label: poolLabel(pool, c) };
  }

  async function poolById(poolId: string): Promise<Pool> {
    const pool = (await catalog.get()).pools.find((p) => p.id === poolId);
    if (!pool) throw new Error(`pool ${poolId} vanished from the catalog`);
    return pool;
  }

  function checkGpus(pool: Pool, gpus: number): void {
    if (gpus < pool.minGpus) throw semantic('gpus', `at least ${pool.minGpus} GPUs per booking in pool ${pool.id}`);
    if (gpus % pool.stepGpus !== 0) throw semantic('gpus', `must be a multiple of ${pool.stepGpus} (whole nodes)`);
    if (gpus > pool.totalGpus) throw semantic('gpus', `pool ${pool.id} has ${pool.totalGpus} GPUs`);
  }

  function checkWindow(pool: Pool, start: Date, end: Date, now: Date): void {
    if (!isWholeHour(start)) throw semantic('start', 'must be a whole UTC hour (e.g. 2026-12-01T08:00:00Z)');
    if (!isWholeHour(end)) throw semantic('end', 'must be a whole UTC hour');
    if (end <= start) throw semantic('end', 'must be after start');
    const hours = (end.getTime() - start.getTime()) / HOUR_MS;
    if (hours > MAX_RESERVED_HOURS) throw semantic('end', 'a reservation lasts at most 365 days');
    if (start <= now) throw semantic('start', 'must be in the future');
    if (start.getTime() - now.getTime() > MAX_LEAD_MS) throw semantic('start', 'bookings start at most 12 months ahead');
    if (start < new Date(pool.bookableFrom)) throw semantic('start', `pool ${pool.id} is bookable from ${pool.bookableFrom}`);
  }

  /**
   * The extra hours of extending `r` to `newEnd` at `now`, priced, after the same checks the extension
   * makes (state, whole hour, after the current end, at most 365 days, capacity): what Extend would
   * charge. Read-only.
   */
  async function priceExtension(r: Reservation, newEnd: Date, now: Date) {
    if (r.kind !== 'reserved' || !['held', 'confirmed', 'active'].includes(r.status) || !r.end) {
      throw new DomainError('invalid_state', `Reservation ${r.id} is ${r.status} (${r.kind}); only held, confirmed or active reserved bookings extend`);
    }
    if (r.status === 'held' && r.holdExpiresAt && new Date(r.holdExpiresAt) <= now) {
      throw new DomainError('invalid_state', `The hold on ${r.id} expired at ${r.holdExpiresAt}; quote and reserve again`);
    }
    if (!isWholeHour(newEnd)) throw semantic('end', 'must be a whole UTC hour');
    const oldEnd = new Date(r.end);
    if (newEnd <= oldEnd) throw semantic('end', `must be after the current end ${r.end}`);
    if (oldEnd <= now) throw new DomainError('invalid_state', `Reservation ${r.id} already ended`);
    const totalHours = (newEnd.getTime() - Date.parse(r.start)) / HOUR_MS;
    if (totalHours > MAX_RESERVED_HOURS) throw semantic('end', 'a reservation lasts at most 365 days in total');
    const pool = await poolById(r.poolId);
    const sH = epochHour(oldEnd);
    const eH = epochHour(newEnd);
    const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, sH, eH);
    const free = minAvailable(snapshot, sH, eH);
    if (free < r.gpus) {
      throw new DomainError('capacity_unavailable', `Only ${free} GPUs are free in every extra hour up to ${newEnd.toISOString()}`);
    }
    const priced = priceReservation({
      poolLabel: poolLabel(pool, await catalog.get()),
      priceBook: pool.priceBook,
      gpus: r.gpus,
      start: oldEnd,
      end: newEnd,
      now,
      utilizationBps: utilizationBps(snapshot, sH, eH),
      tierHours: totalHours,
    });
    const lines = priced.lines.map((l) => ({ ...l, description: `Extension ${oldEnd.toISOString()} → ${newEnd.toISOString()}: ${l.description}` }));
    return { pool, snapshot, sH, eH, priced, lines, oldEnd };
  }

  /**
   * Runs one change: `decide` reads and checks state and returns the writes; the outbox events are
   * appended and everything commits in one transaction. Retried as a whole on lost races.
   */
  async function commit<T>(
    orgId: string,
    decide: (now: Date) => Promise<{ items: TransactItem[]; events: EventDraft[]; result: T; afterCommit?: (() => Promise<void>) | undefined } | { done: T }>,
  ): Promise<T> {
    let after: (() => Promise<void>) | undefined;
    const result = await withOptimisticRetry(async () => {
      const now = clock();
      const decision = await decide(now);
      if ('done' in decision) return decision.done;
      const outbox = await outboxWrites(db, orgId, decision.events, now, ids);
      await transact(db, [...decision.items, ...outbox.items]);
      after = decision.afterCommit;
      return decision.result;
    }, deps.retry);
    deps.onCommitted?.('commit');
    if (after) await after();
    return result;
  }

  /**
   * The hoarding check of a hold (README "Limits"): reads the org's hold ledger and the limits (the
   * org's override, then the pool's, then the defaults), answers 409 hold-limit naming the limit, and
   * returns the ledger write that joins the hold's transaction (conditioned on the ledger's version,
   * so concurrent holds of one org cannot both pass).
   */
  async function holdLimitWrite(orgId: string, pool: Pool, sH: number, eH: number, gpus: number, now: Date): Promise<TransactItem> {
    const [ledger, orgLimits, poolLimits] = await Promise.all([readHoldLedger(db, orgId), readLimitOverrides(db, `org:${orgId}`), readLimitOverrides(db, `pool:${pool.id}`)]);
    const limits = mergeLimits(deps.holdLimits ?? DEFAULT_HOLD_LIMITS, poolLimits, orgLimits);
    const hour = epochHour(now);
    const window = windowKey(pool.id, sH, eH);
    const w = ledger.windows[window];
    const usage = { open: ledger.open, poolGpus: ledger.gpusByPool[pool.id] ?? 0, sameWindow: w && w.hour === hour ? w.n : 0 };
    const violation = holdViolation(limits, usage, gpus, pool.totalGpus);
    if (violation) throw new DomainError('hold_limit', violation.detail, { errors: [{ path: 'quoteId', message: `limit "${violation.name}" (${violation.limit}) reached` }] });
    return holdLedgerOpen(db, orgId, ledger, pool.id, gpus, window, hour);
  }

  /** Loads a reservation for a change; a retry of a call that already committed returns its result. */
  async function load(orgId: string, id: string, changeId: string): Promise<{ r: Reservation; alreadyDone: boolean }> {
    const r = await getReservation(db, orgId, id);
    if (!r) throw notFound('Reservation', id);
    return { r, alreadyDone: r.lastChangeId === changeId };
  }

  const changed = (r: Reservation, now: Date, changeId: string, patch: Partial<Reservation>): Reservation => ({
    ...r,
    ...patch,
    updatedAt: now.toISOString(),
    lastChangeId: changeId,
    version: r.version + 1,
  });

  async function stopOnDemand(orgId: string, id: string, reason: 'budget_limit_reached' | null): Promise<Reservation> {
    const changeId = randomUUID();
    return commit<Reservation>(orgId, async (now) => {
      const { r, alreadyDone } = await load(orgId, id, changeId);
      if (alreadyDone) return { done: r };
      if (reason && r.status !== 'active') return { done: r };
      assertTransition(r, 'stopped');
      const pool = await poolById(r.poolId);
      const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, 0, 0);
      const next = changed(r, now, changeId, { status: 'stopped', end: now.toISOString(), stoppedAt: now.toISOString() });
      const spent = await spend(orgId, [{ kind: 'stop', reservationId: id, stoppedAt: now.toISOString() }], null, now);
      return {
        items: [onDemandWrite(db, snapshot, snapshot.onDemand - r.gpus), reservationReplace(db, r, next), ...spent.items],
        events: [{ type: 'reservation.stopped', data: { ...toApiReservation(next), ...(reason ? { reason } : {}) } }, ...spent.events],
        result: next,
      };
    });
  }

  return {
    async quote(principal: Principal, req: QuoteRequest): Promise<Quote> {
      const orgId = orgOf(principal);
      const { pool, label } = await poolFor(req.site, req.gpuType);
      checkGpus(pool, req.gpus);
      const now = clock();
      const start = new Date(req.start);
      const end = new Date(req.end);
      checkWindow(pool, start, end, now);
      const sH = epochHour(start);
      const eH = epochHour(end);
      const loadNow = await withOptimisticRetry(() => readPoolLoad(db, pool.id, pool.totalGpus, sH, eH), deps.retry);
      const free = minAvailable(loadNow, sH, eH);
      if (free < req.gpus) {
        throw new DomainError('capacity_unavailable', `Only ${free} GPUs are free in every hour of that window in ${pool.id}`);
      }
      const priced = priceWindow({
        pool,
        poolLabel: label,
        load: loadNow,
        gpus: req.gpus,
        startHour: sH,
        endHour: eH,
        now,
        measuredUtilizationBps: (await deps.measuredUtilizationBps?.(pool, now)) ?? 0,
      });
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
      await withOptimisticRetry(() => putQuote(db, q), deps.retry);
      return q;
    },

    async hold(principal: Principal, quoteId: string, options: CreateOptions = {}): Promise<Reservation> {
      const orgId = orgOf(principal);
      const id = ids.next('res');
      const changeId = randomUUID();
      const requestHash = createRequestHash(options.idempotencyKey, 'hold', quoteId);
      return commit<Reservation>(orgId, async (now) => {
        const existing = await getReservation(db, orgId, id);
        if (existing) return { done: existing };
        const madeEarlier = requestHash ? await reservationOfCreateRequest(db, orgId, requestHash) : null;
        if (madeEarlier) return { done: madeEarlier };
        const found = await getQuote(db, quoteId);
        if (!found || found.quote.orgId !== orgId) throw notFound('Quote', quoteId);
        const q = found.quote;
        if (found.usedBy) throw new DomainError('invalid_state', `Quote ${quoteId} was already used by reservation ${found.usedBy}`);
        if (new Date(q.expiresAt) <= now) throw new DomainError('quote_expired', `Quote ${quoteId} expired at ${q.expiresAt}; request a new quote`);
        const start = new Date(q.start);
        if (start <= now) throw new DomainError('invalid_state', `The quoted window started at ${q.start}; request a new quote`);
        // The budget is checked before capacity is read: a refusal costs one read.
        const spent = await spend(orgId, [{ kind: 'hold', reservationId: id, price: q.total, keyId: principal.keyId, heldAt: now.toISOString() }], { amount: q.total, keyId: principal.keyId }, now);
        const pool = await poolById(q.poolId);
        const sH = epochHour(start);
        const eH = epochHour(new Date(q.end));
        const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, sH, eH);
        const free = minAvailable(snapshot, sH, eH);
        if (free < q.gpus) {
          throw new DomainError('capacity_unavailable', `Only ${free} GPUs are free in every hour of that window in ${pool.id}`);
        }
        const ledgerWrite = await holdLimitWrite(orgId, pool, sH, eH, q.gpus, now);
        const r: Reservation = {
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
          invoiceId: null,
          invoiceIds: [],
          refund: null,
          endingSoonNotified: false,
          createdAt: now.toISOString(),
          updatedAt: now.toISOString(),
          confirmedAt: null,
          cancelledAt: null,
          stoppedAt: null,
          keyId: principal.keyId,
          lastChangeId: changeId,
          version: 1,
        };
        return {
          items: [
            ...bucketWrites(db, pool.id, shiftHours(snapshot, sH, eH, q.gpus)),
            onDemandCheck(db, snapshot),
            ledgerWrite,
            quoteUse(db, quoteId, id),
            reservationCreate(db, r),
            ...(requestHash ? [createRequestRecord(db, orgId, requestHash, id, now)] : []),
            ...spent.items,
          ],
          events: [{ type: 'reservation.held', data: toApiReservation(r) }, ...spent.events],
          result: r,
        };
      });
    },

    async confirm(principal: Principal, id: string): Promise<Reservation> {
      const orgId = orgOf(principal);
      const changeId = randomUUID();
      return commit<Reservation>(orgId, async (now) => {
        const { r, alreadyDone } = await load(orgId, id, changeId);
        if (alreadyDone) return { done: r };
        assertTransition(r, 'confirmed');
        if (r.holdExpiresAt && new Date(r.holdExpiresAt) <= now) {
          throw new DomainError('invalid_state', `The hold on ${id} expired at ${r.holdExpiresAt}; quote and reserve again`);
        }
        let next = changed(r, now, changeId, { status: 'confirmed', holdExpiresAt: null, confirmedAt: now.toISOString() });
        const billing = deps.billing ? await deps.billing.onConfirm(next, now) : undefined;
        if (billing?.invoiceId) next = { ...next, invoiceId: billing.invoiceId, invoiceIds: [...next.invoiceIds, billing.invoiceId] };
        // Never refused for budget reasons: its price was counted when it was held; it moves from committed to spent.
        const price = r.price ?? eur(0);
        const spent = await spend(orgId, [{ kind: 'confirm', price, invoiced: price, keyId: r.keyId ?? null, heldAt: r.createdAt }], null, now);
        return {
          items: [reservationReplace(db, r, next), holdLedgerClose(db, orgId, r.poolId, r.gpus), ...(billing?.items ?? []), ...spent.items],
          events: [{ type: 'reservation.confirmed', data: toApiReservation(next) }, ...(billing?.events ?? []), ...spent.events],
          result: next,
          afterCommit: billing?.afterCommit,
        };
      });
    },

    async extend(principal: Principal, id: string, newEndRaw: string): Promise<{ reservation: Reservation; extension: { start: string; end: string; gpuHours: number; lines: PriceLine[]; price: Money } }> {
      const orgId = orgOf(principal);
      const changeId = randomUUID();
      const newEnd = new Date(newEndRaw);
      type Result = Awaited<ReturnType<ReturnType<typeof createBookingService>['extend']>>;
      let extensionOfThisCall: Result['extension'] | undefined;
      const reservation = await commit<Reservation>(orgId, async (now) => {
        const { r, alreadyDone } = await load(orgId, id, changeId);
        if (alreadyDone) return { done: r };
        const { pool, snapshot, sH, eH, priced, lines, oldEnd } = await priceExtension(r, newEnd, now);
        let next = changed(r, now, changeId, {
          end: newEnd.toISOString(),
          price: addMoney(r.price ?? eur(0), priced.total),
          lines: [...r.lines, ...lines],
          endingSoonNotified: false,
        });
        const extension = { start: oldEnd.toISOString(), end: newEnd.toISOString(), gpuHours: priced.gpuHours, lines, price: priced.total };
        const billing = deps.billing && r.status !== 'held' ? await deps.billing.onExtend(next, { start: extension.start, end: extension.end, lines, total: priced.total }, now) : undefined;
        if (billing?.invoiceId) next = { ...next, invoiceIds: [...next.invoiceIds, billing.invoiceId] };
        extensionOfThisCall = extension;
        const keyId = r.keyId ?? principal.keyId;
        const change: SpendChange =
          r.status === 'held'
            ? { kind: 'extend_held', price: priced.total, keyId: r.keyId ?? null, heldAt: r.createdAt }
            : { kind: 'invoice', amount: priced.total, keyId: r.keyId ?? null };
        const spent = await spend(orgId, [change], { amount: priced.total, keyId }, now);
        return {
          items: [
            ...bucketWrites(db, pool.id, shiftHours(snapshot, sH, eH, r.gpus)),
            onDemandCheck(db, snapshot),
            reservationReplace(db, r, next),
            ...(billing?.items ?? []),
            ...spent.items,
          ],
          events: [{ type: 'reservation.extended', data: { ...toApiReservation(next), extension } }, ...(billing?.events ?? []), ...spent.events],
          result: next,
          afterCommit: billing?.afterCommit,
        };
      });
      if (!extensionOfThisCall) throw new DomainError('internal', 'extension committed without its details');
      return { reservation, extension: extensionOfThisCall };
    },

    /** What extending to `newEndRaw` would add (lines, GPU-hours, price excluding VAT), changing nothing. */
    async previewExtension(principal: Principal, id: string, newEndRaw: string): Promise<{ start: string; end: string; gpuHours: number; lines: PriceLine[]; price: Money }> {
      const orgId = orgOf(principal);
      const r = await getReservation(db, orgId, id);
      if (!r) throw notFound('Reservation', id);
      const newEnd = new Date(newEndRaw);
      if (Number.isNaN(newEnd.getTime())) throw semantic('end', 'must be a UTC date and time');
      const { priced, lines, oldEnd } = await priceExtension(r, newEnd, clock());
      return { start: oldEnd.toISOString(), end: newEnd.toISOString(), gpuHours: priced.gpuHours, lines, price: priced.total };
    },

    /** What cancelling now would refund, by the policy, changing nothing. */
    async previewCancellation(principal: Principal, id: string): Promise<Refund> {
      const orgId = orgOf(principal);
      const r = await getReservation(db, orgId, id);
      if (!r) throw notFound('Reservation', id);
      const now = clock();
      assertTransition(r, 'cancelled');
      if (r.status === 'confirmed' && new Date(r.start) <= now) {
        throw new DomainError('invalid_state', `Reservation ${id} has started; it can no longer be cancelled`);
      }
      return cancellationRefund(r, now);
    },

    async cancel(principal: Principal, id: string): Promise<Reservation> {
      const orgId = orgOf(principal);
      const changeId = randomUUID();
      return commit<Reservation>(orgId, async (now) => {
        const { r, alreadyDone } = await load(orgId, id, changeId);
        if (alreadyDone) return { done: r };
        assertTransition(r, 'cancelled');
        if (r.status === 'confirmed' && new Date(r.start) <= now) {
          throw new DomainError('invalid_state', `Reservation ${id} has started; it can no longer be cancelled`);
        }
        const refund = cancellationRefund(r, now);
        const pool = await poolById(r.poolId);
        const sH = epochHour(new Date(r.start));
        const eH = epochHour(new Date(r.end!));
        const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, sH, eH);
        const next = changed(r, now, changeId, { status: 'cancelled', holdExpiresAt: null, cancelledAt: now.toISOString(), refund });
        const billing = deps.billing && r.status === 'confirmed' ? await deps.billing.onCancel(next, refund, now) : undefined;
        const change: SpendChange =
          r.status === 'held'
            ? { kind: 'release_hold', price: r.price ?? eur(0), keyId: r.keyId ?? null, heldAt: r.createdAt }
            : { kind: 'credit', amount: refund.amount, keyId: r.keyId ?? null };
        const spent = await spend(orgId, [change], null, now);
        return {
          items: [
            ...releaseWrites(db, snapshot, sH, eH, r.gpus),
            reservationReplace(db, r, next),
            ...(r.status === 'held' ? [holdLedgerClose(db, orgId, r.poolId, r.gpus)] : []),
            ...(billing?.items ?? []),
            ...spent.items,
          ],
          events: [{ type: 'reservation.cancelled', data: toApiReservation(next) }, ...(billing?.events ?? []), ...spent.events],
          result: next,
          afterCommit: billing?.afterCommit,
        };
      });
    },

    async startOnDemand(principal: Principal, req: { site: string; gpuType: string; gpus: number }, options: CreateOptions = {}): Promise<Reservation> {
      const orgId = orgOf(principal);
      const { pool } = await poolFor(req.site, req.gpuType);
      checkGpus(pool, req.gpus);
      const id = ids.next('res');
      const changeId = randomUUID();
      const requestHash = createRequestHash(options.idempotencyKey, 'on_demand', req.site, req.gpuType, req.gpus);
      return commit<Reservation>(orgId, async (now) => {
        const existing = await getReservation(db, orgId, id);
        if (existing) return { done: existing };
        const madeEarlier = requestHash ? await reservationOfCreateRequest(db, orgId, requestHash) : null;
        if (madeEarlier) return { done: madeEarlier };
        if (now < new Date(pool.bookableFrom)) throw semantic('gpuType', `pool ${pool.id} opens ${pool.bookableFrom}`);
        // The budget is checked before the 365 days of capacity are read: a refusal costs one read.
        const rate = pool.onDemandRate.amount;
        const spent = await spend(
          orgId,
          [{ kind: 'start', running: { reservationId: id, poolId: pool.id, gpus: req.gpus, start: now.toISOString(), ratePerGpuHour: rate, keyId: principal.keyId } }],
          { amount: onDemandFirstHour(req.gpus, rate), keyId: principal.keyId },
          now,
        );
        const sH = epochHour(now);
        const eH = sH + BOOKING_HORIZON_HOURS;
        const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, sH, eH);
        const free = minAvailable(snapshot, sH, eH);
        if (free < req.gpus) {
          throw new DomainError(
            'capacity_unavailable',
            `On-demand needs ${req.gpus} GPUs free in every hour of the booking horizon; only ${free} are in ${pool.id}`,
          );
        }
        const r: Reservation = {
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
          invoiceId: null,
          invoiceIds: [],
          refund: null,
          endingSoonNotified: false,
          createdAt: now.toISOString(),
          updatedAt: now.toISOString(),
          confirmedAt: null,
          cancelledAt: null,
          stoppedAt: null,
          keyId: principal.keyId,
          lastChangeId: changeId,
          version: 1,
        };
        return {
          items: [
            onDemandWrite(db, snapshot, snapshot.onDemand + req.gpus),
            ...bucketChecks(db, snapshot, bucketsForRange(sH, eH)),
            reservationCreate(db, r),
            ...(requestHash ? [createRequestRecord(db, orgId, requestHash, id, now)] : []),
            ...spent.items,
          ],
          events: [{ type: 'reservation.started', data: toApiReservation(r) }, ...spent.events],
          result: r,
        };
      });
    },

    async stop(principal: Principal, id: string): Promise<Reservation> {
      return stopOnDemand(orgOf(principal), id, null);
    },

    /** Stops a running on-demand reservation because its org's spend reached its budget (`stopOnDemandAtLimit`). */
    async stopAtBudgetLimit(orgId: string, id: string): Promise<Reservation> {
      return stopOnDemand(orgId, id, 'budget_limit_reached');
    },

    /**
     * Applies the one timed transition due for this reservation at `clock()`, if any: hold expiry,
     * start, ending soon, completion. Safe to run concurrently with the API and with other sweepers:
     * the version condition lets one writer win; the loser re-reads and finds nothing to do.
     */
    async advance(orgId: string, id: string): Promise<Reservation | null> {
      const changeId = randomUUID();
      return commit<Reservation | null>(orgId, async (now) => {
        const { r, alreadyDone } = await load(orgId, id, changeId);
        if (alreadyDone || r.kind !== 'reserved') return { done: r };
        const at = (iso: string | null) => (iso ? new Date(iso) <= now : false);
        if (r.status === 'held' && at(r.holdExpiresAt)) {
          const pool = await poolById(r.poolId);
          const sH = epochHour(new Date(r.start));
          const eH = epochHour(new Date(r.end!));
          const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, sH, eH);
          const next = changed(r, now, changeId, { status: 'expired', holdExpiresAt: r.holdExpiresAt });
          const spent = await spend(orgId, [{ kind: 'release_hold', price: r.price ?? eur(0), keyId: r.keyId ?? null, heldAt: r.createdAt }], null, now);
          return {
            items: [...releaseWrites(db, snapshot, sH, eH, r.gpus), reservationReplace(db, r, next), holdLedgerClose(db, orgId, r.poolId, r.gpus), ...spent.items],
            events: [{ type: 'reservation.expired', data: toApiReservation(next) }, ...spent.events],
            result: next,
          };
        }
        if (r.status === 'confirmed' && at(r.start)) {
          const next = changed(r, now, changeId, { status: 'active' });
          return { items: [reservationReplace(db, r, next)], events: [{ type: 'reservation.started', data: toApiReservation(next) }], result: next };
        }
        if (r.status === 'active' && at(r.end)) {
          const next = changed(r, now, changeId, { status: 'completed', endingSoonNotified: true });
          return { items: [reservationReplace(db, r, next)], events: [{ type: 'reservation.completed', data: toApiReservation(next) }], result: next };
        }
        if (r.status === 'active' && !r.endingSoonNotified && r.end && Date.parse(r.end) - now.getTime() <= ENDING_SOON_MS) {
          const next = changed(r, now, changeId, { endingSoonNotified: true });
          return { items: [reservationReplace(db, r, next)], events: [{ type: 'reservation.ending_soon', data: toApiReservation(next) }], result: next };
        }
        return { done: r };
      });
    },
  };
}

export type BookingService = ReturnType<typeof createBookingService>;
