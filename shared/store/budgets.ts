/**
 * Spend storage: one item per org (`ORG#<id>` / `SPEND`) holding its `SpendState` (budget, key
 * limits, monthly figures, running on-demand), replaced with a version condition in the same
 * transaction as the booking that changes it; a registry of the orgs that have a budget (`BUDGETS`);
 * and the listing of an org's API keys. Key shapes come from keys.ts.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { emptySpendState, type SpendState } from '#domain/budget.ts';
import type { Principal } from '#domain/principal.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { getConsistent } from './batched-get.ts';
import type { Db } from './db.ts';
import { keys } from './keys.ts';
import { putVersioned, type TransactItem } from './transact.ts';

/** The org's spend record as it is now (strongly consistent); an empty one (version 0) if never written. */
export async function readSpend(db: Db, orgId: string): Promise<SpendState> {
  const item = await getConsistent(db, keys.spend(orgId));
  return (item?.spend as SpendState | undefined) ?? emptySpendState(orgId);
}

/** Replaces the spend record read at `previous.version` (creates it when that was 0). */
export const spendWrite = (db: Db, previous: SpendState, next: SpendState): TransactItem =>
  putVersioned(db, { ...keys.spend(next.orgId), entity: 'spend', spend: { ...next, version: previous.version + 1 }, version: previous.version + 1 }, previous.version);

/** Registers (or, with `present: false`, removes) an org in the list of orgs with a budget. */
export const budgetedOrgWrite = (db: Db, orgId: string, present: boolean): TransactItem =>
  present
    ? { Put: { TableName: db.table, Item: { ...keys.budgetedOrg(orgId), entity: 'budgetedOrg', orgId } } }
    : { Delete: { TableName: db.table, Key: keys.budgetedOrg(orgId) } };

/** A page of the orgs that have a budget. */
export async function budgetedOrgs(db: Db, cursor?: string): Promise<{ orgIds: string[]; nextCursor: string | null }> {
  const pk = keys.budgetedOrg('').pk;
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      Limit: 100,
      ExclusiveStartKey: decodeCursor(cursor, { pk, sk: /^ORG#/ }),
    }),
  );
  return { orgIds: (res.Items ?? []).map((i) => String(i.orgId)), nextCursor: encodeCursor(res.LastEvaluatedKey) };
}

export interface StoredApiKey {
  principal: Principal;
  prefix: string;
  revoked: boolean;
  createdAt: string;
}

/** A page of an org's API keys, oldest first (the key itself is never stored: only its first characters). */
export async function apiKeysOfOrg(db: Db, orgId: string, page: { limit: number; cursor?: string | undefined }): Promise<{ data: StoredApiKey[]; nextCursor: string | null }> {
  const gsi2pk = keys.orgApiKeyIndex(orgId, '', '').gsi2pk;
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :pk',
      ExpressionAttributeValues: { ':pk': gsi2pk },
      Limit: page.limit,
      ExclusiveStartKey: decodeCursor(page.cursor, { pk: /^KEY#[0-9a-f]{64}$/, sk: 'KEY', gsi2pk, gsi2sk: /^\d{4}-/ }),
    }),
  );
  return {
    data: (res.Items ?? []).map((i) => ({ principal: i.principal as Principal, prefix: String(i.prefix), revoked: Boolean(i.revoked), createdAt: String(i.createdAt) })),
    nextCursor: encodeCursor(res.LastEvaluatedKey),
  };
}
