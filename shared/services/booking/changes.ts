/**
 * Commands that change an existing reservation: confirm, extend, cancel, stop. Each is one
 * optimistic read-check-write (commit.ts) carrying the capacity it takes or frees, the reservation,
 * billing's and the hooks' effects and the outbox event; version conditions keep them correct
 * alongside the pool's group commits.
 */
import { assertFree, shiftHours, utilizationBps } from '#domain/capacity.ts';
import { poolLabel } from '#domain/catalog.ts';
import type { SpendChange } from '#domain/budget.ts';
import { DomainError } from '#domain/errors.ts';
import { addMoney, eur, type Money } from '#domain/money.ts';
import { extensionLines, priceReservation, type PriceLine } from '#domain/pricing.ts';
import type { Principal } from '#domain/principal.ts';
import { refusalOf, throwRefusal } from '#domain/reservation-actions.ts';
import { toApiReservation, type Refund, type Reservation } from '#domain/reservation.ts';
import { getReservation } from '#store/reservations.ts';
import { epochHour } from '#domain/time.ts';
import { bucketWrites, onDemandCheck, onDemandWrite, readPoolLoad, releaseProfileWrites } from '#store/capacity.ts';
import { releaseProfile } from '#domain/resale.ts';
import { reservationReplace } from '#store/reservations.ts';
import { holdLedgerClose } from '#store/hold-limits.ts';
import { notFound } from '#domain/errors.ts';
import { spendOf, type BookingDeps, type createCommitLoop } from './commit.ts';
import { cancellationRefund, checkCancellable, checkConfirmable, checkExtendable, checkSiteOpen, orgOf, poolById, semantic, siteOf } from './rules.ts';

export interface Extension {
  start: string;
  end: string;
  gpuHours: number;
  lines: PriceLine[];
  price: Money;
}

