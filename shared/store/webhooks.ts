/**
 * Webhook endpoints and deliveries (docs/table-design.md):
 * - endpoint `ORG#<orgId> / WHE#<endpointId>`, gsi1 `WHE#<endpointId> / WHE`;
 * - delivery `WHE#<endpointId> / DLV#<deliveryId>`, gsi1 `DLV#<deliveryId> / DLV`, and gsi2
 *   `DLVDUE#<endpointId> / <nextAttemptAt>#<deliveryId>` only while the delivery is pending: each
 *   endpoint's due work sits under its own index key, so the due query never sees finished deliveries
 *   and one endpoint's backlog is never in front of another's (issue 15, finding 7);
 * - while an endpoint may have pending deliveries, its item carries gsi2
 *   `WHEDUE#<shard> / <endpointId>` (shard = a hash of the endpoint id, `DUE_SHARDS` of them): the
 *   due-retry pass reads those shards to learn which endpoints to look at. The mark is written before
 *   a delivery becomes pending (creation, a manual retry) and removed by the pass only when the
 *   endpoint's due key is empty and the mark is older than `DUE_MARK_GRACE_MS`, conditioned on the
 *   mark it read, so a delivery created meanwhile keeps it.
 * Deliveries expire (TTL) 30 days after they were created.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { keys, ttlAfter } from './keys.ts';
import type { TransactItem } from './transact.ts';

/** Webhook key shapes, next to the others' in spirit: `keys.org` gives the org partition. */
export const webhookKeys = {
  endpoint: (orgId: string, id: string) => ({ pk: keys.org(orgId).pk, sk: `WHE#${id}` }),
  endpointIndex: (id: string) => ({ gsi1pk: `WHE#${id}`, gsi1sk: 'WHE' }),
  delivery: (endpointId: string, id: string) => ({ pk: `WHE#${endpointId}`, sk: `DLV#${id}` }),
  deliveryIndex: (id: string) => ({ gsi1pk: `DLV#${id}`, gsi1sk: 'DLV' }),
  deliveryDue: (endpointId: string, at: string, id: string) => ({ gsi2pk: `DLVDUE#${endpointId}`, gsi2sk: `${at}#${id}` }),
  endpointDue: (endpointId: string) => ({ gsi2pk: `WHEDUE#${dueShardOf(endpointId)}`, gsi2sk: endpointId }),
  dueShard: (shard: number) => `WHEDUE#${shard}`,
} as const;

/** Index keys the endpoints with pending deliveries are spread over (read in parallel by the due pass). */
export const DUE_SHARDS = 16;
/** A due mark is removed only when older than this: longer than any index lag after the delivery's write. */
export const DUE_MARK_GRACE_MS = 5 * 60_000;
/** Before the due index was per endpoint, every pending delivery sat under this one key; still read so none is stranded. */
const LEGACY_DUE_KEY = 'DLVDUE';

export const dueShardOf = (endpointId: string): number => createHash('sha256').update(endpointId, 'utf8').digest().readUInt32BE(0) % DUE_SHARDS;

export const webhookPrefixes = { endpoint: 'WHE#', delivery: 'DLV#' } as const;

export const DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600;

export interface EndpointSecret {
  secret: string;
  createdAt: string;
  /** null for the current secret; set on the previous one by a rotation (the overlap ends then). */
  expiresAt: string | null;
}

export type EndpointStatus = 'enabled' | 'disabled';

