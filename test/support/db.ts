import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { createDocumentClient, ensureTable, type Db } from '../../shared/store/db.ts';

/** A fresh table in the run's DynamoDB Local, for one test file. */
export async function createTestDb(prefix = 'test'): Promise<Db & { drop(): Promise<void> }> {
  const doc = createDocumentClient({ endpoint: inject('dynamoEndpoint') });
  const table = `${prefix}-${randomBytes(6).toString('hex')}`;
  await ensureTable(doc, table);
  return {
    doc,
    table,
    async drop() {
      await doc.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
      doc.destroy();
    },
  };
}
