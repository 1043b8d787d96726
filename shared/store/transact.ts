import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export const MAX_TRANSACTION_ITEMS = 100;

/** One atomic write. Callers build items with the store's helpers; this only sends them. */
export async function transact(db: Db, items: TransactItem[], clientRequestToken?: string): Promise<void> {
  if (items.length === 0) return;
  if (items.length > MAX_TRANSACTION_ITEMS) {
    throw new Error(`transaction of ${items.length} items exceeds DynamoDB's ${MAX_TRANSACTION_ITEMS}`);
  }
  await db.doc.send(
    new TransactWriteCommand({
      TransactItems: items,
      ...(clientRequestToken ? { ClientRequestToken: clientRequestToken } : {}),
    }),
  );
}

/** Put that must create the item. */
export const putNew = (db: Db, item: Record<string, unknown>): TransactItem => ({
  Put: { TableName: db.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' },
});

/** Put replacing an item only if its `version` is still the one read (0 = must not exist). */
export const putVersioned = (db: Db, item: Record<string, unknown> & { version: number }, readVersion: number): TransactItem =>
  readVersion === 0
    ? putNew(db, item)
    : {
        Put: {
          TableName: db.table,
          Item: item,
          ConditionExpression: 'version = :v',
          ExpressionAttributeValues: { ':v': readVersion },
        },
      };

/** Assert an item is unchanged since it was read (0 = still absent). */
export const checkVersion = (db: Db, key: { pk: string; sk: string }, readVersion: number): TransactItem => ({
  ConditionCheck:
    readVersion === 0
      ? { TableName: db.table, Key: key, ConditionExpression: 'attribute_not_exists(pk)' }
      : {
          TableName: db.table,
          Key: key,
          ConditionExpression: 'version = :v',
          ExpressionAttributeValues: { ':v': readVersion },
        },
});