export interface WebhookEndpoint {
  id: string;
  orgId: string;
  url: string;
  description: string | null;
  /** Event types, or `['*']` for all. */
  events: string[];
  secrets: EndpointSecret[];
  status: EndpointStatus;
  disabledReason: string | null;
  disabledAt: string | null;
  /** First failed attempt since the last success; absent while the endpoint is healthy. */
  failingSince?: string;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface DeliveryAttempt {
  at: string;
  responseStatus: number | null;
  latencyMs: number | null;
  error: string | null;
}

export interface WebhookDelivery {
  /** Also the `webhook-id` header: the same on every attempt. */
  id: string;
  endpointId: string;
  orgId: string;
  eventId: string;
  eventType: string;
  /** The exact body sent (signatures cover these bytes). */
  payload: string;
  status: DeliveryStatus;
  attemptCount: number;
  /** When the next attempt is due (while pending); during an attempt, when its lease runs out. */
  nextAttemptAt: string | null;
  /** Set while an attempt holds the lease; still set afterwards means that attempt never finished. */
  leasedAt: string | null;
  /** The latest attempts, oldest first (capped). */
  attempts: DeliveryAttempt[];
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface DeliveryRef {
  endpointId: string;
  deliveryId: string;
}

export const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException || (error instanceof Error && error.name === 'ConditionalCheckFailedException');

const endpointItem = (e: WebhookEndpoint) => ({
  ...webhookKeys.endpoint(e.orgId, e.id),
  ...webhookKeys.endpointIndex(e.id),
  entity: 'webhookEndpoint',
  endpoint: e,
});

export async function createEndpoint(db: Db, e: WebhookEndpoint): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: endpointItem(e), ConditionExpression: 'attribute_not_exists(pk)' }));
}

export async function getEndpoint(db: Db, orgId: string, id: string): Promise<WebhookEndpoint | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: webhookKeys.endpoint(orgId, id), ConsistentRead: true }));
  return (res.Item?.endpoint as WebhookEndpoint | undefined) ?? null;
}

export async function listEndpoints(
  db: Db,
  orgId: string,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ data: WebhookEndpoint[]; nextCursor: string | null }> {
  const pk = keys.org(orgId).pk;
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': webhookPrefixes.endpoint },
      Limit: page.limit,
      ExclusiveStartKey: decodeCursor(page.cursor, { pk, sk: /^WHE#/ }),
    }),
  );
  return { data: (res.Items ?? []).map((i) => i.endpoint as WebhookEndpoint), nextCursor: encodeCursor(res.LastEvaluatedKey) };
}

