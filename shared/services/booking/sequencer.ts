/**
 * Group commit per pool: new reservations (holds and on-demand starts) of one pool are queued in
 * arrival order; one committer per pool and process takes the queue, reads the pool's buckets, its
 * on-demand total and the orgs' event counters in one BatchGetItem, decides each request in order
 * with the capacity rule (`assertFree`), and commits every admitted one in one TransactWriteItems
 * (each bucket written once, conditioned on the version read). Requests that do not fit in one
 * transaction (100 items, 4 MB) wait for the next round. Other processes (Lambda instances, the
 * sweeper) stay correct alongside: every capacity write is version-conditioned, so a group that lost
 * a race is re-read and re-decided. See docs/decisions.md ("Group commit").
 */
import { BOOKING_HORIZON_HOURS, assertFree, assertFreeFrom, bucketsForRange, shiftHours, type Bucket } from '#domain/capacity.ts';
import type { Pool } from '#domain/catalog.ts';
import { DomainError } from '#domain/errors.ts';
import type { Reservation } from '#domain/reservation.ts';
import { epochHour } from '#domain/time.ts';
import { batchGetConsistent, bucketChecks, bucketWrites, onDemandCheck, onDemandWrite, readPoolGroup, type PoolSnapshot } from '#store/capacity.ts';
import type { EventDraft, SequenceState } from '#store/events.ts';
import { outboxItems } from '#store/events.ts';
import { keys } from '#store/keys.ts';
import { DEFAULT_RETRY, isTransient, withOptimisticRetry } from '#store/retry.ts';
import { MAX_TRANSACTION_ITEMS, transact, type TransactItem } from '#store/transact.ts';
import type { BookingDeps } from './commit.ts';

/** DynamoDB's 4 MB per transaction, with room for request overhead. */
const MAX_TRANSACTION_BYTES = 3_500_000;
/** A request whose own items failed their condition this often is answered 503 rather than retried again. */
const MAX_CULPRIT_ROUNDS = 3;
/** A group transaction unanswered this long lets a new committer serve the pool's later requests. */
const STALL_MS = 5_000;
/**
 * How long a committer waits for requests that arrived before the latest queued one but are still
 * in their own checks, so that a slow check does not cost an earlier arrival its place.
 */
const ORDER_WAIT_MS = 500;

/** What a new reservation takes: GPUs in hours [startHour, endHour), or (on-demand) in every hour from now on. */
export type Take = { kind: 'hours'; startHour: number; endHour: number; gpus: number } | { kind: 'onDemand'; gpus: number };

/** A create request, checked on its own (quote, idempotency, hooks) and ready to be decided in its pool's group. */
export interface Prepared {
  pool: Pool;
  take: Take;
  /** Names the hours in a refusal, e.g. "every hour of that window in valence-rovaltain-h100". */
  where: string;
  reservation: Reservation;
  /** The request's own items (reservation, quote use, create-request record, hooks' items). */
  items: TransactItem[];
  events: EventDraft[];
  afterCommit?: (() => Promise<void>) | undefined;
}

/** Checks a request alone; returns what it made earlier (`done`) when it is an idempotent replay. */
export type Prepare = (now: Date) => Promise<Prepared | { done: Reservation }>;

interface Member {
  orgId: string;
  /** When its request reached the service (before its own checks): a group is decided in this order. */
  arrivedAt: number;
  prepare: Prepare;
  prepared: Prepared;
  culpritRounds: number;
  /** The org's commit count when it was prepared: a later commit of its org makes what it prepared (spend record) stale. */
  preparedAt: number;
  /** Its items in the last transaction sent, to tell whether that transaction committed after an unclear failure. */
  sent: boolean;
  /** Answered outside its group's outcome (a culprit checked again alone). */
  settled: boolean;
  resolve(r: Reservation): void;
  reject(e: unknown): void;
}

const size = (items: TransactItem[]) => items.reduce((s, i) => s + JSON.stringify(i).length, 0);

function bucketsOf(take: Take, now: Date): number[] {
  if (take.kind === 'hours') return bucketsForRange(take.startHour, take.endHour);
  const from = epochHour(now);
  return bucketsForRange(from, from + BOOKING_HORIZON_HOURS);
}

