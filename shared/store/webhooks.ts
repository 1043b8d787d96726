/**
 * Webhook endpoints and deliveries (docs/table-design.md):
 * - endpoint `ORG#<orgId> / WHE#<endpointId>`, gsi1 `WHE#<endpointId> / WHE`;
 * - delivery `WHE#<endpointId> / DLV#<deliveryId>`, gsi1 `DLV#<deliveryId> / DLV`, and gsi2
 *   `DLVDUE / <nextAttemptAt>#<deliveryId>` only while the delivery is pending, so the due query
 *   never sees finished deliveries.
 * Deliveries expire (TTL) 30 days after they were created.
 */
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
  deliveryDue: (at: string, id: string) => ({ gsi2pk: 'DLVDUE', gsi2sk: `${at}#${id}` }),
} as const;

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
    ...(d.status === 'pending' && d.nextAttemptAt ? webhookKeys.deliveryDue(d.nextAttemptAt, d.id) : {}),
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

/** Pending deliveries whose next attempt (or expired lease) is due at or before `now`, oldest first. */
export async function listDueDeliveries(db: Db, now: Date, max: number): Promise<DeliveryRef[]> {
  const refs: DeliveryRef[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const res = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        IndexName: 'gsi2',
        KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk <= :now',
        ExpressionAttributeValues: { ':pk': 'DLVDUE', ':now': `${now.toISOString()}~` },
        Limit: Math.min(100, max - refs.length),
        ExclusiveStartKey: start,
      }),
    );
    for (const item of res.Items ?? []) {
      const d = item.delivery as WebhookDelivery;
      refs.push({ endpointId: d.endpointId, deliveryId: d.id });
    }
    start = res.LastEvaluatedKey;
  } while (start && refs.length < max);
  return refs;
}
