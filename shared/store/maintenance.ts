/** Operator maintenance windows of a pool: one item each under the pool (`POOL#<id>` / `MAINT#<id>`). */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { keys, prefixes } from './keys.ts';
import type { TransactItem } from './transact.ts';

export interface MaintenanceWindow {
  id: string;
  poolId: string;
  start: string;
  end: string;
  gpus: number;
  reason: string;
  createdAt: string;
}

/** Writes a new window (in the transaction that takes its GPUs out). */
export const maintenanceCreate = (db: Db, w: MaintenanceWindow): TransactItem => ({
  Put: { TableName: db.table, Item: { ...keys.maintenance(w.poolId, w.id), entity: 'maintenance', window: w }, ConditionExpression: 'attribute_not_exists(pk)' },
});

/** Deletes a window (in the transaction that gives its GPUs back). */
export const maintenanceDelete = (db: Db, poolId: string, id: string): TransactItem => ({
  Delete: { TableName: db.table, Key: keys.maintenance(poolId, id), ConditionExpression: 'attribute_exists(pk)' },
});

export async function getMaintenance(db: Db, poolId: string, id: string): Promise<MaintenanceWindow | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.maintenance(poolId, id), ConsistentRead: true }));
  return (res.Item?.window as MaintenanceWindow | undefined) ?? null;
}

/** One page of a pool's windows, oldest id first; `after` is the key the previous page stopped at. */
export async function maintenancePage(db: Db, poolId: string, after?: Record<string, unknown>): Promise<{ data: MaintenanceWindow[]; after: Record<string, unknown> | undefined }> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': keys.maintenance(poolId, '').pk, ':p': prefixes.maintenance },
      ...(after ? { ExclusiveStartKey: after } : {}),
    }),
  );
  return { data: (res.Items ?? []).map((i) => i.window as MaintenanceWindow), after: res.LastEvaluatedKey };
}

/** Every window of a pool, page after page. */
export async function listMaintenance(db: Db, poolId: string): Promise<MaintenanceWindow[]> {
  const out: MaintenanceWindow[] = [];
  let after: Record<string, unknown> | undefined;
  do {
    const page = await maintenancePage(db, poolId, after);
    out.push(...page.data);
    after = page.after;
  } while (after);
  return out;
}
