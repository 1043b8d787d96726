/**
 * Strongly consistent single-item reads that are issued together are sent together: every
 * `getConsistent` made before the event loop's next check phase (e.g. the per-org records of the
 * twenty-five requests a group commit checks again at once) joins one BatchGetItem of up to 100
 * keys (duplicates read once) instead of one GetItem each. The answer is the same item a consistent
 * GetItem returns; a failed batch fails every read in it, and each caller retries as it would have.
 * DynamoDB charges a batch per item read, like the single reads it replaces.
 */
import type { Db } from './db.ts';
import { batchGetConsistent } from './capacity.ts';

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

/** The item at `key` (undefined when absent), read strongly consistently, batched with concurrent reads of `db`. */
export function getConsistent(db: Db, key: Key): Promise<Record<string, unknown> | undefined> {
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