/** Every endpoint of an org (an org has a handful: creation caps them). */
export async function listAllEndpoints(db: Db, orgId: string): Promise<WebhookEndpoint[]> {
  const out: WebhookEndpoint[] = [];
  let cursor: string | undefined;
  do {
    const page = await listEndpoints(db, orgId, { limit: 100, cursor });
    out.push(...page.data);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

export async function deleteEndpoint(db: Db, orgId: string, id: string): Promise<boolean> {
  try {
    await db.doc.send(new DeleteCommand({ TableName: db.table, Key: webhookKeys.endpoint(orgId, id), ConditionExpression: 'attribute_exists(pk)' }));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Replaces the secrets of an endpoint read at `version`; false when it changed or vanished since. */
export async function replaceEndpointSecrets(db: Db, e: WebhookEndpoint, secrets: EndpointSecret[], now: Date): Promise<boolean> {
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(e.orgId, e.id),
        UpdateExpression: 'SET endpoint.secrets = :s, endpoint.updatedAt = :now, endpoint.version = :next',
        ConditionExpression: 'endpoint.version = :v',
        ExpressionAttributeValues: { ':s': secrets, ':now': now.toISOString(), ':v': e.version, ':next': e.version + 1 },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Records the first failure since the last success (a later failure keeps the first time). */
export async function markEndpointFailing(db: Db, orgId: string, id: string, since: Date): Promise<void> {
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(orgId, id),
        UpdateExpression: 'SET endpoint.failingSince = if_not_exists(endpoint.failingSince, :since)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':since': since.toISOString() },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

export async function clearEndpointFailing(db: Db, orgId: string, id: string): Promise<void> {
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(orgId, id),
        UpdateExpression: 'REMOVE endpoint.failingSince',
        ConditionExpression: 'attribute_exists(endpoint.failingSince)',
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

/** Transaction item: disable an endpoint still enabled at the version read. */
export const endpointDisable = (db: Db, e: WebhookEndpoint, reason: string, now: Date): TransactItem => ({
  Update: {
    TableName: db.table,
    Key: webhookKeys.endpoint(e.orgId, e.id),
    UpdateExpression:
      'SET endpoint.#status = :disabled, endpoint.disabledReason = :reason, endpoint.disabledAt = :now, endpoint.updatedAt = :now, endpoint.version = :next',
    ConditionExpression: 'endpoint.version = :v AND endpoint.#status = :enabled',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: {
      ':disabled': 'disabled',
      ':enabled': 'enabled',
      ':reason': reason,
      ':now': now.toISOString(),
      ':v': e.version,
      ':next': e.version + 1,
    },
  },
});

function deliveryItem(d: WebhookDelivery): Record<string, unknown> {
  return {
    ...webhookKeys.delivery(d.endpointId, d.id),
    ...webhookKeys.deliveryIndex(d.id),
    ...(d.status === 'pending' && d.nextAttemptAt ? webhookKeys.deliveryDue(d.endpointId, d.nextAttemptAt, d.id) : {}),
    entity: 'webhookDelivery',
    delivery: d,
    ttl: ttlAfter(new Date(d.createdAt), DELIVERY_RETENTION_SECONDS),
  };
}

/** Creates a delivery; false when it already exists (a repeated stream record). */
export async function createDelivery(db: Db, d: WebhookDelivery): Promise<boolean> {
  try {
    await db.doc.send(new PutCommand({ TableName: db.table, Item: deliveryItem(d), ConditionExpression: 'attribute_not_exists(pk)' }));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

export async function getDelivery(db: Db, endpointId: string, id: string): Promise<WebhookDelivery | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: webhookKeys.delivery(endpointId, id), ConsistentRead: true }));
  return (res.Item?.delivery as WebhookDelivery | undefined) ?? null;
}

/** Replaces a delivery read at `readVersion`; false when another writer changed it first. */
export async function replaceDelivery(db: Db, readVersion: number, next: WebhookDelivery): Promise<boolean> {
  try {
    await db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: deliveryItem(next),
        ConditionExpression: 'delivery.version = :v',
        ExpressionAttributeValues: { ':v': readVersion },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** An endpoint's deliveries, newest first (delivery ids start with the event's time-ordered id). */
export async function listDeliveries(
  db: Db,
  endpointId: string,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ data: WebhookDelivery[]; nextCursor: string | null }> {
  const pk = webhookKeys.delivery(endpointId, '').pk;
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': webhookPrefixes.delivery },
      ScanIndexForward: false,
      Limit: page.limit,
      ExclusiveStartKey: decodeCursor(page.cursor, { pk, sk: /^DLV#/ }),
    }),
  );
  return { data: (res.Items ?? []).map((i) => i.delivery as WebhookDelivery), nextCursor: encodeCursor(res.LastEvaluatedKey) };
}

/** An endpoint that may have pending deliveries, as its due mark says. */
export interface DueEndpoint {
  orgId: string;
  endpointId: string;
  /** When the mark was last written. */
  markedAt: string;
}

/**
 * Marks an endpoint as having pending deliveries (its gsi2 joins a `WHEDUE` shard). Written before a
 * delivery becomes pending; a deleted endpoint is left alone (its deliveries are dropped).
 */
export async function markEndpointDue(db: Db, orgId: string, endpointId: string, now: Date): Promise<void> {
  const due = webhookKeys.endpointDue(endpointId);
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(orgId, endpointId),
        UpdateExpression: 'SET gsi2pk = :pk, gsi2sk = :sk, dueMarkedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':pk': due.gsi2pk, ':sk': due.gsi2sk, ':now': now.toISOString() },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

/** Removes a due mark still as it was read (a delivery created since re-marked it: then it stays). */
export async function clearEndpointDue(db: Db, mark: DueEndpoint): Promise<boolean> {
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(mark.orgId, mark.endpointId),
        UpdateExpression: 'REMOVE gsi2pk, gsi2sk, dueMarkedAt',
        ConditionExpression: 'dueMarkedAt = :read',
        ExpressionAttributeValues: { ':read': mark.markedAt },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Every endpoint with a due mark: each `WHEDUE` shard read in parallel, every page. */
export async function listDueEndpoints(db: Db): Promise<DueEndpoint[]> {
  const shards = await Promise.all(
    Array.from({ length: DUE_SHARDS }, async (_, shard) => {
      const found: DueEndpoint[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const res = await db.doc.send(
          new QueryCommand({
            TableName: db.table,
            IndexName: 'gsi2',
            KeyConditionExpression: 'gsi2pk = :pk',
            ExpressionAttributeValues: { ':pk': webhookKeys.dueShard(shard) },
            ExclusiveStartKey: start,
          }),
        );
        for (const item of res.Items ?? []) {
          const e = item.endpoint as WebhookEndpoint | undefined;
          if (e && typeof item.dueMarkedAt === 'string') found.push({ orgId: e.orgId, endpointId: e.id, markedAt: item.dueMarkedAt });
        }
        start = res.LastEvaluatedKey;
      } while (start);
      return found;
    }),
  );
  return shards.flat();
}

/**
 * One endpoint's pending deliveries in due order, at most `max`: the due ones (next attempt or expired
 * lease at or before `now`) and whether any pending delivery is left at all (`empty`).
 */
export async function listEndpointDueDeliveries(db: Db, endpointId: string, now: Date, max: number): Promise<{ due: DeliveryRef[]; empty: boolean }> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :pk',
      ExpressionAttributeValues: { ':pk': `DLVDUE#${endpointId}` },
      Limit: max,
    }),
  );
  const items = res.Items ?? [];
  const cutoff = `${now.toISOString()}~`;
  const due = items
    .filter((item) => typeof item.gsi2sk === 'string' && item.gsi2sk <= cutoff)
    .map((item) => {
      const d = item.delivery as WebhookDelivery;
      return { endpointId: d.endpointId, deliveryId: d.id };
    });
  return { due, empty: items.length === 0 };
}

/** Pending deliveries still under the single due key of before (written by an older version), oldest first. */
export async function listLegacyDueDeliveries(db: Db, now: Date, max: number): Promise<DeliveryRef[]> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk <= :now',
      ExpressionAttributeValues: { ':pk': LEGACY_DUE_KEY, ':now': `${now.toISOString()}~` },
      Limit: max,
    }),
  );
  return (res.Items ?? []).map((item) => {
    const d = item.delivery as WebhookDelivery;
    return { endpointId: d.endpointId, deliveryId: d.id };
  });
}

