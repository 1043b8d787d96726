/**
 * Market rollups (GET /v1/market/prices): per pool and bucket (an hour `H#…` and a day `D#…`, by
 * when it happened) the histogram of quoted and of booked prices per GPU-hour (attribute `q<cents>`
 * / `b<cents>` = how many), booked GPU-hours and resold GPU-hours. Booked figures are written in the
 * confirmation's own transaction; quoted ones by one update per quote. Reading a range is one Query
 * per granularity and pool. No org identity is stored.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { keys } from './keys.ts';
import { createCoalescer, perDb } from './coalesce.ts';
import { queryAll } from './query.ts';
import type { TransactItem } from './transact.ts';

export type MarketGranularity = 'hour' | 'day';

/** Bucket sort keys: `H#2026-12-01T10` and `D#2026-12-01` (UTC). */
export const marketBucket = (at: Date, granularity: MarketGranularity): string =>
  granularity === 'hour' ? `H#${at.toISOString().slice(0, 13)}` : `D#${at.toISOString().slice(0, 10)}`;

export interface MarketRow {
  bucket: string;
  quoted: Map<number, number>;
  booked: Map<number, number>;
  bookedGpuHours: number;
  resoldGpuHours: number;
}

function update(db: Db, poolId: string, bucket: string, adds: Record<string, number>) {
  const names: Record<string, string> = {};
  const values: Record<string, number> = {};
  const parts = Object.entries(adds).map(([name, n], i) => {
    names[`#a${i}`] = name;
    values[`:a${i}`] = n;
    return `#a${i} :a${i}`;
  });
  return {
    TableName: db.table,
    Key: keys.market(poolId, bucket),
    UpdateExpression: `SET entity = :entity ADD ${parts.join(', ')}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: { ...values, ':entity': 'market' },
  };
}

/** The price per GPU-hour a booking's rollups record: its total ÷ its GPU-hours, rounded down to the cent. */
export const perGpuHour = (total: number, gpuHours: number): number => (gpuHours > 0 ? Math.floor(total / gpuHours) : 0);

/** Written in a confirmation's transaction: its price per GPU-hour, its GPU-hours and the GPU-hours it took from listings. */
export function marketBookedWrite(db: Db, poolId: string, at: Date, booking: { total: { amount: number }; gpuHours: number; resoldGpuHours: number }): TransactItem[] {
  const adds = { [`b${perGpuHour(booking.total.amount, booking.gpuHours)}`]: 1, bookedGpuHours: booking.gpuHours, resoldGpuHours: booking.resoldGpuHours };
  return (['hour', 'day'] as const).map((g) => ({ Update: update(db, poolId, marketBucket(at, g), adds) }));
}

/**
 * A quote's price per GPU-hour (not a state change: one update per bucket, outside any transaction).
 * Quotes of one pool recorded while a bucket's previous update is in flight share the next one (their
 * counts added together, shared/store/coalesce.ts), so a rush of quotes does not queue on the pool's two rollup items.
 */
export async function recordQuoted(db: Db, poolId: string, at: Date, pricePerGpuHour: number): Promise<void> {
  await Promise.all(
    (['hour', 'day'] as const).map((g) => {
      const bucket = marketBucket(at, g);
      return addLater(db, `${poolId}\u0000${bucket}`, { poolId, bucket, name: `q${pricePerGpuHour}` });
    }),
  );
}

/** Quoted-price counts of one rollup item, added together while its previous update is in flight. */
const addLater = perDb((db: Db) =>
  createCoalescer<{ poolId: string; bucket: string; name: string }, void>(async (_id, batch) => {
    const adds: Record<string, number> = {};
    for (const { name } of batch) adds[name] = (adds[name] ?? 0) + 1;
    await db.doc.send(new UpdateCommand(update(db, batch[0]!.poolId, batch[0]!.bucket, adds)));
    return batch.map(() => undefined);
  }),
);

/** The rollups of a pool in [from, to) at one granularity: one Query (paged by DynamoDB only past 1 MB). */
export async function readMarket(db: Db, poolId: string, from: Date, to: Date, granularity: MarketGranularity): Promise<MarketRow[]> {
  const rows: MarketRow[] = [];
  const lastMs = to.getTime() - 1;
  const query = {
    TableName: db.table,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': keys.market(poolId, '').pk, ':from': marketBucket(from, granularity), ':to': marketBucket(new Date(lastMs), granularity) },
  };
  for await (const items of queryAll(db, query)) {
    for (const item of items) {
      const quoted = new Map<number, number>();
      const booked = new Map<number, number>();
      for (const [k, v] of Object.entries(item)) {
        const m = /^([qb])(\d+)$/.exec(k);
        if (m) (m[1] === 'q' ? quoted : booked).set(Number(m[2]), Number(v));
      }
      rows.push({ bucket: String(item.sk), quoted, booked, bookedGpuHours: Number(item.bookedGpuHours ?? 0), resoldGpuHours: Number(item.resoldGpuHours ?? 0) });
    }
  }
  return rows;
}
