/**
 * The due-retry pass over webhook deliveries: which endpoints have pending deliveries (their due
 * marks, see store/webhooks.ts), each endpoint's fair share of its due deliveries per pass, and the
 * refs handed to the queue interleaved endpoint by endpoint.
 */
import type { Clock } from '../ids.ts';
import type { Db } from '#store/db.ts';
import { listEndpointDueDeliveries, listLegacyDueDeliveries, type DeliveryRef } from '#store/webhook-deliveries.ts';
import { clearEndpointDue, DUE_MARK_GRACE_MS, listDueEndpoints, markEndpointDue } from '#store/webhooks.ts';
import type { DeliveryQueue } from './queue.ts';

/**
 * Due deliveries a pass of the scheduled job aims to take, shared equally by the endpoints that have
 * any (each gets `max(MIN_DUE_SHARE, DUE_BATCH / endpoints)`): an endpoint with a thousand overdue
 * deliveries takes its share and no more, so another endpoint's retries go out in the same pass.
 */
export const DUE_BATCH = 500;
export const MIN_DUE_SHARE = 10;
/** Endpoints whose due keys one pass reads at once. */
const DUE_READ_CONCURRENCY = 16;
/** A process that marked an endpoint due this recently does not write the mark again (well inside DUE_MARK_GRACE_MS). */
const DUE_MARK_REUSE_MS = 60_000;

export function createDuePass(deps: { db: Db; clock: Clock; queue: DeliveryQueue }) {
  const { db, clock } = deps;
  /** Endpoints this process marked due, and when (the marks it need not write again yet). */
  const markedHere = new Map<string, number>();

  /** Marks the endpoint as having pending deliveries, before one becomes pending (see store/webhooks.ts). */
  async function markDue(orgId: string, endpointId: string, at: Date): Promise<void> {
    const last = markedHere.get(endpointId);
    if (last !== undefined && at.getTime() - last >= 0 && at.getTime() - last < DUE_MARK_REUSE_MS) return;
    await markEndpointDue(db, orgId, endpointId, at);
    markedHere.set(endpointId, at.getTime());
  }

  /**
   * One due-retry pass: reads which endpoints have pending deliveries (the `WHEDUE` shards), takes up
   * to each one's share of its due deliveries (and expired leases) from its own index key, and hands
   * them to the queue interleaved endpoint by endpoint. An endpoint with nothing pending left loses
   * its mark. Returns how many were handed over.
   */
  async function retryDueDeliveries(now: Date = clock()): Promise<number> {
    const marks = await listDueEndpoints(db);
    const share = Math.max(MIN_DUE_SHARE, Math.floor(DUE_BATCH / Math.max(1, marks.length)));
    const perEndpoint: DeliveryRef[][] = [];
    let nextMark = 0;
    const worker = async () => {
      while (nextMark < marks.length) {
        const mark = marks[nextMark++]!;
        const { due, empty } = await listEndpointDueDeliveries(db, mark.endpointId, now, share);
        if (due.length > 0) perEndpoint.push(due);
        if (empty && now.getTime() - Date.parse(mark.markedAt) > DUE_MARK_GRACE_MS) {
          if (await clearEndpointDue(db, mark)) markedHere.delete(mark.endpointId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DUE_READ_CONCURRENCY, marks.length) }, worker));
    const legacy = await listLegacyDueDeliveries(db, now, share);
    if (legacy.length > 0) perEndpoint.push(legacy);
    const refs = interleave(perEndpoint);
    if (refs.length > 0) await deps.queue.enqueue(refs);
    return refs.length;
  }

  return { markDue, retryDueDeliveries };
}

/** The lists' items taken in turn, one of each list per round, so no list's items all come first. */
export function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) out.push(list[i]!);
  return out;
}
