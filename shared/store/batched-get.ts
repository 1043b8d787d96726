/**
 * Strongly consistent single-item reads that are issued together are sent together: every
 * `getConsistent` made before the event loop's next check phase (e.g. the per-org records of the
 * twenty-five requests a group commit checks again at once) joins one BatchGetItem of up to 100
 * keys (duplicates read once) instead of one GetItem each. The answer is the same item a consistent
 * GetItem returns; a failed batch fails every read in it, and each caller retries as it would have.
 * DynamoDB charges a batch per item read, like the single reads it replaces.
 */
import type { Db } from './db.ts';
import { AsyncLocalStorage } from 'node:async_hooks';
import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import type { TransactItem } from './transact.ts';

type Key = { pk: string; sk: string };
interface Pending {
  keys: Map<string, Key>;
  waiters: { id: string; resolve(item: Record<string, unknown> | undefined): void; reject(error: unknown): void }[];
}

const pendingByDb = new WeakMap<Db, Pending>();
const idOf = (k: Key) => `${k.pk}\u0000${k.sk}`;

async function flush(db: Db, batch: Pending) {
  try {
    const items = await batchGetConsistent(db, [...batch.keys.values()]);
    const byId = new Map(items.map((i) => [idOf(i as unknown as Key), i]));
    for (const w of batch.waiters) w.resolve(byId.get(w.id));
  } catch (error) {
    for (const w of batch.waiters) w.reject(error);
  }
}

/**
 * Items as a not-yet-committed transaction will have written them: inside `readingAfter(items, fn)`,
 * `getConsistent` of a key one of `items` puts answers that put's item instead of reading. A group
 * commit uses it to check an org's next request as if its earlier one had committed (sequencer.ts).
 */
const written = new AsyncLocalStorage<Map<string, Record<string, unknown>>>();

export function readingAfter<T>(items: readonly TransactItem[], fn: () => Promise<T>): Promise<T> {
  const puts = new Map(written.getStore());
  for (const i of items) if (i.Put?.Item) puts.set(idOf(i.Put.Item as Key), i.Put.Item);
  return written.run(puts, fn);
}

/** The item at `key` (undefined when absent), read strongly consistently, batched with concurrent reads of `db`. */
export function getConsistent(db: Db, key: Key): Promise<Record<string, unknown> | undefined> {
  const pending = written.getStore()?.get(idOf(key));
  if (pending) return Promise.resolve(pending);
  let batch = pendingByDb.get(db);
  if (!batch || batch.keys.size >= 100) {
    const fresh: Pending = { keys: new Map(), waiters: [] };
    batch = fresh;
    pendingByDb.set(db, fresh);
    setImmediate(() => {
      if (pendingByDb.get(db) === fresh) pendingByDb.delete(db);
      void flush(db, fresh);
    });
  }
  const id = idOf(key);
  batch.keys.set(id, { pk: key.pk, sk: key.sk });
  const joined = batch;
  return new Promise((resolve, reject) => joined.waiters.push({ id, resolve, reject }));
}

/** Strongly consistent reads of many keys: one BatchGetItem per 100 keys, unprocessed keys retried with backoff. */
export async function batchGetConsistent(db: Db, keyList: { pk: string; sk: string }[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < keyList.length; i += 100) {
    let pending: { pk: string; sk: string }[] = keyList.slice(i, i + 100);
    for (let round = 0; pending.length > 0; round++) {
      const res = await db.doc.send(
        new BatchGetCommand({ RequestItems: { [db.table]: { Keys: pending, ConsistentRead: true } } }),
      );
      out.push(...(res.Responses?.[db.table] ?? []));
      pending = (res.UnprocessedKeys?.[db.table]?.Keys as { pk: string; sk: string }[] | undefined) ?? [];
      if (pending.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** round)));
    }
  }
  return out;
}
