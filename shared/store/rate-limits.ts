import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { keys } from './keys.ts';

/** One counter of a window item: its attribute name (letters, digits, `_`) and the most it may reach. */
export interface WindowCounter {
  name: string;
  limit: number;
}

export type WindowCount =
  | { allowed: true; counts: Record<string, number> }
  /** Refused: nothing was counted; `counts` are the values before this request (absent = 0). */
  | { allowed: false; counts: Record<string, number> };

/**
 * Counts one request in a fixed window shared by every Lambda instance: one conditional UpdateItem
 * that adds 1 to each counter only if every counter is still below its limit. The item expires
 * (TTL) one window after it ends. A refused request leaves the counters as they were.
 */
export async function countInWindow(
  db: Db,
  scope: string,
  windowStartSeconds: number,
  windowSeconds: number,
  counters: WindowCounter[],
): Promise<WindowCount> {
  const names: Record<string, string> = {};
  const values: Record<string, number> = { ':one': 1, ':ttl': windowStartSeconds + 2 * windowSeconds };
  const adds: string[] = [];
  const conditions: string[] = [];
  counters.forEach((c, i) => {
    names[`#c${i}`] = c.name;
    values[`:l${i}`] = c.limit;
    adds.push(`#c${i} :one`);
    conditions.push(`(attribute_not_exists(#c${i}) OR #c${i} < :l${i})`);
  });
  try {
    const out = await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.rateWindow(scope, windowStartSeconds),
        UpdateExpression: `ADD ${adds.join(', ')} SET #ttl = :ttl`,
        ConditionExpression: conditions.join(' AND '),
        ExpressionAttributeNames: { ...names, '#ttl': 'ttl' },
        ExpressionAttributeValues: values,
        ReturnValues: 'UPDATED_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { allowed: true, counts: numbers(out.Attributes, counters) };
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    const old = (error as ConditionalCheckFailedException & { Item?: Record<string, unknown> }).Item;
    return { allowed: false, counts: numbers(unmarshallNumbers(old), counters) };
  }
}

/** Reads the counters of a window without counting (for `GET /v1/limits`). */
export async function readWindow(db: Db, scope: string, windowStartSeconds: number, names: string[]): Promise<Record<string, number>> {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.rateWindow(scope, windowStartSeconds) }));
  return Object.fromEntries(names.map((n) => [n, typeof out.Item?.[n] === 'number' ? (out.Item[n] as number) : 0]));
}

function numbers(item: Record<string, unknown> | undefined, counters: WindowCounter[]): Record<string, number> {
  return Object.fromEntries(counters.map((c) => [c.name, typeof item?.[c.name] === 'number' ? (item[c.name] as number) : 0]));
}

/** The low-level item the SDK attaches to a failed condition ({ n: { N: '3' } }) → plain numbers. */
function unmarshallNumbers(item: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!item) return undefined;
  return Object.fromEntries(
    Object.entries(item).map(([k, v]) => [k, v && typeof v === 'object' && 'N' in v ? Number((v as { N: string }).N) : v]),
  );
}
