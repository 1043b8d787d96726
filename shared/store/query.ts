/** Queries read to the end. */
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';

/** Every item of a query, page after page. */
export async function* queryAll(db: Db, input: QueryCommandInput): AsyncGenerator<Record<string, unknown>[]> {
  let start: Record<string, unknown> | undefined;
  do {
    const res = await db.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    yield res.Items ?? [];
    start = res.LastEvaluatedKey;
  } while (start);
}