export function createChanges(deps: BookingDeps, { change }: ReturnType<typeof createCommitLoop>) {
  const { db, catalog, clock } = deps;
  const spend = spendOf(deps);

  /** The extra hours of extending `r` to `newEnd` at `now`, priced, after every check the extension makes (capacity included). Read-only. */
  async function priceExtension(r: Reservation, newEnd: Date, now: Date) {
    const { oldEnd, totalHours } = checkExtendable(r, newEnd, now);
    const pool = await poolById(catalog, r.poolId);
    checkSiteOpen(await siteOf(catalog, pool.site), oldEnd, now);
    const sH = epochHour(oldEnd);
    const eH = epochHour(newEnd);
    const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, sH, eH);
    assertFree(snapshot, sH, eH, r.gpus, `every extra hour up to ${newEnd.toISOString()}`);
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
    const lines = extensionLines(priced.lines, oldEnd, newEnd);
    return { pool, snapshot, sH, eH, priced, lines, oldEnd };
  }

  function stopOnDemand(orgId: string, id: string, reason: 'budget_limit_reached' | null): Promise<Reservation> {
    return change(orgId, id, async (r, now, changed) => {
      if (reason && r.status !== 'active') return { done: r };
      throwRefusal(refusalOf(r, 'stop', now));
      const pool = await poolById(catalog, r.poolId);
      const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, 0, 0);
      const next = changed({ status: 'stopped', end: now.toISOString(), stoppedAt: now.toISOString() });
      const spent = await spend(orgId, [{ kind: 'stop', reservationId: id, stoppedAt: now.toISOString() }], null, now);
      return {
        items: [onDemandWrite(db, snapshot, snapshot.onDemand - r.gpus), reservationReplace(db, r, next), ...spent.items],
        events: [{ type: 'reservation.stopped', data: { ...toApiReservation(next), ...(reason ? { reason } : {}) } }, ...spent.events],
        result: next,
      };
    });
  }

  return {
    confirm(principal: Principal, id: string): Promise<Reservation> {
      return change(orgOf(principal), id, async (r, now, changed) => {
        checkConfirmable(r, now);
        let next = changed({ status: 'confirmed', holdExpiresAt: null, confirmedAt: now.toISOString() });
        const billing = deps.billing ? await deps.billing.onConfirm(next, now) : undefined;
        if (billing?.invoiceId) next = { ...next, invoiceId: billing.invoiceId, invoiceIds: [...next.invoiceIds, billing.invoiceId] };
        // Never refused for budget reasons: its price was counted when it was held; it moves from committed to spent.
        const price = r.price ?? eur(0);
        const spent = await spend(r.orgId, [{ kind: 'confirm', price, invoiced: price, keyId: r.keyId ?? null, heldAt: r.createdAt }], null, now);
        return {
          items: [reservationReplace(db, r, next), holdLedgerClose(db, r.orgId, r.poolId, r.gpus), ...(billing?.items ?? []), ...spent.items],
          events: [{ type: 'reservation.confirmed', data: toApiReservation(next) }, ...(billing?.events ?? []), ...spent.events],
          result: next,
          afterCommit: billing?.afterCommit,
        };
      });
    },

    async extend(principal: Principal, id: string, newEndRaw: string): Promise<{ reservation: Reservation; extension: Extension }> {
      const newEnd = new Date(newEndRaw);
      let extensionOfThisCall: Extension | undefined;
      const reservation = await change(orgOf(principal), id, async (r, now, changed) => {
        const { pool, snapshot, sH, eH, priced, lines, oldEnd } = await priceExtension(r, newEnd, now);
        let next = changed({ end: newEnd.toISOString(), price: addMoney(r.price ?? eur(0), priced.total), lines: [...r.lines, ...lines], endingSoonNotified: false });
        const extension = { start: oldEnd.toISOString(), end: newEnd.toISOString(), gpuHours: priced.gpuHours, lines, price: priced.total };
        const billing = deps.billing && r.status !== 'held' ? await deps.billing.onExtend(next, { start: extension.start, end: extension.end, lines, total: priced.total }, now) : undefined;
        if (billing?.invoiceId) next = { ...next, invoiceIds: [...next.invoiceIds, billing.invoiceId] };
        extensionOfThisCall = extension;
        const keyId = r.keyId ?? principal.keyId;
        const spendChange: SpendChange =
          r.status === 'held'
            ? { kind: 'extend_held', price: priced.total, keyId: r.keyId ?? null, heldAt: r.createdAt }
            : { kind: 'invoice', amount: priced.total, keyId: r.keyId ?? null };
        const spent = await spend(r.orgId, [spendChange], { amount: priced.total, keyId }, now);
        return {
          items: [...bucketWrites(db, pool.id, shiftHours(snapshot, sH, eH, r.gpus)), onDemandCheck(db, snapshot), reservationReplace(db, r, next), ...(billing?.items ?? []), ...spent.items],
          events: [{ type: 'reservation.extended', data: { ...toApiReservation(next), extension } }, ...(billing?.events ?? []), ...spent.events],
          result: next,
          afterCommit: billing?.afterCommit,
        };
      });
      if (!extensionOfThisCall) throw new DomainError('internal', 'extension committed without its details');
      return { reservation, extension: extensionOfThisCall };
    },

    cancel(principal: Principal, id: string): Promise<Reservation> {
      return change(orgOf(principal), id, async (r, now, changed) => {
        checkCancellable(r, now);
        const refund = cancellationRefund(r, now);
        const pool = await poolById(catalog, r.poolId);
        const sH = epochHour(new Date(r.start));
        const eH = epochHour(new Date(r.end!));
        const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, sH, eH);
        const next = changed({ status: 'cancelled', holdExpiresAt: null, cancelledAt: now.toISOString(), refund });
        // Hours sold to other orgs stay theirs; a lapsing hold's hours taken from listings go back to their sellers.
        const billing = deps.billing && r.status === 'confirmed' ? await deps.billing.onCancel(next, refund, now) : undefined;
        const spendChange: SpendChange =
          r.status === 'held'
            ? { kind: 'release_hold', price: r.price ?? eur(0), keyId: r.keyId ?? null, heldAt: r.createdAt }
            : { kind: 'credit', amount: refund.amount, keyId: r.keyId ?? null };
        const spent = await spend(r.orgId, [spendChange], null, now);
        return {
          items: [
            ...releaseProfileWrites(db, snapshot, releaseProfile(r)),
            reservationReplace(db, r, next),
            ...(r.status === 'held' ? [holdLedgerClose(db, r.orgId, r.poolId, r.gpus)] : []),
            ...(billing?.items ?? []),
            ...spent.items,
          ],
          events: [{ type: 'reservation.cancelled', data: toApiReservation(next) }, ...(billing?.events ?? []), ...spent.events],
          result: next,
          afterCommit: billing?.afterCommit,
        };
      });
    },

    /**
     * Releases the capacity of a confirmed booking not yet started whose invoice is unpaid past its due
     * date and the grace (docs/billing.md, "Unpaid invoices release capacity"): `cancelled`, no refund
     * (the invoice stays due, for finance to pursue or void), `reservation.cancelled` with the reason.
     * Anything else (started, cancelled, paid meanwhile: the caller checks) is left as it is.
     */
    releaseUnpaid(orgId: string, id: string, invoiceId: string): Promise<Reservation> {
      return change(orgId, id, async (r, now, changed) => {
        if (r.status !== 'confirmed' || r.kind !== 'reserved' || new Date(r.start).getTime() <= now.getTime()) return { done: r };
        const refund: Refund = { percent: 0, amount: eur(0), rule: `Released: invoice ${invoiceId} unpaid past its due date and grace; no refund, the invoice stays due` };
        const pool = await poolById(catalog, r.poolId);
        const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, epochHour(new Date(r.start)), epochHour(new Date(r.end!)));
        const next = changed({ status: 'cancelled', holdExpiresAt: null, cancelledAt: now.toISOString(), refund });
        const spent = await spend(r.orgId, [{ kind: 'credit', amount: eur(0), keyId: r.keyId ?? null }], null, now);
        return {
          items: [...releaseProfileWrites(db, snapshot, releaseProfile(r)), reservationReplace(db, r, next), ...spent.items],
          events: [{ type: 'reservation.cancelled', data: { ...toApiReservation(next), reason: 'unpaid_invoice_past_due', invoiceId } }, ...spent.events],
          result: next,
        };
      });
    },

    stop(principal: Principal, id: string): Promise<Reservation> {
      return stopOnDemand(orgOf(principal), id, null);
    },

    /** Stops a running on-demand reservation because its org's spend reached its budget (`stopOnDemandAtLimit`). */
    stopAtBudgetLimit(orgId: string, id: string): Promise<Reservation> {
      return stopOnDemand(orgId, id, 'budget_limit_reached');
    },

    /** What extending to `newEndRaw` would add (lines, GPU-hours, price excluding VAT), changing nothing. */
    async previewExtension(principal: Principal, id: string, newEndRaw: string): Promise<Extension> {
      const r = await getReservation(db, orgOf(principal), id);
      if (!r) throw notFound('Reservation', id);
      const newEnd = new Date(newEndRaw);
      if (Number.isNaN(newEnd.getTime())) throw semantic('end', 'must be a UTC date and time');
      const { priced, lines, oldEnd } = await priceExtension(r, newEnd, clock());
      return { start: oldEnd.toISOString(), end: newEnd.toISOString(), gpuHours: priced.gpuHours, lines, price: priced.total };
    },

    /** What cancelling now would refund, by the policy, changing nothing. */
    async previewCancellation(principal: Principal, id: string): Promise<Refund> {
      const r = await getReservation(db, orgOf(principal), id);
      if (!r) throw notFound('Reservation', id);
      const now = clock();
      checkCancellable(r, now);
      return cancellationRefund(r, now);
    },
  };
}
