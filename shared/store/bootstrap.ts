/** The marker the first-start command leaves: one item saying which operator key it created, and when. */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { keys } from './keys.ts';
import type { TransactItem } from './transact.ts';

export interface BootstrapMarker {
  keyId: string;
  createdAt: string;
}

export async function getBootstrapMarker(db: Db): Promise<BootstrapMarker | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.bootstrapMarker(), ConsistentRead: true }));
  return res.Item ? { keyId: String(res.Item.keyId), createdAt: String(res.Item.createdAt) } : null;
}

/** Creates the marker; fails the transaction if another run created one first. */
export const bootstrapMarkerCreate = (db: Db, marker: BootstrapMarker): TransactItem => ({
  Put: { TableName: db.table, Item: { ...keys.bootstrapMarker(), entity: 'bootstrap', ...marker }, ConditionExpression: 'attribute_not_exists(pk)' },
});
