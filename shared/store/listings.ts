/**
 * Resale listings (shared/domain/resale.ts). A listing lives under its seller's org; while open it
 * is also in a sparse index of its pool by start (gsi2), which bookings, availability and offers
 * read. The index is eventually consistent: every read that decides something re-reads the listings
 * it found with a consistent BatchGetItem, and every write is conditioned on the version read.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Listing, ListingStatus } from '#domain/resale.ts';
import { fromEpochHour } from '#domain/time.ts';
import { batchGetConsistent } from './batched-get.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import type { Db } from './db.ts';
import { keys, prefixes } from './keys.ts';
import { queryAll } from './query.ts';
import type { TransactItem } from './transact.ts';

function toItem(l: Listing): Record<string, unknown> {
  return {
    ...keys.listing(l.orgId, l.id),
    ...(l.status === 'open' ? keys.openListing(l.poolId, l.start, l.id) : {}),
    entity: 'listing',
    version: l.version,
    listing: l,
  };
}

/** Create: the item must not exist. */
export const listingCreate = (db: Db, l: Listing): TransactItem => ({
  Put: { TableName: db.table, Item: toItem(l), ConditionExpression: 'attribute_not_exists(pk)' },
});

/** Replace a listing read at `previousVersion` (`next.version` is one more). */
export const listingReplace = (db: Db, previousVersion: number, next: Listing): TransactItem => ({
  Put: { TableName: db.table, Item: toItem(next), ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': previousVersion } },
});

export async function getListing(db: Db, orgId: string, id: string): Promise<Listing | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.listing(orgId, id), ConsistentRead: true }));
  return res.Item ? (res.Item.listing as Listing) : null;
}

/** Consistent read of listings by id (of any orgs). */
export async function getListings(db: Db, refs: { orgId: string; id: string }[]): Promise<Listing[]> {
  if (refs.length === 0) return [];
  const items = await batchGetConsistent(db, refs.map((r) => keys.listing(r.orgId, r.id)));
  return items.map((i) => i.listing as Listing);
}

/** An org's listings, newest first, optionally of one status. */
export async function listListings(
  db: Db,
  orgId: string,
  page: { limit: number; cursor?: string | undefined; status?: ListingStatus | undefined },
): Promise<{ data: Listing[]; nextCursor: string | null }> {
  const pk = keys.org(orgId).pk;
  const data: Listing[] = [];
  let start = decodeCursor(page.cursor, { pk, sk: /^LST#lst_[0-9a-z]{26}$/ });
  // A status filter may leave a page short: keep reading until the page is full or the org's listings end.
  for (;;) {
    const res = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ...(page.status
          ? { FilterExpression: 'listing.#status = :status', ExpressionAttributeNames: { '#status': 'status' }, ExpressionAttributeValues: { ':pk': pk, ':prefix': prefixes.listing, ':status': page.status } }
          : { ExpressionAttributeValues: { ':pk': pk, ':prefix': prefixes.listing } }),
        ScanIndexForward: false,
        Limit: page.limit - data.length,
        ExclusiveStartKey: start,
      }),
    );
    data.push(...(res.Items ?? []).map((i) => i.listing as Listing));
    start = res.LastEvaluatedKey;
    if (!start || data.length >= page.limit) break;
  }
  return { data, nextCursor: encodeCursor(start) };
}

/**
 * A pool's open listings whose window overlaps [startHour, endHour): the index gives candidates
 * (those starting before `endHour`), a consistent read gives their current state.
 */
export async function openListingsOfPool(db: Db, poolId: string, startHour: number, endHour: number): Promise<Listing[]> {
  const indexed = await listedBefore(db, poolId, endHour);
  const refs = indexed.filter((l) => Date.parse(l.end) > fromEpochHour(startHour).getTime()).map((l) => ({ orgId: l.orgId, id: l.id }));
  const current = await getListings(db, refs);
  return current.filter((l) => l.status === 'open');
}

/**
 * The sparse index's listings of a pool starting before `endHour`. Callers asking the same while a
 * query is in flight share it (a rush quotes one window hundreds of times at once); the index is
 * eventually consistent anyway, and what each caller uses is re-read consistently after.
 */
function listedBefore(db: Db, poolId: string, endHour: number): Promise<Listing[]> {
  let inFlight = listedInFlight.get(db);
  if (!inFlight) listedInFlight.set(db, (inFlight = new Map()));
  const id = `${poolId}\u0000${endHour}`;
  const running = inFlight.get(id);
  if (running) return running;
  const flights = inFlight;
  const query = queryListedBefore(db, poolId, endHour).finally(() => flights.delete(id));
  flights.set(id, query);
  return query;
}
const listedInFlight = new WeakMap<Db, Map<string, Promise<Listing[]>>>();

async function queryListedBefore(db: Db, poolId: string, endHour: number): Promise<Listing[]> {
  const found: Listing[] = [];
  const query = {
    TableName: db.table,
    IndexName: 'gsi2',
    KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk < :before',
    ExpressionAttributeValues: { ':pk': `LISTINGS#${poolId}`, ':before': fromEpochHour(endHour).toISOString() },
  };
  for await (const items of queryAll(db, query)) for (const i of items) found.push(i.listing as Listing);
  return found;
}

/** Open listings of a pool whose window has started by `now` (the scheduled tick ends them). */
export async function openListingsStartedBy(db: Db, poolId: string, now: Date, limit: number): Promise<Listing[]> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk <= :now',
      ExpressionAttributeValues: { ':pk': `LISTINGS#${poolId}`, ':now': `${now.toISOString()}~` },
      Limit: limit,
    }),
  );
  return (res.Items ?? []).map((i) => i.listing as Listing);
}