export function createSequencer(deps: BookingDeps) {
  const { db, clock, ids } = deps;
  const policy = deps.retry ?? DEFAULT_RETRY;
  const queues = new Map<string, Member[]>();
  const orgCommits = new Map<string, number>();
  /**
   * Spend controls, hold limits and hooks write per-org items (spend record, hold ledger) conditioned
   * on what the request read: one request per org per transaction, the org's next one in the next round.
   */
  const running = new Set<string>();
  /** Requests still in their own checks (`prepare`), by arrival time: the order a group waits for. */
  const preparing = new Set<{ arrivedAt: number }>();
  let prepared: () => void = () => undefined;
  const nextPrepared = () => new Promise<void>((r) => (prepared = r));

  /** Until no request that arrived before `queue`'s latest is still in its checks (at most ORDER_WAIT_MS). */
  async function awaitEarlierArrivals(queue: Member[]) {
    const until = performance.now() + ORDER_WAIT_MS;
    for (;;) {
      const latest = Math.max(...queue.map((m) => m.arrivedAt));
      const waiting = [...preparing].some((p) => p.arrivedAt < latest);
      const left = until - performance.now();
      if (!waiting || left <= 0) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([nextPrepared(), new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
  }

  const sleep = (attempt: number) =>
    new Promise((r) => setTimeout(r, Math.random() * Math.min(policy.maxTimeoutMs, policy.minTimeoutMs * 1.6 ** attempt)));

  /**
   * Decides `members` (in order) against a fresh read and builds the group's transaction. Capacity is
   * decided for every member in arrival order; a member that fits but cannot join this transaction
   * (a second request of an org already in it, whose per-org items would be stale, or a transaction
   * already full) keeps its place: its GPUs stay set aside in the working snapshot, so a later
   * arrival cannot take them, and it is committed in the next round. `candidates` are the members
   * checked afresh this round (`refresh`); only they may join the transaction. Returns the admitted,
   * the refused (with their errors) and the members left for the next round.
   */
  async function decide(members: Member[], now: Date, candidates: ReadonlySet<Member>) {
    const poolId = members[0]!.prepared.pool.id;
    const totalGpus = members[0]!.prepared.pool.totalGpus;
    const bucketIds = [...new Set(members.flatMap((m) => bucketsOf(m.prepared.take, now)))].sort((a, b) => a - b);
    const orgIds = [...new Set(members.filter((m) => candidates.has(m)).map((m) => m.orgId))];
    const { snapshot, sequences } = await readPoolGroup(db, poolId, totalGpus, bucketIds, orgIds);
    const buckets = new Map(snapshot.buckets);
    const working: PoolSnapshot = { ...snapshot, buckets };
    const admitted: Member[] = [];
    const refused: { member: Member; error: unknown }[] = [];
    const deferred = new Set<Member>();
    const written = new Set<number>();
    const checked = new Set<number>();
    const orgs = new Set<string>();
    let onDemand = false;
    let full = false;
    let count = 1; // the on-demand counter (check or write)
    let bytes = 0;
    for (const m of members) {
      const { take, where, items, events } = m.prepared;
      try {
        if (take.kind === 'hours') assertFree(working, take.startHour, take.endHour, take.gpus, where);
        else {
          assertFreeFrom(working, epochHour(now), BOOKING_HORIZON_HOURS, take.gpus, where);
        }
      } catch (error) {
        refused.push({ member: m, error });
        continue;
      }
      const touched = bucketsOf(take, now);
      let joins = !full && candidates.has(m) && !orgs.has(m.orgId);
      const extra = items.length + events.length + 1 + touched.filter((b) => !(take.kind === 'hours' ? written.has(b) : written.has(b) || checked.has(b))).length;
      const extraBytes = size(items) + 2_000 * events.length + 8_000 * extra;
      if (joins && admitted.length > 0 && (count + extra > MAX_TRANSACTION_ITEMS || bytes + extraBytes > MAX_TRANSACTION_BYTES)) {
        full = true;
        joins = false;
      }
      // Its GPUs are taken in the working snapshot either way: admitted now, or kept for the next round.
      const shifted = take.kind === 'hours' ? shiftHours(working, take.startHour, take.endHour, take.gpus) : [];
      for (const b of shifted) buckets.set(b.bucket, b);
      if (take.kind === 'onDemand') working.onDemand += take.gpus;
      if (!joins) {
        deferred.add(m);
        continue;
      }
      count += extra;
      bytes += extraBytes;
      orgs.add(m.orgId);
      if (take.kind === 'hours') for (const b of shifted) written.add(b.bucket);
      else {
        onDemand = true;
        for (const b of touched) checked.add(b);
      }
      admitted.push(m);
    }
    const later = members.filter((m) => deferred.has(m));
    if (admitted.length === 0) return { admitted, refused, later, items: [], owners: [] };

    // Build the transaction; `owners[i]` is the member whose own item is at index i (null: shared).
    const items: TransactItem[] = [];
    const owners: (Member | null)[] = [];
    const shared = (list: TransactItem[]) => {
      items.push(...list);
      owners.push(...list.map(() => null));
    };
    // What is written carries the admitted members' GPUs only (not those kept for the next round).
    const committedBuckets = new Map(snapshot.buckets);
    const committed: PoolSnapshot = { ...snapshot, buckets: committedBuckets };
    for (const m of admitted) {
      const { take } = m.prepared;
      if (take.kind === 'hours') for (const b of shiftHours(committed, take.startHour, take.endHour, take.gpus)) committedBuckets.set(b.bucket, b);
      else committed.onDemand += take.gpus;
    }
    const changed: Bucket[] = [...written].map((b) => ({ ...committed.buckets.get(b)!, version: snapshot.buckets.get(b)?.version ?? 0 }));
    shared(bucketWrites(db, poolId, changed));
    shared(onDemand ? [onDemandWrite(db, snapshot, committed.onDemand)] : [onDemandCheck(db, snapshot)]);
    shared(bucketChecks(db, snapshot, [...checked].filter((b) => !written.has(b))));
    for (const orgId of orgs) {
      const mine = admitted.filter((m) => m.orgId === orgId);
      const outbox = outboxItems(db, orgId, mine.flatMap((m) => m.prepared.events), now, ids, sequences.get(orgId) as SequenceState);
      shared(outbox.items);
    }
    for (const m of admitted) {
      items.push(...m.prepared.items);
      owners.push(...m.prepared.items.map(() => m));
    }
    return { admitted, refused, later, items, owners };
  }

  /** After a failure whose outcome is unclear (a timeout), the members whose reservation exists did commit. */
  async function committedEarlier(members: Member[]): Promise<Map<Member, Reservation>> {
    const sent = members.filter((m) => m.sent);
    if (sent.length === 0) return new Map();
    const found = await batchGetConsistent(db, sent.map((m) => keys.reservation(m.orgId, m.prepared.reservation.id)));
    const byId = new Map(found.map((i) => [(i.reservation as Reservation).id, i.reservation as Reservation]));
    return new Map(sent.filter((m) => byId.has(m.prepared.reservation.id)).map((m) => [m, byId.get(m.prepared.reservation.id)!]));
  }

  /** Commits one group; returns the members left for the next round. */
  async function commitGroup(group: Member[]): Promise<Member[]> {
    let members = group;
    const began = Date.now();
    let unclear = false;
    for (let attempt = 0; ; attempt++) {
      try {
        if (unclear) {
          const done = await committedEarlier(members);
          for (const [m, r] of done) m.resolve(r);
          members = members.filter((m) => !done.has(m));
          unclear = false;
        }
        for (const m of members) m.sent = false;
        const now = clock();
        // Only each org's first request can join this round's transaction: only those are checked
        // again (the org's later ones keep their place and are checked when their turn comes).
        const firsts = firstPerOrg(members);
        await refresh(firsts.filter((m) => attempt > 0 || m.preparedAt !== (orgCommits.get(m.orgId) ?? 0)), now);
        members = members.filter((m) => !m.settled);
        if (members.length === 0) return [];
        const { admitted, refused, later, items, owners } = await decide(members, now, new Set(firstPerOrg(members)));
        if (admitted.length > 0) {
          for (const m of admitted) m.sent = true;
          try {
            await transact(db, items);
          } catch (error) {
            const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
            if ((error as Error).name === 'TransactionCanceledException' && reasons) {
              for (const m of admitted) m.sent = false;
              await blameCulprits(reasons, owners, now);
              members = members.filter((m) => !m.settled);
            } else if (isTransient(error)) unclear = true;
            throw error;
          }
          deps.onCommitted?.('group');
          for (const m of admitted) orgCommits.set(m.orgId, (orgCommits.get(m.orgId) ?? 0) + 1);
        }
        for (const m of admitted) m.resolve(m.prepared.reservation);
        for (const { member, error } of refused) member.reject(error);
        return later;
      } catch (error) {
        if (!isTransient(error)) {
          for (const m of members) m.reject(error);
          return [];
        }
        if (attempt >= policy.retries || Date.now() - began >= policy.maxRetryTimeMs) {
          // Whatever the last transaction did, a client retry with its Idempotency-Key finds it.
          for (const m of members) m.reject(new DomainError('contention', 'The pool is busy; retry the request', { retryAfterSeconds: 1 }));
          return [];
        }
        await sleep(attempt);
      }
    }
  }

  /**
   * A cancelled group: a request whose own item failed its condition (its quote used meanwhile, its
   * create request recorded by another process, a hook's check) is checked again alone; the others
   * are re-decided. Shared items (buckets, counters) failing just mean another writer won: re-read.
   */
  async function blameCulprits(reasons: { Code?: string }[], owners: (Member | null)[], now: Date) {
    const culprits = new Set<Member>();
    reasons.forEach((r, i) => {
      const owner = owners[i];
      if (r.Code === 'ConditionalCheckFailed' && owner) culprits.add(owner);
    });
    for (const m of culprits) {
      m.culpritRounds++;
      if (m.culpritRounds > MAX_CULPRIT_ROUNDS) {
        settle(m, () => m.reject(new DomainError('contention', 'The request conflicted with another change; retry it', { retryAfterSeconds: 1 })));
        continue;
      }
      try {
        const again = await withOptimisticRetry(() => m.prepare(now), deps.retry);
        if ('done' in again) settle(m, () => m.resolve(again.done));
        else m.prepared = again;
      } catch (error) {
        settle(m, () => m.reject(error));
      }
    }
  }

  /** Checks members alone again (quote, spend record, hooks) so what they add to the transaction is current. */
  async function refresh(members: Member[], now: Date) {
    await Promise.all(
      members.map(async (m) => {
        const seen = orgCommits.get(m.orgId) ?? 0;
        try {
          const again = await m.prepare(now);
          if ('done' in again) settle(m, () => m.resolve(again.done));
          else {
            m.prepared = again;
            m.preparedAt = seen;
          }
        } catch (error) {
          if (isTransient(error)) throw error;
          settle(m, () => m.reject(error));
        }
      }),
    );
  }

  function firstPerOrg(members: Member[]): Member[] {
    const seen = new Set<string>();
    return members.filter((m) => !seen.has(m.orgId) && seen.add(m.orgId));
  }

  const settle = (m: Member, answer: () => void) => {
    m.settled = true;
    answer();
  };

  /** Starts the pool's committer unless one runs. */
  function kick(poolId: string) {
    if (running.has(poolId)) return;
    running.add(poolId);
    void drain(poolId);
  }

  function requeue(poolId: string, later: Member[]) {
    if (later.length === 0) return;
    let queue = queues.get(poolId);
    if (!queue) queues.set(poolId, (queue = []));
    queue.unshift(...later);
    kick(poolId);
  }

  /**
   * The pool's committer: takes everything queued as one group, commits it, repeats. A group whose
   * transaction hangs (a slow or stuck DynamoDB call) hands the pool to a new committer after
   * `STALL_MS`, so later requests are not held hostage; the two then race on the version conditions,
   * which keeps both correct.
   */
  async function drain(poolId: string) {
    for (;;) {
      const queue = queues.get(poolId);
      if (!queue || queue.length === 0) {
        running.delete(poolId);
        queues.delete(poolId);
        return;
      }
      // Decided in arrival order, not in the order their own checks happened to finish.
      await awaitEarlierArrivals(queue);
      const group = queue.splice(0, queue.length).sort((a, b) => a.arrivedAt - b.arrivedAt);
      const finished = commitGroup(group)
        .catch((error: unknown) => {
          for (const m of group) m.reject(error);
          return [] as Member[];
        })
        .then((later) => requeue(poolId, later));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = await Promise.race([finished.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), STALL_MS)))]);
      clearTimeout(timer);
      if (stalled) {
        running.delete(poolId);
        kick(poolId);
        return;
      }
    }
  }

  return {
    /**
     * Creates one reservation through its pool's group: checks it alone (`prepare`, retried on
     * transient read errors), queues it, and answers when its group committed or refused it.
     */
    async submit(orgId: string, receivedAt: number | undefined, prepare: Prepare): Promise<Reservation> {
      const arrivedAt = receivedAt ?? performance.now();
      const mark = { arrivedAt };
      preparing.add(mark);
      let first: Awaited<ReturnType<Prepare>>;
      try {
        first = await withOptimisticRetry(() => prepare(clock()), deps.retry);
      } finally {
        preparing.delete(mark);
        // Queued below in this same turn, before a waiting committer runs again.
        queueMicrotask(() => prepared());
      }
      if ('done' in first) return first.done;
      const poolId = first.pool.id;
      let member: Member | undefined;
      const reservation = await new Promise<Reservation>((resolve, reject) => {
        member = { orgId, arrivedAt, prepare, prepared: first, culpritRounds: 0, preparedAt: orgCommits.get(orgId) ?? 0, sent: false, settled: false, resolve, reject };
        let queue = queues.get(poolId);
        if (!queue) queues.set(poolId, (queue = []));
        queue.push(member);
        kick(poolId);
      });
      // Its own follow-up work (hooks' afterCommit) runs in the request, not in the committer.
      if (member?.prepared.reservation.id === reservation.id && reservation.version === 1) await member.prepared.afterCommit?.();
      return reservation;
    },
  };
}
export type Sequencer = ReturnType<typeof createSequencer>;
