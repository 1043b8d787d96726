/**
 * An accepted event as what it adds to which aggregates (`countableOf`), packing those into DynamoDB transactions (at most MAX_TRANSACTION_ITEMS items, each aggregate
 * once, within a reservation's per-minute caps) and reading why DynamoDB cancelled one.
 */
import { remainingGpusAt } from '#domain/resale.ts';
import type { Reservation } from '#domain/reservation.ts';
import { MAX_TRANSACTION_ITEMS } from '#store/transact.ts';
import { incrementsOf, type AggregateIncrement, type UsagePiece } from '#store/usage-increments.ts';
import { splitByHour, splitByMinute, type MeteredEvent } from './rules.ts';

/** A capped aggregate item an event increments: the capped counters it adds to and the most each may hold. */
export interface CapUse {
  id: string;
  adds: Readonly<Record<string, number>>;
  limits: Readonly<Record<string, number>>;
}

/** An accepted event ready to count: its GPU-seconds per hour and the aggregates those touch. */
export interface Countable {
  event: MeteredEvent;
  gpuSeconds: number;
  pieces: UsagePiece[];
  /** Identities of the aggregate items it increments (the same for every shard). */
  aggregateIds: string[];
  /** The capped items among them (its reservation's hours), with its per-minute counts. */
  caps: CapUse[];
}

/** An event of reservation `r` as what it counts: its GPU-seconds per hour, the aggregates they increment and the capped ones among them. */
export function countableOf(event: MeteredEvent, r: Reservation): Countable {
  const split = splitByHour(event.startSec, event.endSec, event.gpus);
  const energy = event.energyWh === null ? null : apportion(event.energyWh, split.map((p) => p.gpuSeconds));
  const pieces = split.map(
    (p, i): UsagePiece => ({
      reservationId: r.id,
      orgId: r.orgId,
      poolId: r.poolId,
      onDemand: r.kind === 'on_demand',
      epochHour: p.epochHour,
      gpuSeconds: p.gpuSeconds,
      measured: energy ? { gpuSeconds: p.gpuSeconds, energyWh: energy[i]! } : undefined,
      capped: { perMinute: remainingGpusAt(r, p.epochHour) * 60, minutes: splitByMinute(event.startSec, event.endSec, event.gpus, p.epochHour) },
    }),
  );
  const increments = pieces.flatMap((p) => incrementsOf(p, 0));
  const aggregateIds = [...new Set(increments.map((i) => i.id))];
  const caps = increments.flatMap((i): CapUse[] => {
    const limits = i.limits;
    return limits ? [{ id: i.id, adds: Object.fromEntries(Object.entries(i.adds ?? {}).filter(([name]) => name in limits)), limits }] : [];
  });
  return { event, gpuSeconds: pieces.reduce((sum, p) => sum + p.gpuSeconds, 0), pieces, aggregateIds, caps };
}

/** Splits a whole number over weights exactly (cumulative rounding): the parts add up to `total`. */
export function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map((_, i) => (i === 0 ? total : 0));
  let before = 0;
  let cumulative = 0;
  return weights.map((w) => {
    cumulative += w;
    const upTo = Math.round((total * cumulative) / sum);
    const part = upTo - before;
    before = upTo;
    return part;
  });
}

export function mergeIncrements(list: AggregateIncrement[]): AggregateIncrement[] {
  const byId = new Map<string, AggregateIncrement>();
  for (const inc of list) {
    const seen = byId.get(inc.id);
    if (!seen) {
      byId.set(inc.id, inc);
      continue;
    }
    const adds = { ...seen.adds };
    for (const [k, v] of Object.entries(inc.adds ?? {})) adds[k] = (adds[k] ?? 0) + v;
    const limits = seen.limits || inc.limits ? { limits: { ...seen.limits, ...inc.limits } } : {};
    byId.set(inc.id, { ...seen, gpuSeconds: seen.gpuSeconds + inc.gpuSeconds, ...(seen.adds || inc.adds ? { adds } : {}), ...limits });
  }
  return [...byId.values()];
}

/**
 * Takes events in `queue` order while their claims plus the DISTINCT aggregate items they touch fit
 * in one transaction (DynamoDB allows one operation per item per transaction, so increments of the
 * same item are merged). Skipped, for a later transaction: events touching a capped item in `busy`
 * (another transaction of this request is writing it: they would only conflict), and events whose
 * per-minute counts, merged with those already taken, would pass the item's cap on their own (the
 * merged increment must stay under the cap for its condition to mean anything).
 */
export function takeTransaction<T extends { aggregateIds: string[]; caps?: CapUse[] }>(
  queue: readonly T[],
  options: { maxItems?: number; busy?: ReadonlySet<string> } = {},
): T[] {
  const maxItems = options.maxItems ?? MAX_TRANSACTION_ITEMS;
  const aggregateIds = new Set<string>();
  const counters = new Map<string, number>();
  const taken: T[] = [];
  for (const c of queue) {
    const caps = c.caps ?? [];
    if (caps.some((cap) => options.busy?.has(cap.id))) continue;
    const overCap = caps.some((cap) => Object.entries(cap.adds).some(([name, add]) => (counters.get(`${cap.id}|${name}`) ?? 0) + add > (cap.limits[name] ?? Infinity)));
    if (overCap) continue;
    const fresh = c.aggregateIds.filter((id) => !aggregateIds.has(id)).length;
    if (taken.length + 1 + aggregateIds.size + fresh > maxItems) {
      if (taken.length === 0) throw new Error('one event needs more items than a transaction holds');
      break;
    }
    taken.push(c);
    for (const id of c.aggregateIds) aggregateIds.add(id);
    for (const cap of caps) for (const [name, add] of Object.entries(cap.adds)) counters.set(`${cap.id}|${name}`, (counters.get(`${cap.id}|${name}`) ?? 0) + add);
  }
  return taken;
}

/**
 * After a transaction was cancelled on capped items (and on no claim): which of its events still fit
 * under the counts those items hold now (`current`, per item id and counter), taken in order, and
 * which would pass a cap. Items whose condition held are not limiting (the whole batch fitted there).
 */
export function fitUnderCaps<T extends { caps: CapUse[] }>(batch: readonly T[], current: ReadonlyMap<string, ReadonlyMap<string, number>>): { fit: T[]; over: T[] } {
  const used = new Map<string, number>();
  const fit: T[] = [];
  const over: T[] = [];
  for (const c of batch) {
    const limited = c.caps.filter((cap) => current.has(cap.id));
    const fits = limited.every((cap) =>
      Object.entries(cap.adds).every(([name, add]) => current.get(cap.id)!.get(name)! + (used.get(`${cap.id}|${name}`) ?? 0) + add <= (cap.limits[name] ?? Infinity)),
    );
    if (!fits) {
      over.push(c);
      continue;
    }
    fit.push(c);
    for (const cap of limited) for (const [name, add] of Object.entries(cap.adds)) used.set(`${cap.id}|${name}`, (used.get(`${cap.id}|${name}`) ?? 0) + add);
  }
  return { fit, over };
}

export interface CancellationReason {
  Code?: string;
  Item?: Record<string, unknown>;
}

export const cancellationReasons = (error: unknown): CancellationReason[] | null =>
  error instanceof Error && error.name === 'TransactionCanceledException'
    ? ((error as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? null)
    : null;

/** Cancellation codes that retrying cannot fix. */
export const PERMANENT_CANCELLATIONS = new Set(['ValidationError', 'ItemCollectionSizeLimitExceeded']);
