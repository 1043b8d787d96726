/**
 * Counting a request's events exactly once (see services/metering.ts): each packed batch in ONE
 * transaction that claims its ids and adds its increments on one aggregate shard, resent with the same
 * ClientRequestToken after a timeout; a cancellation read for duplicates (claims held by others) and
 * capped hours; several transactions in flight on different shards.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '#store/db.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import { shardOf } from '#store/usage.ts';
import { countersInReason, incrementItem, incrementsOf } from '#store/usage-increments.ts';
import { claimItem, claimTokenInReason, claimTokensOf, existingClaims } from '#store/usage-claims.ts';
import { PERMANENT_CANCELLATIONS, cancellationReasons, fitUnderCaps, mergeIncrements, takeTransaction, type Countable } from './packing.ts';

/** Retries a storage call on transient errors (throttling, conflicts, timeouts); a spent budget answers 503. */
export type RetryTransient = <T>(attempt: () => Promise<T>) => Promise<T>;

export function createCounter(deps: { db: Db; shards: number; concurrency: number; retryTransient: RetryTransient }) {
  const { db, shards, concurrency, retryTransient } = deps;

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

  return { countAll };
}
