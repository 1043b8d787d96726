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
 * DynamoDB's cancellation reasons in metering/packing.ts, the counting transactions in
 * metering/counting.ts, the reservation look-ups in metering/reservations.ts, the usage report in
 * metering/report.ts; this file checks a request's events and assembles the service.
 */
import { DomainError, invalidField } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import type { Reservation } from '#domain/reservation.ts';
import type { Clock } from '../ids.ts';
import type { Db } from '#store/db.ts';
import { DEFAULT_RETRY, withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import { USAGE_SHARDS } from '#store/usage.ts';
import { existingClaims } from '#store/usage-claims.ts';
import { createCounter, type RetryTransient } from './metering/counting.ts';
import { countableOf, type Countable } from './metering/packing.ts';
import { createUsageReport } from './metering/report.ts';
import { createReservationLookup } from './metering/reservations.ts';
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

  const retryTransient: RetryTransient = (attempt) =>
    withOptimisticRetry(attempt, policy, 'Usage storage is busy; resend the whole batch (events already counted come back as duplicates)');
  const { countAll } = createCounter({ db, shards, concurrency, retryTransient });
  const reservationsById = createReservationLookup(db, deps.lookupConcurrency ?? 16, retryTransient);

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
