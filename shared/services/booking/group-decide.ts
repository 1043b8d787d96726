/**
 * A pool's group decided (sequencer.ts): each member in arrival order against one fresh read with the
 * capacity rule (`assertFree`, or resale's `allocate` where listings may serve it), which of them join
 * this round's transaction (one org's later requests only chained on its last admitted one, the
 * transaction's 100 items and 4 MB), and the transaction itself, each bucket, listing and seller
 * written once.
 */
import { BOOKING_HORIZON_HOURS, assertFree, assertFreeFrom, availableAt, shiftHours, type Bucket } from '#domain/capacity.ts';
import { allocate, eligibleFor, resaleOf, resaleOrder, runGpuHours, shiftTaken, toRuns, withResale, type Fill, type Listing, type PurchaseRef, type Run } from '#domain/resale.ts';
import { eur } from '#domain/money.ts';
import type { Reservation } from '#domain/reservation.ts';
import { epochHour } from '#domain/time.ts';
import { bucketChecks, bucketWrites, onDemandCheck, onDemandWrite, type PoolSnapshot } from '#store/capacity.ts';
import type { Db } from '#store/db.ts';
import { outboxItems, type SequenceState } from '#store/events.ts';
import { keys } from '#store/keys.ts';
import { listingReplace } from '#store/listings.ts';
import { reservationCreate, reservationReplace } from '#store/reservations.ts';
import { MAX_TRANSACTION_ITEMS, type TransactItem } from '#store/transact.ts';
import type { IdGenerator } from '../../ids.ts';
import { chainable, itemKey, mergeChained } from './group-chain.ts';
import { bucketsOf, type Member } from './group-member.ts';
import type { GroupRead } from './group-read.ts';

/** DynamoDB's 4 MB per transaction, with room for request overhead. */
const MAX_TRANSACTION_BYTES = 3_500_000;

const size = (items: TransactItem[]) => items.reduce((s, i) => s + JSON.stringify(i).length, 0);

/**
 * Decides `members` (in order) against a fresh read and builds the group's transaction. Capacity is
 * decided for every member in arrival order; a member that fits but cannot join this transaction
 * (a second request of an org already in it, whose per-org items would be stale, or a transaction
 * already full) keeps its place: its GPUs stay set aside in the working snapshot, so a later
 * arrival cannot take them, and it is committed in the next round. `candidates` are the members
 * checked afresh this round (`refresh`); only they may join the transaction. Returns the admitted,
 * the refused (with their errors) and the members left for the next round.
 */
export async function decideGroup(db: Db, ids: IdGenerator, members: Member[], now: Date, candidates: ReadonlySet<Member>, chainedOn: ReadonlyMap<Member, Member>, read: GroupRead) {
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
      if (taken) resold.set(m, takeListed(db, ids, m, taken.takes, listings, sellers, touchedListings, touchedSellers, now));
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
 * Moves the listed GPU-hours a member takes: each listing's taken hours and a provisional fill,
 * each seller reservation's sold hours, and the member's reservation with its purchases (its
 * create item rebuilt). Working copies only; the group writes each listing and seller once.
 */
function takeListed(
  db: Db,
  ids: IdGenerator,
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
