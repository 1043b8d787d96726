import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { keys } from './keys.ts';
import { createCoalescer, perDb } from './coalesce.ts';

/**
 * Whose requests a window item counts: a client address (before authentication), an org (its keys'
 * writes together) or a key without an org. Part of the item's key: only the store spells it.
 */
export const rateScope = {
  address: (address: string) => `ADDR#${address}`,
  org: (orgId: string) => `ORG#${orgId}`,
  key: (keyId: string) => `KEY#${keyId}`,
} as const;

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
 *
 * Requests of one scope that arrive while its previous count is in flight (a burst from one org)
 * share the next UpdateItem (shared/store/coalesce.ts): it adds their number k, conditioned on every
 * counter leaving room for all k, and each gets the count it would have had alone (in call order). When the window has no room for all of
 * them, they are counted one by one, in order, so exactly as many pass as singly counted would.
 */
export function countInWindow(db: Db, scope: string, windowStartSeconds: number, windowSeconds: number, counters: WindowCounter[]): Promise<WindowCount> {
  const id = `${scope}\u0000${windowStartSeconds}\u0000${windowSeconds}\u0000${counters.map((c) => `${c.name}:${c.limit}`).join(',')}`;
  return countTogether(db, id, { scope, windowStartSeconds, windowSeconds, counters });
}

interface CountRequest {
  scope: string;
  windowStartSeconds: number;
  windowSeconds: number;
  counters: WindowCounter[];
}

const countTogether = perDb((db: Db) =>
  createCoalescer<CountRequest, WindowCount>(async (_id, batch) => {
    const { scope, windowStartSeconds: start, windowSeconds: seconds, counters } = batch[0]!;
    const k = batch.length;
    if (k > 1 && counters.every((c) => c.limit >= k)) {
      const together = await addInWindow(db, scope, start, seconds, counters, k);
      if (together.allowed) {
        const counts = together.counts;
        return batch.map((_, i) => ({ allowed: true as const, counts: Object.fromEntries(counters.map((c) => [c.name, (counts[c.name] ?? 0) - (k - 1 - i)])) }));
      }
    }
    // No room for all of them: one by one, in order, so exactly as many pass as single writes would.
    const results: WindowCount[] = [];
    for (let i = 0; i < k; i++) results.push(await addInWindow(db, scope, start, seconds, counters, 1));
    return results;
  }),
);

/** Adds `n` to every counter if each leaves room for all n (`counter ≤ limit − n` before); else refuses, counting nothing. */
async function addInWindow(db: Db, scope: string, windowStartSeconds: number, windowSeconds: number, counters: WindowCounter[], n: number): Promise<WindowCount> {
  const names: Record<string, string> = {};
  const values: Record<string, number> = { ':n': n, ':ttl': windowStartSeconds + 2 * windowSeconds };
  const adds: string[] = [];
  const conditions: string[] = [];
  counters.forEach((c, i) => {
    names[`#c${i}`] = c.name;
    values[`:l${i}`] = c.limit - n + 1;
    adds.push(`#c${i} :n`);
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
