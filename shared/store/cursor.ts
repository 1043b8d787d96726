import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { invalidField } from '#domain/errors.ts';
import type { Db } from './db.ts';

/** Opaque list cursors: the DynamoDB key a page stopped at, base64url JSON, checked on the way back in. */
export const encodeCursor = (key: Record<string, unknown> | undefined): string | null =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;

export function decodeCursor(cursor: string | undefined, expect: Record<string, string | RegExp>): Record<string, unknown> | undefined {
  if (!cursor) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidField('cursor', 'is not a cursor this API returned');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidField('cursor', 'is not a cursor this API returned');
  const record = parsed as Record<string, unknown>;
  const expectedKeys = Object.keys(expect);
  const ok =
    Object.keys(record).length === expectedKeys.length &&
    expectedKeys.every((k) => {
      const v = record[k];
      const rule = expect[k]!;
      return typeof v === 'string' && (typeof rule === 'string' ? v === rule : rule.test(v));
    });
  if (!ok) throw invalidField('cursor', 'is not a cursor this API returned');
  return record;
}

/**
 * One page of the items of partition `pk` whose sort key begins with `prefix` (newest first when
 * `newestFirst`), resuming at `page.cursor` (checked to be of this partition, its sort key matching
 * `sk`), and the cursor to the next page.
 */
export async function prefixPage(
  db: Db,
  query: { pk: string; prefix: string; sk: RegExp; newestFirst?: boolean },
  page: { limit: number; cursor?: string | undefined },
): Promise<{ items: Record<string, unknown>[]; nextCursor: string | null }> {
  const { pk, prefix, sk, newestFirst } = query;
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
      ...(newestFirst ? { ScanIndexForward: false } : {}),
      Limit: page.limit,
      ExclusiveStartKey: decodeCursor(page.cursor, { pk, sk }),
    }),
  );
  return { items: res.Items ?? [], nextCursor: encodeCursor(res.LastEvaluatedKey) };
}
