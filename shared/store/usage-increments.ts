/**
 * What a metered event adds to the usage aggregates (key shapes in usage.ts): the increments of one
 * piece of usage (reservation, org and pool hour, the on-demand period total), the update item of one
 * increment (conditional on the reservation's per-minute cap), and the counters a refused one reports.
 */
import type { NativeAttributeValue } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import type { TransactItem } from './transact.ts';
import { hourLabel, RESERVATION_SHARD, usageKeys, type UsageScope } from './usage.ts';

/** What one accepted event contributes to one hour. */
export interface UsagePiece {
  reservationId: string;
  orgId: string;
  poolId: string;
  onDemand: boolean;
  epochHour: number;
  gpuSeconds: number;
  /** Of those GPU-seconds, the ones whose event carried a measured energy, and that energy's share of this hour (Wh). */
  measured?: { gpuSeconds: number; energyWh: number } | undefined;
  /**
   * The same GPU-seconds per minute of the hour, and the most a minute of this reservation may hold
   * (its GPUs × 60): the reservation-hour increment then refuses to take any minute past that cap.
   */
  capped?: { perMinute: number; minutes: readonly (readonly [minute: number, gpuSeconds: number])[] } | undefined;
}

/** Attribute of a reservation-hour item counting minute `minute` (0–59) of the hour. */
export const minuteCounter = (minute: number): string => `m${String(minute).padStart(2, '0')}`;

/**
 * The current values of the named counters of an item returned in a cancellation reason (raw
 * attribute values: `{ N: "480" }`). A counter the item does not have is 0.
 */
export function countersInReason(item: Record<string, unknown> | undefined, names: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of names) {
    const value = item?.[name];
    const n = typeof value === 'number' ? value : Number((value as { N?: unknown } | undefined)?.N ?? 0);
    out.set(name, Number.isFinite(n) ? n : 0);
  }
  return out;
}

/** One counter increment: the item it lands on (opaque to callers) and the GPU-seconds added. */
export interface AggregateIncrement {
  /** `pk|sk`: increments with the same id land on the same item and must be merged in a transaction. */
  id: string;
  key: { pk: string; sk: string };
  gpuSeconds: number;
  attributes: Record<string, string | number>;
  /** Further counters added alongside gpuSeconds (e.g. measured energy, per-minute counts). */
  adds?: Record<string, number>;
  /** Counters (among `adds`) that must not exceed these values after the increment: a conditional update. */
  limits?: Record<string, number>;
}

/** The items a piece increments in a shard: reservation, org and pool hour, and the on-demand period total. */
export function incrementsOf(piece: UsagePiece, shard: number): AggregateIncrement[] {
  const hour = hourLabel(piece.epochHour);
  const hourly = (scope: UsageScope, inShard = shard): AggregateIncrement => {
    const key = usageKeys.hourly(scope, inShard, piece.epochHour);
    return {
      id: `${key.pk}|${key.sk}`,
      key,
      gpuSeconds: piece.gpuSeconds,
      attributes: { entity: 'usageHour', scope: scope.kind, scopeId: scope.id, hour, epochHour: piece.epochHour, shard: inShard },
    };
  };
  const reservationHour = hourly({ kind: 'reservation', id: piece.reservationId }, piece.capped ? RESERVATION_SHARD : shard);
  const adds: Record<string, number> = {};
  if (piece.measured) Object.assign(adds, { measuredGpuSeconds: piece.measured.gpuSeconds, energyWh: piece.measured.energyWh });
  if (piece.capped) {
    const limits: Record<string, number> = {};
    for (const [minute, gpuSeconds] of piece.capped.minutes) {
      adds[minuteCounter(minute)] = gpuSeconds;
      limits[minuteCounter(minute)] = piece.capped.perMinute;
    }
    reservationHour.limits = limits;
  }
  if (Object.keys(adds).length > 0) reservationHour.adds = adds;
  const out = [
    reservationHour,
    hourly({ kind: 'org', id: piece.orgId }),
    hourly({ kind: 'pool', id: piece.poolId }),
  ];
  if (piece.onDemand) {
    const period = hour.slice(0, 7);
    const key = usageKeys.onDemand(piece.orgId, shard, period, piece.poolId);
    out.push({
      id: `${key.pk}|${key.sk}`,
      key,
      gpuSeconds: piece.gpuSeconds,
      attributes: { entity: 'onDemandUsage', orgId: piece.orgId, period, poolId: piece.poolId, shard },
    });
  }
  return out;
}

/**
 * Adds GPU-seconds to an aggregate, creating it on first use (counts commute). With `limits`, the
 * update is conditional: every limited counter must stay at or under its limit after the increment
 * (it fails with ConditionalCheckFailed, returning the item's current counters, otherwise).
 */
export function incrementItem(db: Db, inc: AggregateIncrement): TransactItem {
  const names: Record<string, string> = {};
  const values: Record<string, NativeAttributeValue> = { ':gpuSeconds': inc.gpuSeconds };
  const conditions: string[] = [];
  const adds = Object.entries(inc.adds ?? {}).map(([name, value], i) => {
    names[`#n${i}`] = name;
    values[`:n${i}`] = value;
    const limit = inc.limits?.[name];
    if (limit !== undefined) {
      values[`:l${i}`] = limit - value;
      // An increment larger than the limit itself fails even on a fresh item (a missing attribute compares false).
      conditions.push(limit >= value ? `(attribute_not_exists(#n${i}) OR #n${i} <= :l${i})` : `#n${i} <= :l${i}`);
    }
    return `, #n${i} :n${i}`;
  });
  const sets = Object.entries(inc.attributes).map(([name, value], i) => {
    names[`#a${i}`] = name;
    values[`:a${i}`] = value;
    return `#a${i} = :a${i}`;
  });
  return {
    Update: {
      TableName: db.table,
      Key: inc.key,
      UpdateExpression: `SET ${sets.join(', ')} ADD gpuSeconds :gpuSeconds${adds.join('')}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ...(conditions.length > 0 ? { ConditionExpression: conditions.join(' AND '), ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const } : {}),
    },
  };
}
