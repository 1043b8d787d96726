/**
 * Sellers' resale earnings, one record per settled fill, written in the buyer's confirmation
 * transaction under the seller's org and the month of the sale. Billing credits them on the seller's
 * invoice for that month; reconciliation reads every org's records of a period through gsi1.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Money } from '#domain/money.ts';
import type { Db } from './db.ts';
import { keys, prefixes } from './keys.ts';
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
  let start: Record<string, unknown> | undefined;
  do {
    const res = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': keys.org(orgId).pk, ':p': `${prefixes.resaleCredit}${period}#` },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    out.push(...(res.Items ?? []).map((i) => i.credit as ResaleCredit));
    start = res.LastEvaluatedKey;
  } while (start);
  return out;
}

/** Every org's credits of a period (finance's reconciliation). */
export async function resaleCreditsOfPeriod(db: Db, period: string): Promise<ResaleCredit[]> {
  const out: ResaleCredit[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const res = await db.doc.send(
      new QueryCommand({ TableName: db.table, IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :pk', ExpressionAttributeValues: { ':pk': `RESALE#${period}` }, ExclusiveStartKey: start }),
    );
    out.push(...(res.Items ?? []).map((i) => i.credit as ResaleCredit));
    start = res.LastEvaluatedKey;
  } while (start);
  return out;
}
