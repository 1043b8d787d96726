/**
 * Usage metering storage (docs/metering.md): one claim item per event id and write-sharded
 * GPU-second aggregates. This module owns the key shapes of usage items (`usageKeys`), as keys.ts
 * does for the rest of the table; the metering service only asks for items by intent. The claims
 * (one per counted event id) are written and read by usage-claims.ts; what an event adds to the
 * aggregates is built by usage-increments.ts.
 */
import { BatchGetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Reservation } from '#domain/reservation.ts';
import { HOUR_MS } from '#domain/time.ts';
import type { Db } from './db.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';

/** Every org and pool aggregate is split over this many items; an event's shard is a hash of its id. */
export const USAGE_SHARDS = 8;
/**
 * A reservation's hourly aggregate is ONE item (always shard 0): it carries the per-minute counters
 * that cap the reservation's usage at its GPUs × 60 GPU-seconds per minute, checked by a condition on
 * that item in the counting transaction. Readers still sum every shard (items written before the cap
 * existed may sit in other shards).
 */
export const RESERVATION_SHARD = 0;
/** Claims outlive the 35-day acceptance window by 5 days (DynamoDB deletes expired items within days). */
export const CLAIM_TTL_SECONDS = 40 * 24 * 3600;

export type UsageScope = { kind: 'reservation' | 'org' | 'pool'; id: string };

const SCOPE_TAG: Record<UsageScope['kind'], string> = { reservation: 'RES', org: 'ORG', pool: 'POOL' };

/** `2026-11-24T10`: the UTC hour an aggregate counts, sortable as a string. */
export const hourLabel = (epochHour: number): string => new Date(epochHour * HOUR_MS).toISOString().slice(0, 13);

/**
 * Key shapes of usage items (rows of docs/table-design.md, "Metering"):
 * - claim `UEV#<eventId>` / `UEV`: the event id is taken; written in the same transaction as the counts.
 * - hourly aggregate `USG#<RES|ORG|POOL>#<id>#<shard>` / `H#<YYYY-MM-DDTHH>`: GPU-seconds in that hour;
 *   a reservation's (shard 0 only) also holds `m00`…`m59`, its GPU-seconds in each minute of the hour.
 * - on-demand period aggregate `USG#ODU#<orgId>#<shard>` / `P#<YYYY-MM>#<poolId>`: on-demand GPU-seconds
 *   of an org in a billing period and pool, what billing charges.
 */
export const usageKeys = {
  claim: (eventId: string) => ({ pk: `UEV#${eventId}`, sk: 'UEV' }),
  hourlyPartition: (scope: UsageScope, shard: number) => ({ pk: `USG#${SCOPE_TAG[scope.kind]}#${scope.id}#${shard}` }),
  hourly: (scope: UsageScope, shard: number, epochHour: number) => ({
    pk: usageKeys.hourlyPartition(scope, shard).pk,
    sk: `H#${hourLabel(epochHour)}`,
  }),
  onDemandPartition: (orgId: string, shard: number) => ({ pk: `USG#ODU#${orgId}#${shard}` }),
  onDemandPeriodPrefix: (period: string) => `P#${period}#`,
  onDemand: (orgId: string, shard: number, period: string, poolId: string) => ({
    pk: usageKeys.onDemandPartition(orgId, shard).pk,
    sk: `${usageKeys.onDemandPeriodPrefix(period)}${poolId}`,
  }),
} as const;

/** FNV-1a of the event id, modulo the shard count: stable, cheap and evenly spread. */
export function shardOf(eventId: string, shards = USAGE_SHARDS): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < eventId.length; i++) {
    h ^= eventId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

/**
 * The org of a reservation, from the reservation index (eventually consistent; the org of a
 * reservation never changes, so metering caches it). null when no such reservation exists.
 */
export async function reservationOrg(db: Db, reservationId: string): Promise<string | null> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.reservationIndex(reservationId).gsi1pk },
      ProjectionExpression: 'reservation.orgId',
      Limit: 1,
    }),
  );
  const orgId = (res.Items?.[0]?.reservation as { orgId?: unknown } | undefined)?.orgId;
  return typeof orgId === 'string' ? orgId : null;
}

/** Current state of many reservations at once (strongly consistent BatchGetItem, 100 keys a call). */
export async function readReservations(db: Db, refs: { orgId: string; id: string }[]): Promise<Map<string, Reservation>> {
  const out = new Map<string, Reservation>();
  const chunks: { orgId: string; id: string }[][] = [];
  for (let i = 0; i < refs.length; i += 100) chunks.push(refs.slice(i, i + 100));
  await Promise.all(
    chunks.map(async (chunk) => {
      let pending: Record<string, unknown>[] = chunk.map((r) => keys.reservation(r.orgId, r.id));
      for (let round = 0; pending.length > 0; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(500, 10 * 2 ** round)));
        const res = await db.doc.send(new BatchGetCommand({ RequestItems: { [db.table]: { Keys: pending, ConsistentRead: true } } }));
        for (const item of res.Responses?.[db.table] ?? []) {
          const r = item.reservation as Reservation | undefined;
          if (r) out.set(r.id, r);
        }
        pending = res.UnprocessedKeys?.[db.table]?.Keys ?? [];
      }
    }),
  );
  return out;
}

