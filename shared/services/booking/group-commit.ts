/**
 * A pool's group committed (sequencer.ts): each round checks the org's first requests again, chains
 * the org's later ones, decides the group and sends its one transaction; a cancelled transaction
 * blames the requests whose own items failed, a transient failure is retried (after an unclear one,
 * the members whose reservation exists are answered as committed), and every member is answered.
 */
import { DomainError } from '#domain/errors.ts';
import type { Reservation } from '#domain/reservation.ts';
import { batchGetConsistent } from '#store/batched-get.ts';
import { keys } from '#store/keys.ts';
import { DEFAULT_RETRY, isTransient, withOptimisticRetry } from '#store/retry.ts';
import { transact } from '#store/transact.ts';
import type { BookingDeps } from './commit.ts';
import { chain } from './group-chain.ts';
import { decideGroup } from './group-decide.ts';
import { firstPerOrg, settle, type Member } from './group-member.ts';
import { readGroup } from './group-read.ts';

/** A request whose own items failed their condition this often is answered 503 rather than retried again. */
const MAX_CULPRIT_ROUNDS = 3;

export function createGroupCommitter(deps: BookingDeps) {
  const { db, clock, ids } = deps;
  const policy = deps.retry ?? DEFAULT_RETRY;
  /** Each org's commits so far in this process: a member prepared before its org's latest is checked again. */
  const orgCommits = new Map<string, number>();

  const sleep = (attempt: number) =>
    new Promise((r) => setTimeout(r, Math.random() * Math.min(policy.maxTimeoutMs, policy.minTimeoutMs * 1.6 ** attempt)));

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
        // The group's read runs while its first requests are checked again (neither writes); the
        // org counters read cover every org that can have a first request after the checks.
        const read = readGroup(db, members, now, [...new Set(members.map((m) => m.orgId))]);
        read.catch(() => undefined);
        await refresh(firsts.filter((m) => attempt > 0 || m.preparedAt !== (orgCommits.get(m.orgId) ?? 0)), now);
        members = members.filter((m) => !m.settled);
        if (members.length === 0) return [];
        const chainedOn = await chain(members, now);
        members = members.filter((m) => !m.settled);
        const candidates = new Set([...firstPerOrg(members), ...chainedOn.keys()]);
        const { admitted, refused, later, items, owners, final } = await decideGroup(db, ids, members, now, candidates, chainedOn, await read);
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
        for (const m of admitted) m.resolve(final.get(m) ?? m.prepared.reservation);
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
          const again = await m.prepare(now, true);
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

  return {
    commitGroup,
    /** The org's commit count, for `Member.preparedAt`. */
    commitsOf: (orgId: string) => orgCommits.get(orgId) ?? 0,
  };
}
