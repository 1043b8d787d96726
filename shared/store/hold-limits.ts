/**
 * The hold ledger of an org (`ORG#<orgId>` / `HOLDS`): open holds, unconfirmed GPUs per pool and holds
 * per pool-window in the current hour. A hold reads it, checks the limits in code and writes it back
 * in its own transaction conditioned on the version read (a racing hold makes the transaction fail and
 * the attempt re-read); confirm, cancel and expiry take the hold off with an unconditional ADD.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { HoldLimits } from '#domain/limits.ts';
import { getConsistent } from './batched-get.ts';
import type { Db } from './db.ts';
import { keys } from './keys.ts';
import type { TransactItem } from './transact.ts';

export interface HoldLedger {
  open: number;
  gpusByPool: Record<string, number>;
  /** `<poolId>#<startHour>#<endHour>` → holds placed on it in `hour`. */
  windows: Record<string, { hour: number; n: number }>;
  version: number;
}

const GPU_PREFIX = 'g#';
const WINDOW_PREFIX = 'w#';
export const windowKey = (poolId: string, startHour: number, endHour: number): string => `${poolId}#${startHour}#${endHour}`;

export async function readHoldLedger(db: Db, orgId: string): Promise<HoldLedger> {
  const item = (await getConsistent(db, keys.holdLedger(orgId))) ?? {};
  const gpusByPool: Record<string, number> = {};
  const windows: HoldLedger['windows'] = {};
  for (const [k, v] of Object.entries(item)) {
    if (k.startsWith(GPU_PREFIX)) gpusByPool[k.slice(GPU_PREFIX.length)] = Math.max(0, Number(v));
    if (k.startsWith(WINDOW_PREFIX)) windows[k.slice(WINDOW_PREFIX.length)] = v as { hour: number; n: number };
  }
  return { open: Math.max(0, Number(item.open ?? 0)), gpusByPool, windows, version: Number(item.version ?? 0) };
}

/**
 * The ledger with one more hold: the whole item written back, conditioned on the version read (a
 * close's ADD moves the version too, so nothing it did is lost). Window counts of past hours are
 * dropped here, so the item stays small. A whole-item put lets a group commit chain several holds of
 * one org in one transaction: the next hold reads this item as written (sequencer.ts).
 */
export function holdLedgerOpen(db: Db, orgId: string, ledger: HoldLedger, poolId: string, gpus: number, window: string, hour: number): TransactItem {
  const current = ledger.windows[window];
  const item: Record<string, unknown> = { ...keys.holdLedger(orgId), entity: 'holdLedger', open: ledger.open + 1, version: ledger.version + 1 };
  for (const [pool, n] of Object.entries(ledger.gpusByPool)) item[`${GPU_PREFIX}${pool}`] = n;
  item[`${GPU_PREFIX}${poolId}`] = (ledger.gpusByPool[poolId] ?? 0) + gpus;
  for (const [k, w] of Object.entries(ledger.windows)) if (w.hour >= hour) item[`${WINDOW_PREFIX}${k}`] = w;
  item[`${WINDOW_PREFIX}${window}`] = { hour, n: current && current.hour === hour ? current.n + 1 : 1 };
  return {
    Put: {
      TableName: db.table,
      Item: item,
      ConditionExpression: ledger.version > 0 ? 'version = :v' : 'attribute_not_exists(version)',
      ...(ledger.version > 0 ? { ExpressionAttributeValues: { ':v': ledger.version } } : {}),
    },
  };
}

/** One hold taken off (confirmed, cancelled or expired): no read needed, never conflicts with another close. */
export function holdLedgerClose(db: Db, orgId: string, poolId: string, gpus: number): TransactItem {
  return {
    Update: {
      TableName: db.table,
      Key: keys.holdLedger(orgId),
      UpdateExpression: 'ADD #open :minusOne, #g :minusGpus, #v :one',
      ExpressionAttributeNames: { '#open': 'open', '#g': `${GPU_PREFIX}${poolId}`, '#v': 'version' },
      ExpressionAttributeValues: { ':minusOne': -1, ':minusGpus': -gpus, ':one': 1 },
    },
  };
}

export type LimitScope = `org:${string}` | `pool:${string}`;

export async function readLimitOverrides(db: Db, scope: LimitScope): Promise<Partial<HoldLimits>> {
  const item = await getConsistent(db, keys.limitOverrides(scope));
  return (item?.limits as Partial<HoldLimits> | undefined) ?? {};
}

export async function putLimitOverrides(db: Db, scope: LimitScope, limits: Partial<HoldLimits>, now: Date): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: { ...keys.limitOverrides(scope), entity: 'limitOverrides', scope, limits, updatedAt: now.toISOString() } }));
}
