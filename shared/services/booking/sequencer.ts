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
import { BOOKING_HORIZON_HOURS, assertFree, assertFreeFrom, availableAt, bucketsForRange, shiftHours, type Bucket } from '#domain/capacity.ts';
import { allocate, eligibleFor, isSellable, resaleOf, resaleOrder, runGpuHours, shiftTaken, toRuns, withResale, type Fill, type Listing, type PurchaseRef, type Run } from '#domain/resale.ts';
import { eur } from '#domain/money.ts';
import { listingReplace, openListingsOfPool } from '#store/listings.ts';
import { reservationCreate, reservationReplace } from '#store/reservations.ts';
import type { Pool } from '#domain/catalog.ts';
import { DomainError } from '#domain/errors.ts';
import type { Reservation } from '#domain/reservation.ts';
import { epochHour } from '#domain/time.ts';
import { bucketChecks, bucketWrites, onDemandCheck, onDemandWrite, readPoolGroup, type PoolSnapshot } from '#store/capacity.ts';
import type { EventDraft, SequenceState } from '#store/events.ts';
import { outboxItems } from '#store/events.ts';
import { keys } from '#store/keys.ts';
import { DEFAULT_RETRY, isTransient, withOptimisticRetry } from '#store/retry.ts';
import { MAX_TRANSACTION_ITEMS, transact, type TransactItem } from '#store/transact.ts';
import { batchGetConsistent, readingAfter } from '#store/batched-get.ts';
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
/** At most this many requests of one org are chained into one round (each checked after the one before). */
const MAX_CHAIN = 16;

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

/**
 * Checks a request alone; returns what it made earlier (`done`) when it is an idempotent replay.
 * `orgStateOnly`: checked again because its org's earlier request committed meanwhile, so only the
 * org's own records (hold ledger, spend record, hooks' items) need reading again.
 */
export type Prepare = (now: Date, orgStateOnly?: boolean) => Promise<Prepared | { done: Reservation }>;

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

/** The table key an item writes or checks. */
function itemKey(i: TransactItem): string {
  const k = (i.Put?.Item ?? i.Update?.Key ?? i.Delete?.Key ?? i.ConditionCheck?.Key) as { pk: string; sk: string };
  return `${k.pk}\u0000${k.sk}`;
}

/** `next` replaces the item `before` puts, checked as if `before` had committed: both whole-item puts, `next` conditioned on the version `before` writes. */
function chainable(before: TransactItem, next: TransactItem): boolean {
  const version = before.Put?.Item?.version;
  return typeof version === 'number' && next.Put?.ExpressionAttributeValues?.[':v'] === version;
}

