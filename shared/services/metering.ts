/**
 * Metering: sites' agents report GPU usage; each event id is counted exactly once (docs/metering.md).
 *
 * An event is counted by ONE transaction that both claims its id (`UEV#<id>`, condition: absent) and
 * adds its GPU-seconds to the aggregates. Either both happen or neither: there is no state in which
 * the id is taken but the usage is missing, or the usage counted but the id free. Many events share
 * a transaction (up to 100 items); a cancellation because some ids were already claimed marks those
 * as duplicates and retries the rest.
 *
 * The event rules (limits, refusals, splitting by hour and minute) are in metering/rules.ts, the
 * events as what they add to which aggregates, the packing of transactions and the reading of
 * DynamoDB's cancellation reasons in metering/packing.ts, the usage report in metering/report.ts;
 * this file counts (commit, duplicates, caps).
 */
import { randomUUID } from 'node:crypto';
import { DomainError, invalidField } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import type { Reservation } from '#domain/reservation.ts';
import type { Clock } from '../ids.ts';
import type { Db } from '#store/db.ts';
import { DEFAULT_RETRY, withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import {
  USAGE_SHARDS,
  countersInReason,
  incrementItem,
  incrementsOf,
  readReservations,
  reservationOrg,
  shardOf,
} from '#store/usage.ts';
import { claimItem, claimTokenInReason, claimTokensOf, existingClaims } from '#store/usage-claims.ts';
import { PERMANENT_CANCELLATIONS, cancellationReasons, countableOf, fitUnderCaps, mergeIncrements, takeTransaction, type Countable } from './metering/packing.ts';
import { createUsageReport } from './metering/report.ts';
import {
  DEFAULT_TRANSACTION_CONCURRENCY,
  MAX_EVENTS_PER_REQUEST,
  checkEventAgainst,
  checkEventAlone,
  sameContent,
  toEvent,
  type IngestResult,
  type MeteredEvent,
  type UsageEventInput,
} from './metering/rules.ts';

export * from './metering/rules.ts';
export { apportion, fitUnderCaps, takeTransaction, type CapUse } from './metering/packing.ts';
export { MAX_BUCKETS, type UsageQuery, type UsageReport } from './metering/report.ts';

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface MeteringDeps {
  db: Db;
  clock: Clock;
  retry?: RetryPolicy | undefined;
  /** Transactions in flight per request (at most `shards`). */
  transactionConcurrency?: number | undefined;
  /** Write shards per aggregate (docs/metering.md); readers must use the same number. */
  shards?: number | undefined;
  /**
   * When to look for ids already counted: `on_conflict` (default) sends the transactions at once and
   * looks up the remaining claims after the first one that meets a duplicate; `before_commit` always
   * reads all claims first (cheaper for batches known to be resends).
   */
  duplicateCheck?: 'on_conflict' | 'before_commit' | undefined;
  /** Parallel reservation look-ups per request. */
  lookupConcurrency?: number | undefined;
}

export function createMeteringService(deps: MeteringDeps) {
  const { db, clock } = deps;
  const shards = deps.shards ?? USAGE_SHARDS;
  const policy = deps.retry ?? DEFAULT_RETRY;
  const concurrency = deps.transactionConcurrency ?? DEFAULT_TRANSACTION_CONCURRENCY;

  /** Retries throttling, conflicts and timeouts with full jitter; a budget spent answers 503. */
  const retryTransient = <T>(attempt: () => Promise<T>): Promise<T> =>
    withOptimisticRetry(attempt, policy, 'Usage storage is busy; resend the whole batch (events already counted come back as duplicates)');

  /**
   * Commits one packed transaction, its increments on aggregate shard `shard`. A timed-out attempt
   * is resent with the same ClientRequestToken (DynamoDB answers success without applying it twice);
   * a claim found holding this token also proves the transaction committed. Claims held by anyone
   * else are duplicates; the other events are handed back to be packed again. Cancelled on a
   * reservation's capped hour (and on no claim): the events that would pass the cap given what that
   * hour holds now are refused (`exceeds_reservation`), the others handed back.
   */
  async function commitTransaction(
    batch: Countable[],
    shard: number,
    now: Date,
  ): Promise<{ accepted: Countable[]; duplicates: Countable[]; over: Countable[]; retry: Countable[] }> {
    const token = randomUUID();
    const increments = mergeIncrements(batch.flatMap((c) => c.pieces.flatMap((p) => incrementsOf(p, shard))));
    const items: TransactItem[] = [
      ...batch.map((c) =>
        claimItem(
          db,
          {
            eventId: c.event.id,
            reservationId: c.event.reservationId,
            start: new Date(c.event.startSec * 1000).toISOString(),
            end: new Date(c.event.endSec * 1000).toISOString(),
            gpus: c.event.gpus,
            gpuSeconds: c.gpuSeconds,
            claimToken: token,
          },
          now,
        ),
      ),
      ...increments.map((inc) => incrementItem(db, inc)),
    ];
    let conflicted = false;
    return retryTransient(async () => {
      if (conflicted) {
        // Another writer holds an item we write (the reservation's hour, most often: it is one item).
        // Concurrent resends of the same events are the usual cause: look at the claims before retrying.
        conflicted = false;
        const claims = await claimTokensOf(db, batch.map((c) => c.event.id));
        if ([...claims.values()].includes(token)) return { accepted: batch, duplicates: [], over: [], retry: [] };
        if (claims.size > 0) return { accepted: [], duplicates: batch.filter((c) => claims.has(c.event.id)), over: [], retry: batch.filter((c) => !claims.has(c.event.id)) };
      }
      try {
        await transact(db, items, token);
        return { accepted: batch, duplicates: [], over: [], retry: [] };
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (!reasons) {
          if (error instanceof Error && error.name === 'TransactionConflictException') conflicted = true;
          throw error;
        }
        if (reasons.some((r) => r.Code === 'TransactionConflict')) conflicted = true;
        const claimed = batch.flatMap((_, i) => (reasons[i]?.Code === 'ConditionalCheckFailed' ? [i] : []));
        if (claimed.length === 0) {
          const permanent = reasons.find((r) => r.Code && PERMANENT_CANCELLATIONS.has(r.Code));
          if (permanent) throw new Error(`usage transaction refused: ${permanent.Code}`);
          // Claims all free: a capped hour refused. Its current counts come back with the cancellation.
          const current = new Map<string, Map<string, number>>();
          increments.forEach((inc, j) => {
            const reason = reasons[batch.length + j];
            if (inc.limits && reason?.Code === 'ConditionalCheckFailed') current.set(inc.id, countersInReason(reason.Item, Object.keys(inc.limits)));
          });
          if (current.size === 0) throw error;
          const { fit, over } = fitUnderCaps(batch, current);
          return { accepted: [], duplicates: [], over, retry: fit };
        }
        if (claimed.some((i) => claimTokenInReason(reasons[i]!.Item) === token)) {
          return { accepted: batch, duplicates: [], over: [], retry: [] };
        }
        // Duplicates decide first: an id already counted is a duplicate, whatever the caps say.
        const taken = new Set(claimed);
        return {
          accepted: [],
          duplicates: batch.filter((_, i) => taken.has(i)),
          over: [],
          retry: batch.filter((_, i) => !taken.has(i)),
        };
      }
    });
  }

  /**
   * Counts the queue with up to `transactionConcurrency` transactions in flight. Each worker writes
   * its increments to its own aggregate shard, so a request's transactions never touch the same item
   * (they cannot conflict with each other). The first transaction that meets already-claimed ids
   * shows the batch is (partly) a resend: the claims of the remaining events are then looked up once
   * and the claimed ones dropped, so a resent batch costs about one cancelled transaction. A
   * reservation's capped hour is written by one transaction of the request at a time.
   */
  async function countAll(queue: Countable[], now: Date, lookedUp: boolean): Promise<{ accepted: number; duplicates: number; over: Countable[] }> {
    const state: {
      rest: Countable[];
      accepted: number;
      duplicates: number;
      over: Countable[];
      lookup: Promise<void> | null;
      busy: Set<string>;
      inFlight: Set<Promise<unknown>>;
    } = {
      rest: queue,
      accepted: 0,
      duplicates: 0,
      over: [],
      lookup: lookedUp ? Promise.resolve() : null,
      busy: new Set(),
      inFlight: new Set(),
    };
    const first = queue[0];
    if (!first) return { accepted: 0, duplicates: 0, over: [] };
    const lookUpRemainingClaims = async () => {
      const claimed = await retryTransient(() => existingClaims(db, state.rest.map((c) => c.event.id)));
      const before = state.rest.length;
      state.rest = state.rest.filter((c) => !claimed.has(c.event.id));
      state.duplicates += before - state.rest.length;
    };
    const base = shardOf(first.event.id, shards);
    const worker = async (w: number) => {
      const shard = (base + w) % shards;
      for (;;) {
        if (state.lookup) await state.lookup;
        if (state.rest.length === 0) return;
        const batch = takeTransaction(state.rest, { busy: state.busy });
        if (batch.length === 0) {
          if (state.inFlight.size === 0) throw new Error('no usage event can be packed although nothing is in flight');
          // Everything left touches an hour another transaction is writing: wait for one to finish
          // (its failure is its worker's to report; this worker goes on with what is left).
          await Promise.race(state.inFlight).catch(() => undefined);
          continue;
        }
        const taken = new Set(batch);
        state.rest = state.rest.filter((c) => !taken.has(c));
        const capIds = [...new Set(batch.flatMap((c) => c.caps.map((cap) => cap.id)))];
        for (const id of capIds) state.busy.add(id);
        const commit = commitTransaction(batch, shard, now);
        state.inFlight.add(commit);
        const outcome = await commit.finally(() => {
          state.inFlight.delete(commit);
          for (const id of capIds) state.busy.delete(id);
        });
        state.accepted += outcome.accepted.length;
        state.duplicates += outcome.duplicates.length;
        state.over.push(...outcome.over);
        state.rest = [...outcome.retry, ...state.rest];
        if (outcome.duplicates.length > 0 && !state.lookup) state.lookup = lookUpRemainingClaims();
      }
    };
    const settled = await Promise.allSettled(Array.from({ length: Math.min(concurrency, shards) }, (_, w) => worker(w)));
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) throw failure.reason;
    return { accepted: state.accepted, duplicates: state.duplicates, over: state.over };
  }

  /** reservation id → org id: immutable, so cached for the life of the process (bounded). */
  const orgOfReservation = new Map<string, string>();
  const ORG_CACHE_LIMIT = 100_000;

  /** The reservations a batch refers to, read strongly consistently (their status and end matter). */
  async function reservationsById(ids: string[]): Promise<Map<string, Reservation>> {
    const unknown = ids.filter((id) => !orgOfReservation.has(id));
    const orgs = await mapLimited(unknown, deps.lookupConcurrency ?? 16, (id) => retryTransient(() => reservationOrg(db, id)));
    if (orgOfReservation.size + unknown.length > ORG_CACHE_LIMIT) orgOfReservation.clear();
    unknown.forEach((id, i) => {
      const orgId = orgs[i];
      if (orgId) orgOfReservation.set(id, orgId);
    });
    const refs = ids.flatMap((id) => {
      const orgId = orgOfReservation.get(id);
      return orgId ? [{ orgId, id }] : [];
    });
    return retryTransient(() => readReservations(db, refs));
  }

  return {
    ...createUsageReport({ db, clock, shards }),

    /**
     * Ingests a meter's batch: validates each event, drops ids already counted, and counts the rest
     * exactly once. Never half-counts an event; on 503 the caller resends the whole batch.
     */
    async ingest(principal: Principal, input: UsageEventInput[]): Promise<IngestResult> {
      if (principal.role !== 'meter') throw new DomainError('forbidden', `Usage is posted by meter keys; this key is a ${principal.role} key`);
      if (input.length > MAX_EVENTS_PER_REQUEST) throw invalidField('events', `at most ${MAX_EVENTS_PER_REQUEST} events per request`);
      const now = clock();
      const result: IngestResult = { accepted: 0, duplicates: 0, rejected: [] };

      const firstById = new Map<string, MeteredEvent>();
      const candidates: MeteredEvent[] = [];
      for (const raw of input) {
        const e = toEvent(raw);
        const first = firstById.get(e.id);
        if (first) {
          if (sameContent(first, e)) result.duplicates++;
          else result.rejected.push({ id: e.id, reason: 'duplicate_in_batch' });
          continue;
        }
        firstById.set(e.id, e);
        const reason = checkEventAlone(e, now);
        if (reason) result.rejected.push({ id: e.id, reason });
        else candidates.push(e);
      }

      const reservations = await reservationsById([...new Set(candidates.map((e) => e.reservationId))]);
      const valid: { event: MeteredEvent; reservation: Reservation }[] = [];
      for (const e of candidates) {
        const r = reservations.get(e.reservationId) ?? null;
        const reason = checkEventAgainst(e, r, principal.siteId);
        if (reason) result.rejected.push({ id: e.id, reason });
        else valid.push({ event: e, reservation: r! });
      }

      const lookUpFirst = deps.duplicateCheck === 'before_commit';
      const claimed = lookUpFirst ? await retryTransient(() => existingClaims(db, valid.map((v) => v.event.id))) : new Set<string>();
      const queue: Countable[] = [];
      for (const { event, reservation: r } of valid) {
        if (claimed.has(event.id)) {
          result.duplicates++;
          continue;
        }
        queue.push(countableOf(event, r));
      }
      // Events of one reservation and hour next to each other share aggregate items: fuller transactions.
      queue.sort((a, b) => a.event.reservationId.localeCompare(b.event.reservationId) || a.event.startSec - b.event.startSec);
      const counted = await countAll(queue, now, lookUpFirst);
      result.accepted += counted.accepted;
      result.duplicates += counted.duplicates;
      for (const c of counted.over) result.rejected.push({ id: c.event.id, reason: 'exceeds_reservation' });
      return result;
    },
  };
}

export type MeteringService = ReturnType<typeof createMeteringService>;
