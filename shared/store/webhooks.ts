/**
 * Webhook endpoints (docs/table-design.md); their deliveries are in webhook-deliveries.ts.
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
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { conditionally } from './conditional.ts';
import type { Db } from './db.ts';
import { prefixPage } from './cursor.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';
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

export const dueShardOf = (endpointId: string): number => createHash('sha256').update(endpointId, 'utf8').digest().readUInt32BE(0) % DUE_SHARDS;

export const webhookPrefixes = { endpoint: 'WHE#', delivery: 'DLV#' } as const;

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
  const { items, nextCursor } = await prefixPage(db, { pk: keys.org(orgId).pk, prefix: webhookPrefixes.endpoint, sk: /^WHE#/ }, page);
  return { data: items.map((i) => i.endpoint as WebhookEndpoint), nextCursor };
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
  return conditionally(() =>
    db.doc.send(new DeleteCommand({ TableName: db.table, Key: webhookKeys.endpoint(orgId, id), ConditionExpression: 'attribute_exists(pk)' })),
  );
}

/** Replaces the secrets of an endpoint read at `version`; false when it changed or vanished since. */
export async function replaceEndpointSecrets(db: Db, e: WebhookEndpoint, secrets: EndpointSecret[], now: Date): Promise<boolean> {
  return conditionally(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(e.orgId, e.id),
        UpdateExpression: 'SET endpoint.secrets = :s, endpoint.updatedAt = :now, endpoint.version = :next',
        ConditionExpression: 'endpoint.version = :v',
        ExpressionAttributeValues: { ':s': secrets, ':now': now.toISOString(), ':v': e.version, ':next': e.version + 1 },
      }),
    ),
  );
}

/** Records the first failure since the last success (a later failure keeps the first time). */
export async function markEndpointFailing(db: Db, orgId: string, id: string, since: Date): Promise<void> {
  await conditionally(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(orgId, id),
        UpdateExpression: 'SET endpoint.failingSince = if_not_exists(endpoint.failingSince, :since)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':since': since.toISOString() },
      }),
    ),
  );
}

export async function clearEndpointFailing(db: Db, orgId: string, id: string): Promise<void> {
  await conditionally(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(orgId, id),
        UpdateExpression: 'REMOVE endpoint.failingSince',
        ConditionExpression: 'attribute_exists(endpoint.failingSince)',
      }),
    ),
  );
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
  await conditionally(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(orgId, endpointId),
        UpdateExpression: 'SET gsi2pk = :pk, gsi2sk = :sk, dueMarkedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':pk': due.gsi2pk, ':sk': due.gsi2sk, ':now': now.toISOString() },
      }),
    ),
  );
}

/** Removes a due mark still as it was read (a delivery created since re-marked it: then it stays). */
export async function clearEndpointDue(db: Db, mark: DueEndpoint): Promise<boolean> {
  return conditionally(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(mark.orgId, mark.endpointId),
        UpdateExpression: 'REMOVE gsi2pk, gsi2sk, dueMarkedAt',
        ConditionExpression: 'dueMarkedAt = :read',
        ExpressionAttributeValues: { ':read': mark.markedAt },
      }),
    ),
  );
}

/** Every endpoint with a due mark: each `WHEDUE` shard read in parallel, every page. */
export async function listDueEndpoints(db: Db): Promise<DueEndpoint[]> {
  const shards = await Promise.all(
    Array.from({ length: DUE_SHARDS }, async (_, shard) => {
      const found: DueEndpoint[] = [];
      for await (const items of queryAll(db, { TableName: db.table, IndexName: 'gsi2', KeyConditionExpression: 'gsi2pk = :pk', ExpressionAttributeValues: { ':pk': webhookKeys.dueShard(shard) } })) {
        for (const item of items) {
          const e = item.endpoint as WebhookEndpoint | undefined;
          if (e && typeof item.dueMarkedAt === 'string') found.push({ orgId: e.orgId, endpointId: e.id, markedAt: item.dueMarkedAt });
        }
      }
      return found;
    }),
  );
  return shards.flat();
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
  return conditionally(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: webhookKeys.endpoint(orgId, endpointId),
        UpdateExpression: 'SET manualRequests = :r, manualVersion = :next',
        ConditionExpression: version === 0 ? 'attribute_exists(pk) AND attribute_not_exists(manualVersion)' : 'manualVersion = :v',
        ExpressionAttributeValues: { ':r': requests, ':next': version + 1, ...(version === 0 ? {} : { ':v': version }) },
      }),
    ),
  );
}
