import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { keys } from './keys.ts';

/**
 * Proves the table answers with one data-plane read of an item that never exists (DescribeTable is a
 * control-plane call that AWS rate-limits on its own and DynamoDB Local answers slower as the table grows).
 */
export async function probeTable(db: Db): Promise<void> {
  await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.health() }));
}
