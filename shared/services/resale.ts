/**
 * Resale (shared/domain/resale.ts, docs/resale.md): customers list hours of their reserved bookings;
 * other orgs' bookings take them in their pool's group commit (booking/sequencer.ts), provisionally
 * while held. This service owns the listings (create, read, withdraw, end when their window starts)
 * and the booking hook that settles a sale when the buyer confirms (seller's earnings, the fee, the
 * seller's events and credit record), gives the hours back when the buyer's hold lapses, and ends a
 * seller's listings when its reservation is cancelled. Every change is one transaction with its
 * outbox events.
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from '#domain/catalog.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import { addMoney, eur } from '#domain/money.ts';
import type { Principal } from '#domain/principal.ts';
import {
  checkListing,
  endListing,
  fillMoney,
  listingGpuHours,
  newListing,
  resaleFeeBps,
  resaleOf,
  runGpuHours,
  shiftTaken,
  toApiListing,
  type Listing,
  type ListingRequest,
  type ListingStatus,
  withResale,
  type PurchaseRef,
} from '#domain/resale.ts';
import { toApiReservation, type Reservation } from '#domain/reservation.ts';
import { epochHour, fromEpochHour, periodOf } from '#domain/time.ts';
import type { CatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites, type EventDraft } from '#store/events.ts';
import { getListing, getListings, listListings, listingCreate, listingReplace, openListingsStartedBy } from '#store/listings.ts';
import { marketBookedWrite } from '#store/market.ts';
import { resaleCreditWrite, resalePayoutMarkerPut } from '#store/resale-credits.ts';
import { getReservation, reservationReplace } from '#store/reservations.ts';
import type { RetryPolicy } from '#store/retry.ts';
import type { TransactItem } from '#store/transact.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import { createCommitLoop, type BookingEffect, type BookingHook } from './booking/commit.ts';

export interface ResaleDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  catalog: CatalogCache;
  retry?: RetryPolicy | undefined;
}

function customerOrg(principal: Principal): string {
  if (principal.role !== 'customer' || !principal.orgId) throw new DomainError('forbidden', 'Only customer keys list and withdraw resale listings');
  return principal.orgId;
}

/** Org admins list and withdraw any of their org's bookings; members only the bookings their own key made. */
function assertMayResell(principal: Principal, r: Reservation): void {
  if (principal.orgRole === 'admin') return;
  if (r.keyId && r.keyId === principal.keyId) return;
  throw new DomainError('forbidden', `Only an org admin or the key that booked ${r.id} may list or withdraw its hours`, {
    errors: [{ path: 'id', message: 'this key neither administers the org nor made the booking' }],
  });
}

async function poolOf(catalog: CatalogCache, poolId: string): Promise<Pool> {
  const pool = (await catalog.get()).pools.find((p) => p.id === poolId);
  if (!pool) throw new DomainError('internal', `pool ${poolId} missing from the catalog`);
  return pool;
}

const withoutListing = (r: Reservation, listingId: string) => ({ ...resaleOf(r), listings: resaleOf(r).listings.filter((id) => id !== listingId) });