/** A test or retry an org admin asked for on an endpoint, counted until its attempt is recorded. */
export interface ManualRequest {
  deliveryId: string;
  requestedAt: string;
}

/** The endpoint's outstanding manual requests as last written, and the version to write them at (0: never written). */
export async function getManualRequests(db: Db, orgId: string, endpointId: string): Promise<{ requests: ManualRequest[]; version: number } | null> {
  const res = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: webhookKeys.endpoint(orgId, endpointId), ConsistentRead: true, ProjectionExpression: 'pk, manualRequests, manualVersion' }),
  );
  if (!res.Item) return null;
  return { requests: (res.Item.manualRequests as ManualRequest[] | undefined) ?? [], version: (res.Item.manualVersion as number | undefined) ?? 0 };
}

/** Writes the endpoint's outstanding manual requests if nobody wrote them since `version`; false otherwise. */
export async function putManualRequests(db: Db, orgId: string, endpointId: string, version: number, requests: ManualRequest[]): Promise<boolean> {
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(orgId, endpointId),
        UpdateExpression: 'SET manualRequests = :r, manualVersion = :next',
        ConditionExpression: version === 0 ? 'attribute_exists(pk) AND attribute_not_exists(manualVersion)' : 'manualVersion = :v',
        ExpressionAttributeValues: { ':r': requests, ':next': version + 1, ...(version === 0 ? {} : { ':v': version }) },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}
