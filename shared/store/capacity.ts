import { bucketsForRange, shiftHours, type Bucket, type CapacityStep, type PoolLoad } from '#domain/capacity.ts';
import type { Db } from './db.ts';
import { keys } from './keys.ts';
import { batchGetConsistent, getConsistent } from './batched-get.ts';
import { sequenceOf, type SequenceState } from './events.ts';
import { StaleReadError } from './retry.ts';
import { checkVersion, putVersioned, type TransactItem } from './transact.ts';

/**
 * The pool's capacity item (`keys.onDemandTotal`) holds its running on-demand GPUs and its capacity
 * schedule (`capacitySteps`), under one version. Every booking that takes capacity writes or checks
 * that version in its transaction, and a capacity change writes it, so a booking decided under an
 * older schedule cannot commit after the schedule changed (docs/decisions.md, "Capacity schedule").
 */
export interface PoolSnapshot extends PoolLoad {
  poolId: string;
  onDemandVersion: number;
}

const stepsOf = (item: Record<string, unknown> | undefined): CapacityStep[] | undefined => {
  const steps = item?.capacitySteps as { fromHour: number; totalGpus: number }[] | undefined;
  return steps && steps.length > 0 ? steps.map((s) => ({ fromHour: Number(s.fromHour), totalGpus: Number(s.totalGpus) })) : undefined;
};


/**
 * Strongly consistent read of a pool's load over [startHour, endHour): the capacity buckets the
 * range touches and the running on-demand total. The cost grows with the window only.
 */
export async function readPoolLoad(db: Db, poolId: string, totalGpus: number, startHour: number, endHour: number): Promise<PoolSnapshot> {
  const bucketIds = bucketsForRange(startHour, endHour);
  // Each key joins the batch of consistent reads issued in the same turn (quotes of a rush read together).
  const [items, onDemand] = await Promise.all([
    Promise.all(bucketIds.map((b) => getConsistent(db, keys.capacityBucket(poolId, b)))),
    getConsistent(db, keys.onDemandTotal(poolId)),
  ]);
  const buckets = new Map<number, Bucket>();
  for (const item of items) {
    if (!item) continue;
    const b = item as unknown as Bucket;
    buckets.set(b.bucket, { bucket: b.bucket, used: b.used, maint: b.maint, version: b.version });
  }
  return {
    poolId,
    totalGpus,
    steps: stepsOf(onDemand),
    buckets,
    onDemand: Number(onDemand?.gpus ?? 0),
    onDemandVersion: Number(onDemand?.version ?? 0),
  };
}

/**
 * What a group commit reads in one round trip: the given capacity buckets of a pool, its on-demand
 * total, and the event counters of the orgs whose changes it will write (one BatchGetItem per 100 keys).
 */
export async function readPoolGroup(
  db: Db,
  poolId: string,
  totalGpus: number,
  bucketIds: number[],
  orgIds: string[],
): Promise<{ snapshot: PoolSnapshot; sequences: Map<string, SequenceState> }> {
  const items = await batchGetConsistent(db, [
    ...bucketIds.map((b) => keys.capacityBucket(poolId, b)),
    keys.onDemandTotal(poolId),
    ...orgIds.map((o) => keys.orgSequence(o)),
  ]);
  const byKey = new Map(items.map((i) => [`${String(i.pk)}|${String(i.sk)}`, i]));
  const at = (k: { pk: string; sk: string }) => byKey.get(`${k.pk}|${k.sk}`);
  const buckets = new Map<number, Bucket>();
  for (const b of bucketIds) {
    const item = at(keys.capacityBucket(poolId, b)) as unknown as Bucket | undefined;
    if (item) buckets.set(b, { bucket: b, used: item.used, maint: item.maint, version: item.version });
  }
  const onDemand = at(keys.onDemandTotal(poolId));
  return {
    snapshot: { poolId, totalGpus, steps: stepsOf(onDemand), buckets, onDemand: Number(onDemand?.gpus ?? 0), onDemandVersion: Number(onDemand?.version ?? 0) },
    sequences: new Map(orgIds.map((o) => [o, sequenceOf(at(keys.orgSequence(o)))])),
  };
}