/** One put of both: `next`'s item under `before`'s condition (what the pair does when committed one after the other). */
function mergeChained(before: TransactItem, next: TransactItem): TransactItem {
  const { ConditionExpression, ExpressionAttributeValues, ExpressionAttributeNames } = before.Put!;
  return {
    Put: {
      TableName: next.Put!.TableName,
      Item: next.Put!.Item,
      ...(ConditionExpression ? { ConditionExpression } : {}),
      ...(ExpressionAttributeValues ? { ExpressionAttributeValues } : {}),
      ...(ExpressionAttributeNames ? { ExpressionAttributeNames } : {}),
    },
  };
}

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
  async function decide(members: Member[], now: Date, candidates: ReadonlySet<Member>, chainedOn: ReadonlyMap<Member, Member>, read: GroupRead) {
    const pool = members[0]!.prepared.pool;
    const poolId = pool.id;
    const { snapshot, sequences, market } = read;
    const buckets = new Map(snapshot.buckets);
    const working: PoolSnapshot = { ...snapshot, buckets };
    // Resale: listings as written (the admitted members' takes) and as decided from (`shadow`: also the
    // takes of members kept for the next round, set aside like their GPUs), and the sellers' reservations.
    const listings = new Map(market.listings);
    const shadow = new Map(market.listings);
    const sellers = new Map(market.sellers);
    const touchedListings = new Set<string>();
    const touchedSellers = new Set<string>();
    /** Members whose reservation took listed hours: the reservation with its purchases and its items with it. */
    const resold = new Map<Member, { reservation: Reservation; items: TransactItem[] }>();
    /** What each admitted reserved member takes from the operator's free GPUs (all of it without listings). */
    const operatorRuns = new Map<Member, Run[]>();
    const admitted: Member[] = [];
    const refused: { member: Member; error: unknown }[] = [];
    const deferred = new Set<Member>();
    const written = new Set<number>();
    const checked = new Set<number>();
    const orgs = new Set<string>();
    /** The org's last member admitted to this transaction, and the org's own items by key (merged below). */
    const lastOfOrg = new Map<string, Member>();
    const ownByKey = new Map<string, TransactItem>();
    let onDemand = false;
    let full = false;
    let count = 1; // the on-demand counter (check or write)
    let bytes = 0;
    for (const m of members) {
      const { take, where, items, events } = m.prepared;
      let taken: ReturnType<typeof allocate> | null = null;
      try {
        if (take.kind === 'hours') {
          // The capacity rule with resale: the operator's free GPUs (assertFree's count) plus the listed
          // GPUs this booking may take, hour by hour (shared/domain/resale.ts `allocate`).
          const gpuHours = take.gpus * (take.endHour - take.startHour);
          const eligible = [...shadow.values()].filter((l) => sellers.has(l.reservationId) && eligibleFor(l, m.orgId, m.prepared.reservation.price ?? eur(0), gpuHours));
          if (eligible.length === 0) assertFree(working, take.startHour, take.endHour, take.gpus, where);
          else taken = allocate({ startHour: take.startHour, endHour: take.endHour, gpus: take.gpus, order: resaleOrder(pool), now, where }, (h) => availableAt(working, h), eligible);
        } else {
          assertFreeFrom(working, epochHour(now), BOOKING_HORIZON_HOURS, take.gpus, where);
        }
      } catch (error) {
        refused.push({ member: m, error });
        continue;
      }
      const touched = bucketsOf(take, now);
      // An org's first request joins alone; a later one only chained on the org's last admitted request
      // (checked as if that one had committed), its org records merging into that one's (`chainable`).
      const predecessor = chainedOn.get(m);
      const collisions = items.filter((i) => ownByKey.has(itemKey(i)));
      let joins =
        !full &&
        candidates.has(m) &&
        (predecessor ? lastOfOrg.get(m.orgId) === predecessor && collisions.every((i) => chainable(ownByKey.get(itemKey(i))!, i)) : !orgs.has(m.orgId));
      const newListings = taken ? [...taken.takes.keys()].filter((id) => !touchedListings.has(id)) : [];
      const newSellers = new Set(newListings.map((id) => shadow.get(id)!.reservationId).filter((id) => !touchedSellers.has(id)));
      const extra =
        items.length - (joins ? collisions.length : 0) + events.length + 1 + newListings.length + newSellers.size + touched.filter((b) => !(take.kind === 'hours' ? written.has(b) : written.has(b) || checked.has(b))).length;
      const extraBytes = size(items) + 2_000 * events.length + 8_000 * extra;
      if (joins && admitted.length > 0 && (count + extra > MAX_TRANSACTION_ITEMS || bytes + extraBytes > MAX_TRANSACTION_BYTES)) {
        full = true;
        joins = false;
      }
      // Its GPUs are taken in the working snapshot either way: admitted now, or kept for the next round.
      // GPU-hours taken from listings stay in `used` (they move from the seller's reservation to this one).
      const runs: Run[] =
        take.kind !== 'hours' ? [] : taken ? toRuns(take.startHour, taken.fromListings.map((n) => take.gpus - n)) : [{ startHour: take.startHour, endHour: take.endHour, gpus: take.gpus }];
      const shifted = new Set<number>();
      for (const run of runs) {
        for (const b of shiftHours(working, run.startHour, run.endHour, run.gpus)) {
          buckets.set(b.bucket, b);
          shifted.add(b.bucket);
        }
      }
      if (taken) for (const [id, took] of taken.takes) shadow.set(id, { ...shadow.get(id)!, taken: shiftTaken(shadow.get(id)!, took, 1) });
      if (take.kind === 'onDemand') working.onDemand += take.gpus;
      if (!joins) {
        deferred.add(m);
        continue;
      }
      count += extra;
      bytes += extraBytes;
      orgs.add(m.orgId);
      lastOfOrg.set(m.orgId, m);
      for (const i of items) ownByKey.set(itemKey(i), i);
      if (take.kind === 'hours') {
        for (const b of shifted) written.add(b);
        operatorRuns.set(m, runs);
        if (taken) resold.set(m, takeListed(m, taken.takes, listings, sellers, touchedListings, touchedSellers, now));
      } else {
        onDemand = true;
        for (const b of touched) checked.add(b);
      }
      admitted.push(m);
    }
    const later = members.filter((m) => deferred.has(m));
    if (admitted.length === 0) return { admitted, refused, later, items: [], owners: [], final: new Map<Member, Reservation>() };

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
      if (take.kind === 'hours') {
        for (const run of operatorRuns.get(m) ?? []) for (const b of shiftHours(committed, run.startHour, run.endHour, run.gpus)) committedBuckets.set(b.bucket, b);
      } else committed.onDemand += take.gpus;
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
    shared([...touchedListings].map((id) => listingReplace(db, market.listings.get(id)!.version, { ...listings.get(id)!, version: market.listings.get(id)!.version + 1 })));
    shared(
      [...touchedSellers].map((id) => {
        const before = market.sellers.get(id)!;
        return reservationReplace(db, before, { ...sellers.get(id)!, updatedAt: now.toISOString(), version: before.version + 1 });
      }),
    );
    const final = new Map<Member, Reservation>();
    // A chained request's org records replace its predecessor's (the later state, the first condition).
    const at = new Map<string, number>();
    for (const m of admitted) {
      const own = resold.get(m)?.items ?? m.prepared.items;
      final.set(m, resold.get(m)?.reservation ?? m.prepared.reservation);
      for (const item of own) {
        const k = itemKey(item);
        const i = at.get(k);
        if (i === undefined) {
          at.set(k, items.length);
          items.push(item);
          owners.push(m);
        } else items[i] = mergeChained(items[i]!, item);
      }
    }
    return { admitted, refused, later, items, owners, final };
  }

  /**
   * What a group is decided from: the pool's buckets over the hours its members ask, its on-demand
   * total, the event counters of the orgs whose first request may join (`orgIds`), and the listings.
   */
  async function readGroup(members: Member[], now: Date, orgIds: string[]) {
    const pool = members[0]!.prepared.pool;
    const bucketIds = [...new Set(members.flatMap((m) => bucketsOf(m.prepared.take, now)))].sort((a, b) => a - b);
    const [{ snapshot, sequences }, market] = await Promise.all([readPoolGroup(db, pool.id, pool.totalGpus, bucketIds, orgIds), readListed(members, now)]);
    return { snapshot, sequences, market };
  }
  type GroupRead = Awaited<ReturnType<typeof readGroup>>;

  /**
   * Resale: the open listings of the pool over the hours the group's reserved requests ask (the
   * sparse index, then a consistent read) and their sellers' reservations, still confirmed or active.
   * A listing created after this read is simply not offered to this group.
   */
  async function readListed(members: Member[], now: Date): Promise<{ listings: Map<string, Listing>; sellers: Map<string, Reservation> }> {
    const hours = members.map((m) => m.prepared.take).filter((t): t is Extract<Take, { kind: 'hours' }> => t.kind === 'hours');
    if (hours.length === 0) return { listings: new Map(), sellers: new Map() };
    const poolId = members[0]!.prepared.pool.id;
    const found = (await openListingsOfPool(db, poolId, Math.min(...hours.map((t) => t.startHour)), Math.max(...hours.map((t) => t.endHour)))).filter((l) => isSellable(l, now));
    if (found.length === 0) return { listings: new Map(), sellers: new Map() };
    const refs = [...new Map(found.map((l) => [l.reservationId, keys.reservation(l.orgId, l.reservationId)])).values()];
    const sellers = (await batchGetConsistent(db, refs)).map((i) => i.reservation as Reservation).filter((r) => r.status === 'confirmed' || r.status === 'active');
    return { listings: new Map(found.map((l) => [l.id, l])), sellers: new Map(sellers.map((r) => [r.id, r])) };
  }

  /**
   * Moves the listed GPU-hours a member takes: each listing's taken hours and a provisional fill,
   * each seller reservation's sold hours, and the member's reservation with its purchases (its
   * create item rebuilt). Working copies only; the group writes each listing and seller once.
   */
  function takeListed(
    m: Member,
    takes: Map<string, Run[]>,
    listings: Map<string, Listing>,
    sellers: Map<string, Reservation>,
    touchedListings: Set<string>,
    touchedSellers: Set<string>,
    now: Date,
  ): { reservation: Reservation; items: TransactItem[] } {
    const r = m.prepared.reservation;
    const bought: PurchaseRef[] = [];
    for (const [listingId, runs] of takes) {
      const l = listings.get(listingId)!;
      const fillId = ids.next('fill');
      const fill: Fill = { id: fillId, buyerReservationId: r.id, buyerOrgId: m.orgId, runs, gpuHours: runGpuHours(runs), settled: false, at: now.toISOString(), gross: null, fee: null, earnings: null, settledAt: null };
      listings.set(listingId, { ...l, taken: shiftTaken(l, runs, 1), fills: [...l.fills, fill], updatedAt: now.toISOString() });
      touchedListings.add(listingId);
      const seller = sellers.get(l.reservationId)!;
      const state = resaleOf(seller);
      const sold = { ...state, sold: [...state.sold, { fillId, listingId, buyerReservationId: r.id, runs, settled: false }] };
      // Counted once per transaction however many fills it takes from one seller (one write of it).
      sellers.set(seller.id, touchedSellers.has(seller.id) ? { ...seller, resale: { ...sold } } : withResale(seller, sold));
      touchedSellers.add(seller.id);
      bought.push({ fillId, listingId, sellerOrgId: l.orgId, sellerReservationId: l.reservationId, runs, settled: false });
    }
    const reservation: Reservation = { ...r, resale: { listings: [], sold: [], bought } };
    const ownKey = keys.reservation(r.orgId, r.id);
    const items = m.prepared.items.map((item) => (item.Put?.Item?.pk === ownKey.pk && item.Put.Item.sk === ownKey.sk ? reservationCreate(db, reservation) : item));
    return { reservation, items };
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
        // The group's read runs while its first requests are checked again (neither writes); the
        // org counters read cover every org that can have a first request after the checks.
        const read = readGroup(members, now, [...new Set(members.map((m) => m.orgId))]);
        read.catch(() => undefined);
        await refresh(firsts.filter((m) => attempt > 0 || m.preparedAt !== (orgCommits.get(m.orgId) ?? 0)), now);
        members = members.filter((m) => !m.settled);
        if (members.length === 0) return [];
        const chainedOn = await chain(members, now);
        members = members.filter((m) => !m.settled);
        const candidates = new Set([...firstPerOrg(members), ...chainedOn.keys()]);
        const { admitted, refused, later, items, owners, final } = await decide(members, now, candidates, chainedOn, await read);
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

  /**
   * Checks each org's later requests (after its first, in arrival order) as if the one before had
   * committed: its spend record and hold ledger are read as that one's transaction writes them
   * (`readingAfter`), so several requests of one org can share a round, their records merged into one
   * write each. Returns each chained request with the one it was checked after. A request whose check
   * fails here is not refused: it waits to be checked on its own (its predecessor may yet be refused).
   */
  async function chain(members: Member[], now: Date): Promise<Map<Member, Member>> {
    const byOrg = new Map<string, Member[]>();
    for (const m of members) byOrg.set(m.orgId, [...(byOrg.get(m.orgId) ?? []), m]);
    const chainedOn = new Map<Member, Member>();
    await Promise.all(
      [...byOrg.values()].map(async (list) => {
        let before = list[0]!;
        const writes: TransactItem[] = [...before.prepared.items];
        for (const m of list.slice(1, MAX_CHAIN)) {
          let again: Awaited<ReturnType<Prepare>>;
          try {
            again = await readingAfter(writes, () => m.prepare(now, true));
          } catch {
            return;
          }
          if ('done' in again) {
            settle(m, () => m.resolve(again.done));
            continue;
          }
          m.prepared = again;
          // Checked against a state that may not commit: checked on its own when it is its org's first.
          m.preparedAt = -1;
          chainedOn.set(m, before);
          writes.push(...again.items);
          before = m;
        }
      }),
    );
    return chainedOn;
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
