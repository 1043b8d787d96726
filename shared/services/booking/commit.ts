/**
 * The booking service's dependencies, the effects other services contribute to a booking's
 * transaction, and the optimistic commit loop every change of an existing reservation runs in
 * (creates go through the pool's group commit, sequencer.ts).
 */
import { randomUUID } from 'node:crypto';
import type { SpendChange } from '#domain/budget.ts';
import type { Pool } from '#domain/catalog.ts';
import type { HoldLimits } from '#domain/limits.ts';
import { notFound } from '#domain/errors.ts';
import type { Money } from '#domain/money.ts';
import type { PriceLine } from '#domain/pricing.ts';
import type { Refund, Reservation } from '#domain/reservation.ts';
import type { CatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites, type EventDraft } from '#store/events.ts';
import { getReservation } from '#store/reservations.ts';
import { withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import type { Clock, IdGenerator } from '../../ids.ts';

/**
 * What another service adds to a booking's transaction: items (puts, updates, condition checks
 * written by its own store module) and events, committed atomically with the booking, and work to
 * do once it committed. Throwing a DomainError instead refuses the booking (only that booking, when
 * it is decided in a group).
 */
export interface BookingEffect {
  items: TransactItem[];
  events: EventDraft[];
  afterCommit?: (() => Promise<void>) | undefined;
}

/** What billing adds to a booking transaction (invoice records, credit notes) and does after it commits. */
export interface BillingEffect extends BookingEffect {
  invoiceId?: string;
}

/** What spend controls add to a booking transaction: the org's spend record and alert events. */
export interface SpendEffect {
  items: TransactItem[];
  events: EventDraft[];
}

/**
 * Spend controls' hook (shared/services/budgets.ts): records `changes` in the org's spend record in the
 * booking's own transaction and, with `check`, refuses (402 budget_exceeded) a booking of that amount
 * that would take the org's budget or the key's limit over. Each attempt re-reads the record, so a
 * group commit takes at most one request per org (the record is one item).
 */
export interface ReservationSpend {
  onChange(orgId: string, changes: SpendChange[], check: { amount: Money; keyId: string | null } | null, now: Date): Promise<SpendEffect>;
}

const NO_SPEND: SpendEffect = { items: [], events: [] };

/** The spend hook, or nothing when spend controls are not wired. */
export const spendOf =
  (deps: BookingDeps) =>
  (orgId: string, changes: SpendChange[], check: { amount: Money; keyId: string | null } | null, now: Date): Promise<SpendEffect> =>
    deps.spend ? deps.spend.onChange(orgId, changes, check, now) : Promise.resolve(NO_SPEND);

export interface ReservationBilling {
  onConfirm(r: Reservation, now: Date): Promise<BillingEffect>;
  onExtend(r: Reservation, extension: { start: string; end: string; lines: PriceLine[]; total: Money }, now: Date): Promise<BillingEffect>;
  onCancel(r: Reservation, refund: Refund, now: Date): Promise<BillingEffect>;
}

/**
 * A service's say in bookings (budgets, resale, hold limits…). `onCreate` sees every new reservation
 * (a hold or an on-demand start) before its group commits; `onChange` every change of an existing
 * one (confirm, extend, cancel, stop, timed transition), with the state before and after.
 */
export interface BookingHook {
  onCreate?(r: Reservation, now: Date): Promise<BookingEffect>;
  onChange?(previous: Reservation, next: Reservation, now: Date): Promise<BookingEffect>;
}

export interface BookingDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  catalog: CatalogCache;
  billing?: ReservationBilling | undefined;
  spend?: ReservationSpend | undefined;
  hooks?: BookingHook[] | undefined;
  retry?: RetryPolicy | undefined;
  /**
   * Measured demand for a pool (bps of capacity, e.g. metered GPU usage of the last 7 days). Pricing's
   * utilization is the larger of this and the booked fraction of the quoted window. The composition
   * root passes it cached per pool (services/utilization.ts).
   */
  measuredUtilizationBps?: ((pool: Pool, now: Date) => Promise<number>) | undefined;
  /** Default hold limits, before the operator's overrides per pool and org (DEFAULT_HOLD_LIMITS unless the composition raises them). */
  holdLimits?: HoldLimits | undefined;
  /** Called after each commit (tests use it to crash between writes; metrics use it to count). */
  onCommitted?: ((what: string) => void) | undefined;
}

/** Runs every hook's `onCreate` / `onChange` and merges what they contribute. */
export async function hookEffects(hooks: BookingHook[] | undefined, call: (h: BookingHook) => Promise<BookingEffect> | undefined): Promise<BookingEffect> {
  const effects: BookingEffect[] = [];
  for (const h of hooks ?? []) {
    const e = await call(h);
    if (e) effects.push(e);
  }
  const after = effects.map((e) => e.afterCommit).filter((f): f is () => Promise<void> => f !== undefined);
  return {
    items: effects.flatMap((e) => e.items),
    events: effects.flatMap((e) => e.events),
    afterCommit: after.length === 0 ? undefined : async () => {
      for (const f of after) await f();
    },
  };
}

export type Decision<T> = { items: TransactItem[]; events: EventDraft[]; result: T; afterCommit?: (() => Promise<void>) | undefined } | { done: T };

export function createCommitLoop(deps: BookingDeps) {
  const { db, clock, ids } = deps;

  /**
   * Runs one change: `decide` reads and checks state and returns the writes; the outbox events are
   * appended and everything commits in one transaction. Retried as a whole on lost races.
   */
  async function commit<T>(orgId: string, decide: (now: Date) => Promise<Decision<T>>): Promise<T> {
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
   * A change of one reservation: loads it (a retry of a call that already committed returns its
   * result), lets `decide` compute the next state and its writes, adds the hooks' effects.
   */
  function change(
    orgId: string,
    id: string,
    decide: (r: Reservation, now: Date, changed: (patch: Partial<Reservation>) => Reservation) => Promise<Decision<Reservation>>,
  ): Promise<Reservation> {
    const changeId = randomUUID();
    return commit<Reservation>(orgId, async (now) => {
      const r = await getReservation(db, orgId, id);
      if (!r) throw notFound('Reservation', id);
      if (r.lastChangeId === changeId) return { done: r };
      const changed = (patch: Partial<Reservation>): Reservation => ({ ...r, ...patch, updatedAt: now.toISOString(), lastChangeId: changeId, version: r.version + 1 });
      const decision = await decide(r, now, changed);
      if ('done' in decision || !deps.hooks?.length) return decision;
      const extra = await hookEffects(deps.hooks, (h) => h.onChange?.(r, decision.result, now));
      const afters = [decision.afterCommit, extra.afterCommit].filter((f): f is () => Promise<void> => f !== undefined);
      return {
        items: [...decision.items, ...extra.items],
        events: [...decision.events, ...extra.events],
        result: decision.result,
        afterCommit: afters.length === 0 ? undefined : async () => {
          for (const f of afters) await f();
        },
      };
    });
  }

  return { commit, change };
}
