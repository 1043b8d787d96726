import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Catalog, GpuType, Pool, Site } from '#domain/catalog.ts';
import type { Db } from './db.ts';
import { keys, prefixes } from './keys.ts';

const strip = <T>(item: Record<string, unknown>): T => {
  const { pk: _pk, sk: _sk, entity: _e, ...rest } = item;
  return rest as T;
};

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
