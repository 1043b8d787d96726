/**
 * Writes of one key that arrive while that key's previous write is in flight (or in the same turn of
 * the event loop) wait and go together in the next write: under a burst the batch grows by itself,
 * alone a write leaves at once. Used where a rush sends many small writes to one hot item (a rate
 * window, a market rollup): DynamoDB serves one item's writes one after another anyway, so sending
 * them together costs nothing in latency and spares the item a queue.
 */
type Waiter<T, R> = { value: T; resolve(r: R): void; reject(e: unknown): void };

export function createCoalescer<T, R>(send: (key: string, batch: T[]) => Promise<R[]>): (key: string, value: T) => Promise<R> {
  const keys = new Map<string, { inFlight: boolean; queue: Waiter<T, R>[] }>();
  function pump(key: string) {
    const state = keys.get(key);
    if (!state || state.inFlight) return;
    if (state.queue.length === 0) {
      keys.delete(key);
      return;
    }
    state.inFlight = true;
    const batch = state.queue.splice(0);
    void send(key, batch.map((w) => w.value))
      .then(
        (results) => batch.forEach((w, i) => w.resolve(results[i]!)),
        (error: unknown) => batch.forEach((w) => w.reject(error)),
      )
      .finally(() => {
        state.inFlight = false;
        pump(key);
      });
  }
  return (key, value) =>
    new Promise<R>((resolve, reject) => {
      let state = keys.get(key);
      if (!state) keys.set(key, (state = { inFlight: false, queue: [] }));
      state.queue.push({ value, resolve, reject });
      if (!state.inFlight && state.queue.length === 1) setImmediate(() => pump(key));
    });
}

/** One coalescer per table client (tests run several tables in one process). */
export function perDb<D extends object, T, R>(make: (db: D) => (key: string, value: T) => Promise<R>): (db: D, key: string, value: T) => Promise<R> {
  const made = new WeakMap<D, (key: string, value: T) => Promise<R>>();
  return (db, key, value) => {
    let c = made.get(db);
    if (!c) made.set(db, (c = make(db)));
    return c(key, value);
  };
}
