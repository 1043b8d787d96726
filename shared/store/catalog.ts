import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Catalog, GpuType, Pool, Site } from '#domain/catalog.ts';
import type { Db } from './db.ts';
import { keys, prefixes } from './keys.ts';
import type { TransactItem } from './transact.ts';

const strip = <T>(item: Record<string, unknown>): T => {
  const { pk: _pk, sk: _sk, entity: _e, version: _v, ...rest } = item;
  return rest as T;
};

export type CatalogKind = 'site' | 'gpuType' | 'pool';
type CatalogValue<K extends CatalogKind> = K extends 'site' ? Site : K extends 'gpuType' ? GpuType : Pool;

/** What a conditional catalog write was read at: absent, or present at a version (items seeded before versions existed read as version 0). */
export interface CatalogVersion {
  exists: boolean;
  version: number;
}

const keyOf = (kind: CatalogKind, id: string) => (kind === 'site' ? keys.site(id) : kind === 'gpuType' ? keys.gpuType(id) : keys.pool(id));

/** One catalog item, strongly consistent, with the version a write must be conditioned on. */
export async function getCatalogItem<K extends CatalogKind>(db: Db, kind: K, id: string): Promise<{ value: CatalogValue<K> | null; at: CatalogVersion }> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keyOf(kind, id), ConsistentRead: true }));
  if (!res.Item) return { value: null, at: { exists: false, version: 0 } };
  return { value: strip<CatalogValue<K>>(res.Item), at: { exists: true, version: Number(res.Item.version ?? 0) } };
}

/** Put of a catalog item that commits only if the item is still as read (absent, or at that version). */
export function catalogWrite<K extends CatalogKind>(db: Db, kind: K, value: CatalogValue<K>, at: CatalogVersion): TransactItem {
  const Item = { ...keyOf(kind, value.id), entity: kind, ...value, version: at.version + 1 };
  if (!at.exists) return { Put: { TableName: db.table, Item, ConditionExpression: 'attribute_not_exists(pk)' } };
  if (at.version === 0) return { Put: { TableName: db.table, Item, ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(version)' } };
  return { Put: { TableName: db.table, Item, ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': at.version } } };
}

/** Writes a catalog item only if no item has that id yet (seed and bootstrap: the operator API's changes are kept). Returns whether it wrote. */
export async function putCatalogItemIfAbsent<K extends CatalogKind>(db: Db, kind: K, value: CatalogValue<K>): Promise<boolean> {
  try {
    await db.doc.send(new PutCommand({ TableName: db.table, Item: { ...keyOf(kind, value.id), entity: kind, ...value, version: 1 }, ConditionExpression: 'attribute_not_exists(pk)' }));
    return true;
  } catch (error) {
    if (error instanceof Error && error.name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

export async function readCatalog(db: Db): Promise<Catalog> {
  const catalog: Catalog = { sites: [], gpuTypes: [], pools: [] };
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.catalog().pk },
        ExclusiveStartKey: cursor,
      }),
    );
    for (const item of page.Items ?? []) {
      const sk = String(item.sk);
      if (sk.startsWith(prefixes.site)) catalog.sites.push(strip<Site>(item));
      else if (sk.startsWith(prefixes.gpuType)) catalog.gpuTypes.push(strip<GpuType>(item));
      else if (sk.startsWith(prefixes.pool)) catalog.pools.push(strip<Pool>(item));
    }
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return catalog;
}

export const putSite = (db: Db, site: Site) =>
  db.doc.send(new PutCommand({ TableName: db.table, Item: { ...keys.site(site.id), entity: 'site', ...site } }));
export const putGpuType = (db: Db, gpu: GpuType) =>
  db.doc.send(new PutCommand({ TableName: db.table, Item: { ...keys.gpuType(gpu.id), entity: 'gpuType', ...gpu } }));
export const putPool = (db: Db, pool: Pool) =>
  db.doc.send(new PutCommand({ TableName: db.table, Item: { ...keys.pool(pool.id), entity: 'pool', ...pool } }));

/**
 * Catalog reads are frequent and the catalog changes rarely: keep it for `ttlMs` per process
 * (a cold start reads it once). Writes through the operator API call `invalidate()`.
 */
export function createCatalogCache(db: Db, now: () => Date, ttlMs = 30_000) {
  let cached: { at: number; value: Promise<Catalog> } | undefined;
  return {
    get(): Promise<Catalog> {
      const t = now().getTime();
      if (!cached || t - cached.at > ttlMs) {
        const value = readCatalog(db);
        cached = { at: t, value };
        value.catch(() => (cached = undefined));
      }
      return cached.value;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
export type CatalogCache = ReturnType<typeof createCatalogCache>;
