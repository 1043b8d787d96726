/**
 * What a pool's group is decided from (sequencer.ts): one read of the pool's buckets, its on-demand
 * total, the orgs' event counters and, for resale, the pool's open listings and their sellers.
 */
import { isSellable, type Listing } from '#domain/resale.ts';
import type { Reservation } from '#domain/reservation.ts';
import { batchGetConsistent } from '#store/batched-get.ts';
import { readPoolGroup } from '#store/capacity.ts';
import type { Db } from '#store/db.ts';
import { openListingsOfPool } from '#store/listings.ts';
import { keys } from '#store/keys.ts';
import { bucketsOf, type Member, type Take } from './group-member.ts';

/**
 * What a group is decided from: the pool's buckets over the hours its members ask, its on-demand
 * total, the event counters of the orgs whose first request may join (`orgIds`), and the listings.
 */
export async function readGroup(db: Db, members: Member[], now: Date, orgIds: string[]) {
  const pool = members[0]!.prepared.pool;
  const bucketIds = [...new Set(members.flatMap((m) => bucketsOf(m.prepared.take, now)))].sort((a, b) => a - b);
  const [{ snapshot, sequences }, market] = await Promise.all([readPoolGroup(db, pool.id, pool.totalGpus, bucketIds, orgIds), readListed(db, members, now)]);
  return { snapshot, sequences, market };
}
export type GroupRead = Awaited<ReturnType<typeof readGroup>>;

/**
 * Resale: the open listings of the pool over the hours the group's reserved requests ask (the
 * sparse index, then a consistent read) and their sellers' reservations, still confirmed or active.
 * A listing created after this read is simply not offered to this group.
 */
async function readListed(db: Db, members: Member[], now: Date): Promise<{ listings: Map<string, Listing>; sellers: Map<string, Reservation> }> {
  const hours = members.map((m) => m.prepared.take).filter((t): t is Extract<Take, { kind: 'hours' }> => t.kind === 'hours');
  if (hours.length === 0) return { listings: new Map(), sellers: new Map() };
  const poolId = members[0]!.prepared.pool.id;
  const found = (await openListingsOfPool(db, poolId, Math.min(...hours.map((t) => t.startHour)), Math.max(...hours.map((t) => t.endHour)))).filter((l) => isSellable(l, now));
  if (found.length === 0) return { listings: new Map(), sellers: new Map() };
  const refs = [...new Map(found.map((l) => [l.reservationId, keys.reservation(l.orgId, l.reservationId)])).values()];
  const sellers = (await batchGetConsistent(db, refs)).map((i) => i.reservation as Reservation).filter((r) => r.status === 'confirmed' || r.status === 'active');
  return { listings: new Map(found.map((l) => [l.id, l])), sellers: new Map(sellers.map((r) => [r.id, r])) };
}
