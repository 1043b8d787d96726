/**
 * Webhook deliveries (key shapes in webhooks.ts, with the endpoints'): a delivery per endpoint and
 * event, its attempts, and the due index the retry pass reads (per endpoint, and the legacy single key).
 */
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { conditionally } from './conditional.ts';
import type { Db } from './db.ts';
import { prefixPage } from './cursor.ts';
import { ttlAfter } from './keys.ts';
import { webhookKeys, webhookPrefixes } from './webhooks.ts';

/** Before the due index was per endpoint, every pending delivery sat under this one key; still read so none is stranded. */
const LEGACY_DUE_KEY = 'DLVDUE';

export const DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600;

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
  return conditionally(() =>
    db.doc.send(new PutCommand({ TableName: db.table, Item: deliveryItem(d), ConditionExpression: 'attribute_not_exists(pk)' })),
  );
}

export async function getDelivery(db: Db, endpointId: string, id: string): Promise<WebhookDelivery | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: webhookKeys.delivery(endpointId, id), ConsistentRead: true }));
  return (res.Item?.delivery as WebhookDelivery | undefined) ?? null;
}

/** Replaces a delivery read at `readVersion`; false when another writer changed it first. */
export async function replaceDelivery(db: Db, readVersion: number, next: WebhookDelivery): Promise<boolean> {
  return conditionally(() =>
    db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: deliveryItem(next),
        ConditionExpression: 'delivery.version = :v',
        ExpressionAttributeValues: { ':v': readVersion },
      }),
    ),
  );
}

/** An endpoint's deliveries, newest first (delivery ids start with the event's time-ordered id). */
export async function listDeliveries(
  db: Db,
  endpointId: string,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ data: WebhookDelivery[]; nextCursor: string | null }> {
  const { items, nextCursor } = await prefixPage(db, { pk: webhookKeys.delivery(endpointId, '').pk, prefix: webhookPrefixes.delivery, sk: /^DLV#/, newestFirst: true }, page);
  return { data: items.map((i) => i.delivery as WebhookDelivery), nextCursor };
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