/** Writes for buckets changed by a booking; each is conditioned on the version that was read. */
export const bucketWrites = (db: Db, poolId: string, changed: Bucket[]): TransactItem[] =>
  changed.map((b) =>
    putVersioned(
      db,
      { ...keys.capacityBucket(poolId, b.bucket), entity: 'capacity', poolId, bucket: b.bucket, used: b.used, maint: b.maint, version: b.version + 1 },
      b.version,
    ),
  );

/**
 * Writes that give `gpus` back in every hour of [startHour, endHour). A snapshot that does not hold
 * them was read after another writer already gave them back (a racing cancel, expiry or removal):
 * the attempt is retried, re-reads, and then sees that writer's change.
 */
export function releaseWrites(db: Db, snapshot: PoolSnapshot, startHour: number, endHour: number, gpus: number, field: 'used' | 'maint' = 'used'): TransactItem[] {
  let changed: Bucket[];
  try {
    changed = shiftHours(snapshot, startHour, endHour, -gpus, field);
  } catch (error) {
    throw new StaleReadError(`${snapshot.poolId}: ${error instanceof Error ? error.message : String(error)}; re-reading`);
  }
  return bucketWrites(db, snapshot.poolId, changed);
}

/**
 * Writes that give back, per run, its GPUs in its hours (a reservation whose GPUs differ by hour
 * after resale). Runs are applied one after the other to one working copy, so each bucket is
 * written once. A snapshot that does not hold them was read after another writer (see releaseWrites).
 */
export function releaseProfileWrites(db: Db, snapshot: PoolSnapshot, runs: { startHour: number; endHour: number; gpus: number }[]): TransactItem[] {
  const buckets = new Map(snapshot.buckets);
  const touched = new Set<number>();
  try {
    for (const run of runs) {
      for (const b of shiftHours({ ...snapshot, buckets }, run.startHour, run.endHour, -run.gpus)) {
        buckets.set(b.bucket, b);
        touched.add(b.bucket);
      }
    }
  } catch (error) {
    throw new StaleReadError(`${snapshot.poolId}: ${error instanceof Error ? error.message : String(error)}; re-reading`);
  }
  return bucketWrites(db, snapshot.poolId, [...touched].map((b) => ({ ...buckets.get(b)!, version: snapshot.buckets.get(b)?.version ?? 0 })));
}

/** Assert that buckets read are unchanged (used by on-demand starts, which must fit every future hour). */
export const bucketChecks = (db: Db, snapshot: PoolSnapshot, bucketIds: number[]): TransactItem[] =>
  bucketIds.map((b) => checkVersion(db, keys.capacityBucket(snapshot.poolId, b), snapshot.buckets.get(b)?.version ?? 0));

export const onDemandCheck = (db: Db, snapshot: PoolSnapshot): TransactItem =>
  checkVersion(db, keys.onDemandTotal(snapshot.poolId), snapshot.onDemandVersion);

/** The pool's capacity item as read, with `gpus` running on-demand and `steps` as its schedule, at the next version. */
const capacityItemWrite = (db: Db, snapshot: PoolSnapshot, gpus: number, steps: readonly CapacityStep[] | undefined): TransactItem =>
  putVersioned(
    db,
    {
      ...keys.onDemandTotal(snapshot.poolId),
      entity: 'onDemandTotal',
      poolId: snapshot.poolId,
      gpus,
      ...(steps && steps.length > 0 ? { capacitySteps: steps.map((s) => ({ fromHour: s.fromHour, totalGpus: s.totalGpus })) } : {}),
      version: snapshot.onDemandVersion + 1,
    },
    snapshot.onDemandVersion,
  );

/** Sets the running on-demand total (the schedule read is kept as it is). */
export const onDemandWrite = (db: Db, snapshot: PoolSnapshot, gpus: number): TransactItem => capacityItemWrite(db, snapshot, gpus, snapshot.steps);

/** Replaces the pool's capacity schedule (the on-demand total read is kept), conditioned on the version read. */
export const capacityScheduleWrite = (db: Db, snapshot: PoolSnapshot, steps: readonly CapacityStep[]): TransactItem =>
  capacityItemWrite(db, snapshot, snapshot.onDemand, steps);
