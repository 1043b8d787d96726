import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Money } from '#domain/money.ts';
import type { PriceLine } from '#domain/pricing.ts';
import type { Db } from './db.ts';
import { keys, ttlAfter } from './keys.ts';
import type { TransactItem } from './transact.ts';
import { getConsistent } from './batched-get.ts';

export interface Quote {
  id: string;
  orgId: string;
  poolId: string;
  site: string;
  gpuType: string;
  gpus: number;
  start: string;
  end: string;
  lines: PriceLine[];
  total: Money;
  gpuHours: number;
  unitPrice: Money;
  createdAt: string;
  expiresAt: string;
}

export const putQuote = (db: Db, q: Quote) =>
  db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: { ...keys.quote(q.id), entity: 'quote', quote: q, ttl: ttlAfter(new Date(q.expiresAt), 86_400) },
      // The id is fresh, so a put retried after a timeout rewrites the same quote; never one already used.
      ConditionExpression: 'attribute_not_exists(usedBy)',
    }),
  );

export async function getQuote(db: Db, id: string): Promise<{ quote: Quote; usedBy: string | null } | null> {
  const item = await getConsistent(db, keys.quote(id));
  if (!item) return null;
  return { quote: item.quote as Quote, usedBy: (item.usedBy as string | undefined) ?? null };
}

/** A quote becomes one reservation at most. */
export const quoteUse = (db: Db, quoteId: string, reservationId: string): TransactItem => ({
  Update: {
    TableName: db.table,
    Key: keys.quote(quoteId),
    UpdateExpression: 'SET usedBy = :r',
    ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(usedBy)',
    ExpressionAttributeValues: { ':r': reservationId },
  },
});
