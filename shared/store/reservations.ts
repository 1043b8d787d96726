import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { nextDueAt, type Reservation } from '#domain/reservation.ts';
import type { Db } from './db.ts';
import { prefixPage } from './cursor.ts';
import { keys, prefixes, ttlAfter } from './keys.ts';
import type { TransactItem } from './transact.ts';
import { getConsistent } from './batched-get.ts';
import { queryAll } from './query.ts';

const ENTITY = 'reservation';

function toItem(r: Reservation): Record<string, unknown> {
  const due = nextDueAt(r);
  return {
    ...keys.reservation(r.orgId, r.id),
    ...keys.reservationIndex(r.id),
    ...(due ? keys.due(new Date(due).toISOString(), r.id) : {}),
    entity: ENTITY,
    reservation: r,
  };
}

const fromItem = (item: Record<string, unknown> | undefined): Reservation | null =>
  item ? (item.reservation as Reservation) : null;

/** Create: the item must not exist (a retried create that already committed is detected by the caller). */
export const reservationCreate = (db: Db, r: Reservation): TransactItem => ({
  Put: { TableName: db.table, Item: toItem(r), ConditionExpression: 'attribute_not_exists(pk)' },
});

/** Replace a reservation read at `previous.version`; `next.version` must be previous + 1. */
export const reservationReplace = (db: Db, previous: Reservation, next: Reservation): TransactItem => ({
  Put: {
    TableName: db.table,
    Item: toItem(next),
    ConditionExpression: 'reservation.version = :v',
    ExpressionAttributeValues: { ':v': previous.version },
  },
});

/** Create requests are remembered as long as their Idempotency-Key (48 h). */
export const CREATE_REQUEST_TTL_SECONDS = 48 * 3600;

/**
 * Written in a create's own transaction: which reservation a create request with an Idempotency-Key
 * made. A client retry after an unclear failure (a 503 whose write did commit) finds it there
 * instead of booking a second time.
 */
export const createRequestRecord = (db: Db, orgId: string, requestHash: string, reservationId: string, now: Date): TransactItem => ({
  Put: {
    TableName: db.table,
    Item: { ...keys.createRequest(orgId, requestHash), entity: 'createRequest', reservationId, ttl: ttlAfter(now, CREATE_REQUEST_TTL_SECONDS) },
    ConditionExpression: 'attribute_not_exists(pk)',
  },
});

export async function reservationOfCreateRequest(db: Db, orgId: string, requestHash: string): Promise<Reservation | null> {
  const item = await getConsistent(db, keys.createRequest(orgId, requestHash));
  return item ? getReservation(db, orgId, String(item.reservationId)) : null;
}

export async function getReservation(db: Db, orgId: string, id: string): Promise<Reservation | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.reservation(orgId, id), ConsistentRead: true }));
  return fromItem(res.Item);
}

/** Look up by id alone (meters, sweeper): the index gives the org, then a consistent read gives the state. */
export async function findReservation(db: Db, id: string): Promise<Reservation | null> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.reservationIndex(id).gsi1pk },
    }),
  );
  const hit = fromItem(res.Items?.[0]);
  return hit ? getReservation(db, hit.orgId, id) : null;
}

export async function listReservations(
  db: Db,
  orgId: string,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ data: Reservation[]; nextCursor: string | null }> {
  const { items, nextCursor } = await prefixPage(db, { pk: keys.org(orgId).pk, prefix: prefixes.reservation, sk: /^RES#res_[0-9a-z]{26}$/, newestFirst: true }, page);
  return { data: items.map((i) => fromItem(i)!), nextCursor };
}

/** Reservations whose timed transition is due at or before `now`, oldest first. */
export async function listDue(db: Db, now: Date, limit: number): Promise<Reservation[]> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk <= :now',
      ExpressionAttributeValues: { ':pk': 'DUE', ':now': `${now.toISOString()}~` },
      Limit: limit,
    }),
  );
  return (res.Items ?? []).map((i) => fromItem(i)!);
}

/**
 * Every on-demand reservation of an org that may have held GPUs in `[from, to)`: started before `to`
 * and running or stopped at or after `from` (billing reads them at the monthly close, docs/billing.md).
 */
export async function listOnDemandHeldBetween(db: Db, orgId: string, from: Date, to: Date): Promise<Reservation[]> {
  const out: Reservation[] = [];
  const query = {
    TableName: db.table,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    FilterExpression: 'reservation.kind = :od AND reservation.#start < :to AND (attribute_type(reservation.stoppedAt, :null) OR reservation.stoppedAt >= :from)',
    ExpressionAttributeNames: { '#start': 'start' },
    ExpressionAttributeValues: { ':pk': keys.org(orgId).pk, ':prefix': prefixes.reservation, ':od': 'on_demand', ':to': to.toISOString(), ':from': from.toISOString(), ':null': 'NULL' },
  };
  for await (const items of queryAll(db, query)) for (const item of items) out.push(fromItem(item)!);
  return out;
}
