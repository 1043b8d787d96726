/**
 * Strongly consistent single-item reads that are issued together are sent together: every
 * `getConsistent` made before the event loop's next check phase (e.g. the per-org records of the
 * twenty-five requests a group commit checks again at once) joins one BatchGetItem of up to 100
 * keys (duplicates read once) instead of one GetItem each; with `MAX_IN_FLIGHT` batches already
 * out, reads wait for one to come back and fill the next. The answer is the same item a consistent
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

/**
 * At most this many batches of one client in flight: reads issued meanwhile wait and fill the next
 * batch, so when DynamoDB answers slowly (a rush) batches grow instead of multiplying; when it answers
 * fast a read leaves in the next check phase as before.
 */
const MAX_IN_FLIGHT = 4;
interface Lane {
  queue: Pending[];
  inFlight: number;
  scheduled: boolean;
}
const lanes = new WeakMap<Db, Lane>();
const idOf = (k: Key) => `${k.pk}\u0000${k.sk}`;

function pump(db: Db, lane: Lane) {
  while (lane.inFlight < MAX_IN_FLIGHT && lane.queue.length > 0) {
    const batch = lane.queue.shift()!;
    lane.inFlight++;
    void flush(db, batch).finally(() => {
      lane.inFlight--;
      pump(db, lane);
    });
  }
}

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
  let lane = lanes.get(db);
  if (!lane) lanes.set(db, (lane = { queue: [], inFlight: 0, scheduled: false }));
  let batch = lane.queue.at(-1);
  if (!batch || batch.keys.size >= 100) lane.queue.push((batch = { keys: new Map(), waiters: [] }));
  if (!lane.scheduled) {
    lane.scheduled = true;
    const l = lane;
    setImmediate(() => {
      l.scheduled = false;
      pump(db, l);
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
