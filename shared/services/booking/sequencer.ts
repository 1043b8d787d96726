/**
 * Group commit per pool: new reservations (holds and on-demand starts) of one pool are queued in
 * arrival order; one committer per pool and process takes the queue, reads the pool's buckets, its
 * on-demand total and the orgs' event counters in one BatchGetItem, decides each request in order
 * with the capacity rule (`assertFree`), and commits every admitted one in one TransactWriteItems
 * (each bucket written once, conditioned on the version read). Requests that do not fit in one
 * transaction (100 items, 4 MB) wait for the next round. Other processes (Lambda instances, the
 * sweeper) stay correct alongside: every capacity write is version-conditioned, so a group that lost
 * a race is re-read and re-decided. See docs/decisions.md ("Group commit").
 *
 * The parts: `group-member.ts` (a queued request), `group-read.ts` (the group's read),
 * `group-decide.ts` (who is admitted, the transaction), `group-chain.ts` (an org's later requests in
 * the same round), `group-commit.ts` (a round sent, retried and answered); this file queues requests
 * per pool and runs each pool's committer.
 */
import type { Reservation } from '#domain/reservation.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import type { BookingDeps } from './commit.ts';
import { createGroupCommitter } from './group-commit.ts';
import type { Member, Prepare } from './group-member.ts';

/** A group transaction unanswered this long lets a new committer serve the pool's later requests. */
const STALL_MS = 5_000;
/**
 * How long a committer waits for requests that arrived before the latest queued one but are still
 * in their own checks, so that a slow check does not cost an earlier arrival its place.
 */
const ORDER_WAIT_MS = 500;

export function createSequencer(deps: BookingDeps) {
  const { clock } = deps;
  const { commitGroup, commitsOf } = createGroupCommitter(deps);
  const queues = new Map<string, Member[]>();
  /** Pools whose committer runs in this process. */
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
        member = { orgId, arrivedAt, prepare, prepared: first, culpritRounds: 0, preparedAt: commitsOf(orgId), sent: false, settled: false, resolve, reject };
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
