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
 * packing of transactions and the reading of DynamoDB's cancellation reasons in metering/packing.ts;
 * this file counts (commit, duplicates, caps) and reads the usage report.
 */
import { randomUUID } from 'node:crypto';
import { DomainError, invalidField, notFound } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import { remainingGpusAt } from '#domain/resale.ts';
import type { Reservation } from '#domain/reservation.ts';
import { DAY_MS, HOUR_MS } from '#domain/time.ts';
import type { Clock } from '../ids.ts';
import type { Db } from '#store/db.ts';
import { findReservation, getReservation } from '#store/reservations.ts';
import { DEFAULT_RETRY, withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import {
  USAGE_SHARDS,
  claimItem,
  claimTokenInReason,
  claimTokensOf,
  countersInReason,
  existingClaims,
  incrementItem,
  incrementsOf,
  readReservations,
  reservationOrg,
  shardOf,
  usageByHour,
  type UsagePiece,
  type UsageScope,
} from '#store/usage.ts';
import { PERMANENT_CANCELLATIONS, apportion, cancellationReasons, fitUnderCaps, mergeIncrements, takeTransaction, type CapUse } from './metering/packing.ts';
import {
  DEFAULT_TRANSACTION_CONCURRENCY,
  MAX_EVENTS_PER_REQUEST,
  checkEventAgainst,
  checkEventAlone,
  sameContent,
  splitByHour,
  splitByMinute,
  toEvent,
  type IngestResult,
  type MeteredEvent,
  type UsageEventInput,
} from './metering/rules.ts';

export * from './metering/rules.ts';
export { apportion, fitUnderCaps, takeTransaction, type CapUse } from './metering/packing.ts';

/** An accepted event ready to count: its GPU-seconds per hour and the aggregates those touch. */
interface Countable {
  event: MeteredEvent;
  gpuSeconds: number;
  pieces: UsagePiece[];
  /** Identities of the aggregate items it increments (the same for every shard). */
  aggregateIds: string[];
  /** The capped items among them (its reservation's hours), with its per-minute counts. */
  caps: CapUse[];
}

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

export interface UsageQuery {
  reservationId?: string | undefined;
  orgId?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  granularity: 'hour' | 'day';
}

export interface UsageReport {
  reservationId: string | null;
  orgId: string;
  granularity: 'hour' | 'day';
  from: string;
  to: string;
  gpuSeconds: number;
  buckets: { start: string; gpuSeconds: number }[];
  reservedGpuHours: number | null;
  usedGpuHours: number;
}

/** Most buckets one read returns: 92 days of hours, or 400 days. */
export const MAX_BUCKETS = { hour: 92 * 24, day: 400 } as const;
const UNIT_MS = { hour: HOUR_MS, day: DAY_MS } as const;
/** Range of an org-wide read without `from`: the last day of hours, or the last 30 days. */
const DEFAULT_ORG_BUCKETS = { hour: 24, day: 30 } as const;
const RESERVING: ReadonlySet<Reservation['status']> = new Set(['confirmed', 'active', 'completed']);

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

  /** Where a reader may look: its own org (customer) or any org (finance). */
  async function resolveTarget(principal: Principal, q: UsageQuery): Promise<{ orgId: string; reservation: Reservation | null }> {
    if (principal.role === 'customer') {
      const own = principal.orgId;
      if (!own) throw new DomainError('forbidden', 'This customer key has no org');
      if (q.orgId !== undefined && q.orgId !== own) throw notFound('Org', q.orgId);
      if (q.reservationId === undefined) return { orgId: own, reservation: null };
      const r = await getReservation(db, own, q.reservationId);
      if (!r) throw notFound('Reservation', q.reservationId);
      return { orgId: own, reservation: r };
    }
    if (principal.role !== 'finance') throw new DomainError('forbidden', `Usage is read by customer or finance keys; this key is a ${principal.role} key`);
    if (q.reservationId === undefined) {
      if (q.orgId === undefined) throw invalidField('orgId', 'required for finance keys when reservationId is not given');
      return { orgId: q.orgId, reservation: null };
    }
    const r = await findReservation(db, q.reservationId);
    if (!r || (q.orgId !== undefined && r.orgId !== q.orgId)) throw notFound('Reservation', q.reservationId);
    return { orgId: r.orgId, reservation: r };
  }

  return {
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
        const split = splitByHour(event.startSec, event.endSec, event.gpus);
        const energy = event.energyWh === null ? null : apportion(event.energyWh, split.map((p) => p.gpuSeconds));
        const pieces = split.map(
          (p, i): UsagePiece => ({
            reservationId: r.id,
            orgId: r.orgId,
            poolId: r.poolId,
            onDemand: r.kind === 'on_demand',
            epochHour: p.epochHour,
            gpuSeconds: p.gpuSeconds,
            measured: energy ? { gpuSeconds: p.gpuSeconds, energyWh: energy[i]! } : undefined,
            capped: { perMinute: remainingGpusAt(r, p.epochHour) * 60, minutes: splitByMinute(event.startSec, event.endSec, event.gpus, p.epochHour) },
          }),
        );
        const increments = pieces.flatMap((p) => incrementsOf(p, 0));
        const aggregateIds = [...new Set(increments.map((i) => i.id))];
        const caps = increments.flatMap((i): CapUse[] => {
          const limits = i.limits;
          return limits ? [{ id: i.id, adds: Object.fromEntries(Object.entries(i.adds ?? {}).filter(([name]) => name in limits)), limits }] : [];
        });
        queue.push({ event, gpuSeconds: pieces.reduce((sum, p) => sum + p.gpuSeconds, 0), pieces, aggregateIds, caps });
      }
      // Events of one reservation and hour next to each other share aggregate items: fuller transactions.
      queue.sort((a, b) => a.event.reservationId.localeCompare(b.event.reservationId) || a.event.startSec - b.event.startSec);
      const counted = await countAll(queue, now, lookUpFirst);
      result.accepted += counted.accepted;
      result.duplicates += counted.duplicates;
      for (const c of counted.over) result.rejected.push({ id: c.event.id, reason: 'exceeds_reservation' });
      return result;
    },

    /** GPU-seconds of a reservation or an org per hour or day, with reserved vs used GPU-hours. */
    async usage(principal: Principal, q: UsageQuery): Promise<UsageReport> {
      const { orgId, reservation: r } = await resolveTarget(principal, q);
      const now = clock();
      const unit = UNIT_MS[q.granularity];
      const floorTo = (ms: number) => Math.floor(ms / unit) * unit;
      const ceilTo = (ms: number) => Math.ceil(ms / unit) * unit;

      let toMs: number;
      if (q.to !== undefined) toMs = ceilTo(Date.parse(q.to));
      else if (r) toMs = ceilTo(Math.max(Date.parse(r.start), Math.min(r.end ? Date.parse(r.end) : now.getTime(), now.getTime())));
      else toMs = ceilTo(now.getTime());

      let fromMs: number;
      if (q.from !== undefined) fromMs = floorTo(Date.parse(q.from));
      else if (r) fromMs = Math.max(floorTo(Date.parse(r.start)), toMs - MAX_BUCKETS[q.granularity] * unit);
      else fromMs = toMs - DEFAULT_ORG_BUCKETS[q.granularity] * unit;

      if (toMs < fromMs) throw invalidField('to', 'must not be before from');
      const count = (toMs - fromMs) / unit;
      if (count > MAX_BUCKETS[q.granularity]) {
        throw invalidField('from', `at most ${MAX_BUCKETS[q.granularity]} ${q.granularity} buckets per read${q.granularity === 'hour' ? '; use granularity=day or a shorter range' : ''}`);
      }

      const scope: UsageScope = r ? { kind: 'reservation', id: r.id } : { kind: 'org', id: orgId };
      const byHour = await usageByHour(db, scope, fromMs / HOUR_MS, toMs / HOUR_MS, shards);
      const buckets = Array.from({ length: count }, (_, i) => ({ start: new Date(fromMs + i * unit).toISOString(), gpuSeconds: 0 }));
      let gpuSeconds = 0;
      for (const [hour, seconds] of byHour) {
        buckets[Math.floor((hour * HOUR_MS - fromMs) / unit)]!.gpuSeconds += seconds;
        gpuSeconds += seconds;
      }

      let reservedGpuHours: number | null = null;
      if (r && r.kind === 'reserved') {
        const overlapMs = Math.max(0, Math.min(toMs, Date.parse(r.end!)) - Math.max(fromMs, Date.parse(r.start)));
        reservedGpuHours = RESERVING.has(r.status) ? (overlapMs / HOUR_MS) * r.gpus : 0;
      }
      return {
        reservationId: r?.id ?? null,
        orgId,
        granularity: q.granularity,
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        gpuSeconds,
        buckets,
        reservedGpuHours,
        usedGpuHours: Math.round(gpuSeconds / 3.6) / 1000,
      };
    },
  };
}

export type MeteringService = ReturnType<typeof createMeteringService>;
