/**
 * Secrets the service keeps in its own table: created at first use by whichever instance comes first
 * (a conditional put), the same for every instance after that, never sent to a client.
 */
import { randomBytes } from 'node:crypto';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { keys } from './keys.ts';

/** The 32-byte secret that list cursors are sealed with; created on first use. */
export async function cursorSecret(db: Db): Promise<Buffer> {
  const key = keys.cursorSecret();
  const read = async () => {
    const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: key, ConsistentRead: true }));
    const value = res.Item?.secret;
    return typeof value === 'string' ? Buffer.from(value, 'base64') : null;
  };
  const existing = await read();
  if (existing) return existing;
  const fresh = randomBytes(32);
  try {
    await db.doc.send(
      new PutCommand({ TableName: db.table, Item: { ...key, entity: 'secret', secret: fresh.toString('base64') }, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    return fresh;
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    const winner = await read();
    if (!winner) throw error;
    return winner;
  }
}