export function createResaleService(deps: ResaleDeps) {
  const { db, catalog, clock } = deps;
  const { commit } = createCommitLoop({ db, clock, ids: deps.ids, catalog, retry: deps.retry });

  /** A seller reservation changed by a fill's settlement or return (at most once per transaction). */
  const bump = (r: Reservation, patch: Partial<Reservation>, now: Date): Reservation => ({ ...r, ...patch, updatedAt: now.toISOString(), version: r.version + 1 });

  /**
   * The buyer confirmed: every provisional fill of its purchase is settled. Per listing: the fill's
   * money (gross = the buyer's price for those GPU-hours, fee, earnings), its totals, `sold` once
   * every hour is sold; per seller reservation: its sale marked settled; per seller org: its credit
   * records and its events (listing.sold per fill, reservation.resold, listing.ended when sold out).
   */
  async function settle(buyer: Reservation, now: Date): Promise<BookingEffect> {
    const bought = resaleOf(buyer).bought;
    const pool = await poolOf(catalog, buyer.poolId);
    const feeBps = resaleFeeBps(pool);
    const buyerGpuHours = buyer.gpus * (epochHour(new Date(buyer.end!)) - epochHour(new Date(buyer.start)));
    const listings = new Map((await getListings(db, bought.map((b) => ({ orgId: b.sellerOrgId, id: b.listingId })))).map((l) => [l.id, l]));
    const sellers = new Map<string, Reservation>();
    for (const b of bought) {
      if (sellers.has(b.sellerReservationId)) continue;
      const r = await getReservation(db, b.sellerOrgId, b.sellerReservationId);
      if (!r) throw new DomainError('internal', `seller reservation ${b.sellerReservationId} missing`);
      sellers.set(r.id, r);
    }
    const nextListings = new Map<string, Listing>();
    const nextSellers = new Map<string, Reservation>();
    const drafts = new Map<string, EventDraft[]>();
    const items: TransactItem[] = [];
    const say = (orgId: string, d: EventDraft) => drafts.set(orgId, [...(drafts.get(orgId) ?? []), d]);
    let resoldGpuHours = 0;
    for (const b of bought) {
      const l = nextListings.get(b.listingId) ?? listings.get(b.listingId);
      if (!l) throw new DomainError('internal', `listing ${b.listingId} missing`);
      const fill = l.fills.find((f) => f.id === b.fillId);
      if (!fill || fill.settled) continue;
      const money = fillMoney(buyer.price ?? eur(0), buyerGpuHours, fill.gpuHours, feeBps);
      resoldGpuHours += fill.gpuHours;
      const settled = { ...fill, settled: true, gross: money.gross, fee: money.fee, earnings: money.earnings, settledAt: now.toISOString() };
      let next: Listing = {
        ...l,
        fills: l.fills.map((f) => (f.id === fill.id ? settled : f)),
        soldGpuHours: l.soldGpuHours + fill.gpuHours,
        earnings: addMoney(l.earnings, money.earnings),
        fees: addMoney(l.fees, money.fee),
        updatedAt: now.toISOString(),
      };
      const soldOut = next.status === 'open' && next.soldGpuHours === listingGpuHours(next);
      if (soldOut) next = { ...next, status: 'sold', endedAt: now.toISOString() };
      nextListings.set(l.id, next);
      const seller = nextSellers.get(b.sellerReservationId) ?? sellers.get(b.sellerReservationId)!;
      const state = resaleOf(seller);
      nextSellers.set(seller.id, {
        ...seller,
        resale: { ...state, sold: state.sold.map((s) => (s.fillId === fill.id ? { ...s, settled: true } : s)), listings: soldOut ? state.listings.filter((id) => id !== l.id) : state.listings },
      });
      const credit = { orgId: l.orgId, period: periodOf(now), fillId: fill.id, listingId: l.id, reservationId: l.reservationId, poolId: l.poolId, gpuHours: fill.gpuHours, ...money, at: now.toISOString() };
      items.push(resaleCreditWrite(db, credit), resalePayoutMarkerPut(db, credit));
      const hours = fill.runs.map((x) => ({ start: fromEpochHour(x.startHour).toISOString(), end: fromEpochHour(x.endHour).toISOString(), gpus: x.gpus }));
      say(l.orgId, { type: 'listing.sold', data: { ...toApiListing(next), fill: { id: fill.id, gpuHours: fill.gpuHours, hours, gross: money.gross, fee: money.fee, earnings: money.earnings } } });
      if (soldOut) say(l.orgId, { type: 'listing.ended', data: { ...toApiListing(next), reason: 'sold' } });
    }
    for (const [id, next] of nextListings) items.push(listingReplace(db, listings.get(id)!.version, { ...next, version: listings.get(id)!.version + 1 }));
    for (const [id, next] of nextSellers) {
      const before = sellers.get(id)!;
      const after = bump(before, { resale: next.resale }, now);
      items.push(reservationReplace(db, before, after));
      const soldNow = bought.filter((b) => b.sellerReservationId === id).flatMap((b) => b.runs);
      say(before.orgId, {
        type: 'reservation.resold',
        data: { ...toApiReservation(after), resold: { gpuHours: runGpuHours(soldNow), hours: soldNow.map((x) => ({ start: fromEpochHour(x.startHour).toISOString(), end: fromEpochHour(x.endHour).toISOString(), gpus: x.gpus })) } },
      });
    }
    for (const [orgId, list] of drafts) items.push(...(await outboxWrites(db, orgId, list, now, deps.ids)).items);
    items.push(...marketBookedWrite(db, pool.id, now, { total: buyer.price ?? eur(0), gpuHours: buyerGpuHours, resoldGpuHours }));
    return { items, events: [] };
  }

  /** The buyer's hold lapsed (expired or cancelled while held): its provisional fills go back to their listings and sellers. */
  async function giveBack(buyer: Reservation, now: Date): Promise<BookingEffect> {
    const bought = resaleOf(buyer).bought;
    if (bought.length === 0) return { items: [], events: [] };
    const listings = new Map((await getListings(db, bought.map((b) => ({ orgId: b.sellerOrgId, id: b.listingId })))).map((l) => [l.id, l]));
    const nextListings = new Map<string, Listing>();
    const nextSellers = new Map<string, Reservation>();
    const before = new Map<string, Reservation>();
    for (const b of bought) {
      const l = nextListings.get(b.listingId) ?? listings.get(b.listingId);
      if (!l) throw new DomainError('internal', `listing ${b.listingId} missing`);
      if (!l.fills.some((f) => f.id === b.fillId && !f.settled)) continue;
      nextListings.set(l.id, { ...l, taken: shiftTaken(l, b.runs, -1), fills: l.fills.filter((f) => f.id !== b.fillId), updatedAt: now.toISOString() });
      let seller = nextSellers.get(b.sellerReservationId);
      if (!seller) {
        const r = await getReservation(db, b.sellerOrgId, b.sellerReservationId);
        if (!r) throw new DomainError('internal', `seller reservation ${b.sellerReservationId} missing`);
        before.set(r.id, r);
        seller = r;
      }
      const state = resaleOf(seller);
      nextSellers.set(seller.id, { ...seller, resale: { ...state, sold: state.sold.filter((s) => s.fillId !== b.fillId) } });
    }
    const items: TransactItem[] = [];
    for (const [id, next] of nextListings) items.push(listingReplace(db, listings.get(id)!.version, { ...next, version: listings.get(id)!.version + 1 }));
    for (const [id, next] of nextSellers) items.push(reservationReplace(db, before.get(id)!, bump(withResale(before.get(id)!, next.resale!), {}, now)));
    return { items, events: [] };
  }

  /** The seller's reservation is cancelled: its open listings end. Refused while a buyer's hold provisionally holds some of its hours. */
  async function endWithReservation(previous: Reservation, now: Date): Promise<BookingEffect> {
    const state = resaleOf(previous);
    const pending = state.sold.filter((s) => !s.settled);
    if (pending.length > 0) {
      throw new DomainError('invalid_state', `Reservation ${previous.id} has hours held by a buyer's unconfirmed booking; cancel again once it is confirmed or released (within 15 minutes)`);
    }
    const open = (await getListings(db, state.listings.map((id) => ({ orgId: previous.orgId, id })))).filter((l) => l.status === 'open');
    return {
      items: open.map((l) => listingReplace(db, l.version, endListing(l, 'ended', now))),
      events: open.map((l) => ({ type: 'listing.ended', data: { ...toApiListing(endListing(l, 'ended', now)), reason: 'reservation_cancelled' } })),
    };
  }

  const hook: BookingHook = {
    async onChange(previous, next, now) {
      const state = resaleOf(previous);
      if (previous.status === 'held' && next.status === 'confirmed' && next.kind === 'reserved') return settle(next, now);
      if (previous.status === 'held' && (next.status === 'expired' || next.status === 'cancelled') && state.bought.length > 0) return giveBack(previous, now);
      if (previous.status !== 'cancelled' && next.status === 'cancelled' && (state.listings.length > 0 || state.sold.length > 0)) return endWithReservation(previous, now);
      return { items: [], events: [] };
    },
  };

  return {
    /** The booking hook: settlement at the buyer's confirmation, give-back on a lapsed hold, listings ended with their reservation. */
    hook,

    async create(principal: Principal, reservationId: string, req: ListingRequest): Promise<Listing> {
      const orgId = customerOrg(principal);
      const id = deps.ids.next('lst');
      const changeId = randomUUID();
      return commit<Listing>(orgId, async (now) => {
        const r = await getReservation(db, orgId, reservationId);
        if (!r) throw notFound('Reservation', reservationId);
        if (r.lastChangeId === changeId) {
          const made = await getListing(db, orgId, id);
          if (made) return { done: made };
        }
        assertMayResell(principal, r);
        const pool = await poolOf(catalog, r.poolId);
        const open = (await getListings(db, resaleOf(r).listings.map((x) => ({ orgId, id: x })))).filter((l) => l.status === 'open');
        const { sH, eH } = checkListing(r, pool, req, open, now);
        const l = newListing({ id, r, req, sH, eH }, now);
        const state = resaleOf(r);
        // Listings that ended on their own (window started) leave the reservation's list here.
        const stillOpen = open.map((x) => x.id);
        const next: Reservation = { ...bump(withResale(r, { ...state, listings: [...stillOpen, l.id] }), {}, now), lastChangeId: changeId };
        return { items: [listingCreate(db, l), reservationReplace(db, r, next)], events: [{ type: 'listing.created', data: toApiListing(l) }], result: l };
      });
    },

    async get(principal: Principal, id: string): Promise<Listing> {
      const l = await getListing(db, customerOrg(principal), id);
      if (!l) throw notFound('Listing', id);
      return l;
    },

    list(principal: Principal, page: { limit: number; cursor?: string | undefined; status?: ListingStatus | undefined }) {
      return listListings(db, customerOrg(principal), page);
    },

    /** Withdraws what is unsold: 200 with the listing `withdrawn` (a withdrawn one is answered as it is; sold or ended ones are 409). */
    async withdraw(principal: Principal, id: string): Promise<Listing> {
      const orgId = customerOrg(principal);
      return commit<Listing>(orgId, async (now) => {
        const l = await getListing(db, orgId, id);
        if (!l) throw notFound('Listing', id);
        const r = await getReservation(db, orgId, l.reservationId);
        if (!r) throw new DomainError('internal', `reservation ${l.reservationId} of listing ${id} missing`);
        assertMayResell(principal, r);
        if (l.status === 'withdrawn') return { done: l };
        if (l.status !== 'open' || new Date(l.start) <= now) {
          throw new DomainError('invalid_state', `Listing ${id} is ${l.status === 'open' ? 'ended (its window started)' : l.status}; only open listings can be withdrawn`);
        }
        const next = endListing(l, 'withdrawn', now);
        const nextR: Reservation = bump(withResale(r, withoutListing(r, id)), {}, now);
        return {
          items: [listingReplace(db, l.version, next), reservationReplace(db, r, nextR)],
          events: [{ type: 'listing.ended', data: { ...toApiListing(next), reason: 'withdrawn' } }],
          result: next,
        };
      });
    },

    /** Ends the open listings whose window started (scheduled tick); returns how many ended. */
    async endStarted(limit = 100): Promise<number> {
      const now = clock();
      let ended = 0;
      for (const pool of (await catalog.get()).pools) {
        for (const found of await openListingsStartedBy(db, pool.id, now, limit)) {
          const done = await commit<boolean>(found.orgId, async (at) => {
            const l = await getListing(db, found.orgId, found.id);
            if (!l || l.status !== 'open' || new Date(l.start) > at) return { done: false };
            const r = await getReservation(db, l.orgId, l.reservationId);
            const next = endListing(l, 'ended', at);
            return {
              items: [listingReplace(db, l.version, next), ...(r ? [reservationReplace(db, r, bump(withResale(r, withoutListing(r, l.id)), {}, at))] : [])],
              events: [{ type: 'listing.ended', data: { ...toApiListing(next), reason: 'window_started' } }],
              result: true,
            };
          });
          if (done) ended++;
        }
      }
      return ended;
    },
  };
}

export type ResaleService = ReturnType<typeof createResaleService>;
export type { PurchaseRef };
