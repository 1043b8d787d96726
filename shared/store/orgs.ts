import { createHash, randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Org, Principal } from '#domain/principal.ts';
import type { Db } from './db.ts';
import { keys, ORG_LISTING } from './keys.ts';
import type { TransactItem } from './transact.ts';
import { getConsistent } from './batched-get.ts';

/** API keys are 160 random bits, prefixed by kind; only their SHA-256 is stored. */
export const KEY_PREFIX: Record<Principal['role'], string> = {
  customer: 'gm_live_',
  finance: 'gm_fin_',
  operator: 'gm_op_',
  meter: 'gm_meter_',
};

export const hashApiKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

export function generateApiKey(role: Principal['role']): string {
  return `${KEY_PREFIX[role]}${randomBytes(20).toString('base64url')}`;
}

const apiKeyItem = (key: string, principal: Principal, now: Date) => ({
  ...keys.apiKey(hashApiKey(key)),
  ...keys.apiKeyIndex(principal.keyId),
  ...(principal.orgId ? keys.orgApiKeyIndex(principal.orgId, now.toISOString(), principal.keyId) : {}),
  entity: 'apiKey',
  principal,
  prefix: key.slice(0, 12),
  revoked: false,
  createdAt: now.toISOString(),
});

export async function putApiKey(db: Db, key: string, principal: Principal, now: Date): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: apiKeyItem(key, principal, now) }));
}

/** The same key item as a transaction part that must create it. */
export const apiKeyCreate = (db: Db, key: string, principal: Principal, now: Date): TransactItem => ({
  Put: { TableName: db.table, Item: apiKeyItem(key, principal, now), ConditionExpression: 'attribute_not_exists(pk)' },
});

export async function principalForKey(db: Db, key: string): Promise<Principal | null> {
  // Batched with the other consistent reads of the same turn (a rush authenticates hundreds at once).
  const item = await getConsistent(db, keys.apiKey(hashApiKey(key)));
  if (!item || item.revoked) return null;
  return item.principal as Principal;
}

/** The stored API key item with this key id (found through its index, since only the hash is the key). */
export async function apiKeyItemById(db: Db, keyId: string): Promise<Record<string, unknown> | null> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.apiKeyIndex(keyId).gsi1pk },
      Limit: 1,
    }),
  );
  return res.Items?.[0] ?? null;
}

/** Revokes by key id (the key itself is never stored); false when no such key exists. */
export async function revokeApiKeyById(db: Db, keyId: string): Promise<boolean> {
  const item = await apiKeyItemById(db, keyId);
  if (!item) return false;
  await db.doc.send(
    new UpdateCommand({
      TableName: db.table,
      Key: { pk: String(item.pk), sk: String(item.sk) },
      UpdateExpression: 'SET revoked = :t',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':t': true },
    }),
  );
  return true;
}

export const putOrg = (db: Db, org: Org) =>
  db.doc.send(new PutCommand({ TableName: db.table, Item: { ...keys.org(org.id), ...keys.orgIndex(org.createdAt, org.id), entity: 'org', org } }));

export async function getOrg(db: Db, orgId: string): Promise<Org | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.org(orgId), ConsistentRead: true }));
  return (res.Item?.org as Org | undefined) ?? null;
}

/** Records the Stripe customer id once; a concurrent writer that set another id first wins. */
export async function setStripeCustomerId(db: Db, orgId: string, customerId: string): Promise<void> {
  await db.doc.send(
    new UpdateCommand({
      TableName: db.table,
      Key: keys.org(orgId),
      UpdateExpression: 'SET org.stripeCustomerId = :c',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':c': customerId },
    }),
  );
}

/** One page of every org, oldest first; `after` is the key the previous page stopped at. */
export async function orgsPage(db: Db, after?: Record<string, unknown>): Promise<{ data: Org[]; after: Record<string, unknown> | undefined }> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: ORG_LISTING.index,
      KeyConditionExpression: 'gsi2pk = :pk',
      ExpressionAttributeValues: { ':pk': ORG_LISTING.partition },
      ...(after ? { ExclusiveStartKey: after } : {}),
    }),
  );
  return { data: (res.Items ?? []).map((i) => i.org as Org), after: res.LastEvaluatedKey };
}

/** Every org, page after page. */
export async function listAllOrgs(db: Db): Promise<Org[]> {
  const out: Org[] = [];
  let after: Record<string, unknown> | undefined;
  do {
    const page = await orgsPage(db, after);
    out.push(...page.data);
    after = page.after;
  } while (after);
  return out;
}