/** Every item of partition `pk` with a sort key in [from, to], with the named attributes (consistent reads). */
async function rangeItems(db: Db, input: { pk: string; from: string; to: string; projection: string[] }): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const names = Object.fromEntries(input.projection.map((p, i) => [`#p${i}`, p]));
  for await (const items of queryAll(db, {
    TableName: db.table,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': input.pk, ':from': input.from, ':to': input.to },
    ExpressionAttributeNames: names,
    ProjectionExpression: Object.keys(names).join(', '),
    ConsistentRead: true,
  })) {
    out.push(...items);
  }
  return out;
}

const shardList = (shards: number) => Array.from({ length: shards }, (_, i) => i);

/** The hourly aggregates of `scope` in epoch hours [fromHour, toHour), every shard's, with the named attributes. */
async function hourlyItems(db: Db, scope: UsageScope, fromHour: number, toHour: number, shards: number, projection: string[]): Promise<Record<string, unknown>[]> {
  const pages = await Promise.all(
    shardList(shards).map((shard) =>
      rangeItems(db, { pk: usageKeys.hourlyPartition(scope, shard).pk, from: usageKeys.hourly(scope, shard, fromHour).sk, to: usageKeys.hourly(scope, shard, toHour - 1).sk, projection }),
    ),
  );
  return pages.flat();
}

/** GPU-seconds per epoch hour in [fromHour, toHour) of a reservation, org or pool, summed over shards. */
export async function usageByHour(db: Db, scope: UsageScope, fromHour: number, toHour: number, shards = USAGE_SHARDS): Promise<Map<number, number>> {
  const byHour = new Map<number, number>();
  if (toHour <= fromHour) return byHour;
  for (const item of await hourlyItems(db, scope, fromHour, toHour, shards, ['epochHour', 'gpuSeconds'])) {
    const hour = Number(item.epochHour);
    byHour.set(hour, (byHour.get(hour) ?? 0) + Number(item.gpuSeconds ?? 0));
  }
  return byHour;
}

/**
 * Metered on-demand GPU-seconds of an org in billing period `YYYY-MM`, per pool: shown beside the GPU-seconds held that billing charges.
 * An event that arrives after the period was invoiced still lands here (in the period it happened),
 * so billing finds it as the difference between this figure and what it invoiced.
 */
export async function onDemandUsageByPool(db: Db, orgId: string, period: string, shards = USAGE_SHARDS): Promise<Map<string, number>> {
  const prefix = usageKeys.onDemandPeriodPrefix(period);
  const pages = await Promise.all(
    shardList(shards).map((shard) =>
      rangeItems(db, { pk: usageKeys.onDemandPartition(orgId, shard).pk, from: prefix, to: `${prefix}\uffff`, projection: ['poolId', 'gpuSeconds'] }),
    ),
  );
  const byPool = new Map<string, number>();
  for (const item of pages.flat()) {
    const pool = String(item.poolId);
    byPool.set(pool, (byPool.get(pool) ?? 0) + Number(item.gpuSeconds ?? 0));
  }
  return byPool;
}

/**
 * Measured utilization of a pool over epoch hours [fromHour, toHour): metered GPU-seconds divided by
 * capacity (totalGpus × 3600 × hours), in basis points, rounded, at most 10 000. Feeds pricing.
 */
export async function poolUtilizationBps(db: Db, poolId: string, totalGpus: number, fromHour: number, toHour: number, shards = USAGE_SHARDS): Promise<number> {
  if (totalGpus <= 0 || toHour <= fromHour) return 0;
  const byHour = await usageByHour(db, { kind: 'pool', id: poolId }, fromHour, toHour, shards);
  let measured = 0;
  for (const seconds of byHour.values()) measured += seconds;
  const capacity = totalGpus * 3600 * (toHour - fromHour);
  return Math.min(10_000, Math.round((measured * 10_000) / capacity));
}

export interface ReservationUsageTotals {
  gpuSeconds: number;
  measuredGpuSeconds: number;
  measuredEnergyWh: number;
}

/**
 * Metered totals of a reservation over epoch hours [fromHour, toHour), summed over its hourly items in
 * every shard: GPU-seconds, and the GPU-seconds and energy that meters measured.
 */
export async function reservationUsageTotals(db: Db, reservationId: string, fromHour: number, toHour: number, shards = USAGE_SHARDS): Promise<ReservationUsageTotals> {
  const totals: ReservationUsageTotals = { gpuSeconds: 0, measuredGpuSeconds: 0, measuredEnergyWh: 0 };
  if (toHour <= fromHour) return totals;
  const scope: UsageScope = { kind: 'reservation', id: reservationId };
  for (const item of await hourlyItems(db, scope, fromHour, toHour, shards, ['gpuSeconds', 'measuredGpuSeconds', 'energyWh'])) {
    totals.gpuSeconds += Number(item.gpuSeconds ?? 0);
    totals.measuredGpuSeconds += Number(item.measuredGpuSeconds ?? 0);
    totals.measuredEnergyWh += Number(item.energyWh ?? 0);
  }
  return totals;
}
