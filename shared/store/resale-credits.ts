/**
 * Sellers' resale earnings, one record per settled fill, written in the buyer's confirmation
 * transaction under the seller's org and the month of the sale, with a payout marker; billing's payout
 * pass credits them on the seller's invoice (a credit note) and removes the marker in one transaction.
 * Reconciliation reads every org's records of a period through gsi1.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Money } from '#domain/money.ts';
import type { Db } from './db.ts';
import { keys, prefixes } from './keys.ts';
import { queryAll } from './query.ts';
import type { TransactItem } from './transact.ts';

export interface ResaleCredit {
  orgId: string;
  period: string;
  fillId: string;
  listingId: string;
  reservationId: string;
  poolId: string;
  gpuHours: number;
  gross: Money;
  fee: Money;
  earnings: Money;
  at: string;
  /** The credit notes that paid the earnings out on the seller's invoices (billing), once done. */
  creditNoteIds?: string[] | undefined;
}

export const resaleCreditWrite = (db: Db, c: ResaleCredit): TransactItem => ({
  Put: {
    TableName: db.table,
    Item: { ...keys.resaleCredit(c.orgId, c.period, c.fillId), gsi1pk: `RESALE#${c.period}`, gsi1sk: `${c.orgId}#${c.fillId}`, entity: 'resaleCredit', credit: c },
    ConditionExpression: 'attribute_not_exists(pk)',
  },
});

/** One org's credits of a period. */
export async function resaleCreditsOfOrg(db: Db, orgId: string, period: string): Promise<ResaleCredit[]> {
  const out: ResaleCredit[] = [];
  const query = {
    TableName: db.table,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
    ExpressionAttributeValues: { ':pk': keys.org(orgId).pk, ':p': `${prefixes.resaleCredit}${period}#` },
    ConsistentRead: true,
  };
  for await (const items of queryAll(db, query)) out.push(...items.map((i) => i.credit as ResaleCredit));
  return out;
}

/** Every org's credits of a period (finance's reconciliation). */
export async function resaleCreditsOfPeriod(db: Db, period: string): Promise<ResaleCredit[]> {
  const out: ResaleCredit[] = [];
  const query = { TableName: db.table, IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :pk', ExpressionAttributeValues: { ':pk': `RESALE#${period}` } };
  for await (const items of queryAll(db, query)) out.push(...items.map((i) => i.credit as ResaleCredit));
  return out;
}

/** The payout marker of a credit, written with it (removed when billing has credited it). */
export const resalePayoutMarkerPut = (db: Db, c: ResaleCredit): TransactItem => ({
  Put: { TableName: db.table, Item: { ...keys.resalePayout(c.at, c.orgId, c.fillId), entity: 'resalePayout', orgId: c.orgId, period: c.period, fillId: c.fillId } },
});

/** Credits waiting to be paid out, oldest first. */
export async function pendingResalePayouts(db: Db, limit: number): Promise<{ orgId: string; period: string; fillId: string }[]> {
  const res = await db.doc.send(
    new QueryCommand({ TableName: db.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'RESALEPAYOUT' }, Limit: limit, ConsistentRead: true }),
  );
  return (res.Items ?? []).map((i) => ({ orgId: String(i.orgId), period: String(i.period), fillId: String(i.fillId) }));
}

export async function getResaleCredit(db: Db, orgId: string, period: string, fillId: string): Promise<ResaleCredit | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.resaleCredit(orgId, period, fillId), ConsistentRead: true }));
  return (res.Item?.credit as ResaleCredit | undefined) ?? null;
}

/** Records the credit notes that paid a credit out and removes its marker; fails if it was paid out already. */
export const resalePaidOut = (db: Db, c: ResaleCredit, creditNoteIds: string[]): TransactItem[] => [
  {
    Update: {
      TableName: db.table,
      Key: keys.resaleCredit(c.orgId, c.period, c.fillId),
      UpdateExpression: 'SET #c.#n = :ids',
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#c.#n)',
      ExpressionAttributeNames: { '#c': 'credit', '#n': 'creditNoteIds' },
      ExpressionAttributeValues: { ':ids': creditNoteIds },
    },
  },
  { Delete: { TableName: db.table, Key: keys.resalePayout(c.at, c.orgId, c.fillId) } },
];
