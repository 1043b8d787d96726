/**
 * First start of a deployed stack (`npm run bootstrap`, docs/deploy.md): writes the versioned catalog
 * (infra/catalog.json) and creates the first operator key, printed once. Idempotent: catalog items
 * that exist are left as they are (the operator API may have changed them), and once the operator key
 * exists a second run says so and creates no other. The same code runs against AWS and against
 * DynamoDB Local; only the client's endpoint differs.
 */
import type { Catalog, GpuType, Pool, Site } from '#domain/catalog.ts';
import { toPublicPool } from '#domain/catalog.ts';
import type { Principal } from '#domain/principal.ts';
import { auditWrite } from '#store/audit.ts';
import { bootstrapMarkerCreate, getBootstrapMarker } from '#store/bootstrap.ts';
import { catalogWrite, getCatalogItem, type CatalogKind } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites } from '#store/events.ts';
import { apiKeyCreate, generateApiKey } from '#store/orgs.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import { transact } from '#store/transact.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import { CATALOG } from '#store/seed.ts';
import { PLATFORM_STREAM } from './catalog-admin.ts';

export const BOOTSTRAP_ACTOR = 'bootstrap';

export interface BootstrapResult {
  /** Ids of the catalog items this run wrote (`site:…`, `gpu_type:…`, `pool:…`). */
  written: string[];
  /** Items of the file that already existed and were left alone. */
  kept: string[];
  /** The new operator key, when this run created it: print it once, it is not stored. */
  operatorKey: string | null;
  operatorKeyId: string;
  operatorKeyCreatedAt: string;
}

const conditionFailed = (error: unknown): boolean =>
  error instanceof Error &&
  (error.name === 'ConditionalCheckFailedException' ||
    (error.name === 'TransactionCanceledException' && /ConditionalCheckFailed/.test(error.message)));

export async function bootstrapStack(deps: { db: Db; clock: Clock; ids: IdGenerator; catalog?: Catalog }): Promise<BootstrapResult> {
  const { db, clock, ids } = deps;
  const catalog = deps.catalog ?? CATALOG;
  const written: string[] = [];
  const kept: string[] = [];

  const items: { kind: CatalogKind; tag: string; value: Site | GpuType | Pool; shown: Record<string, unknown> }[] = [
    ...catalog.sites.map((s) => ({ kind: 'site' as const, tag: 'site', value: s, shown: { ...s } })),
    ...catalog.gpuTypes.map((g) => ({ kind: 'gpuType' as const, tag: 'gpu_type', value: g, shown: { ...g } })),
    ...catalog.pools.map((p) => ({ kind: 'pool' as const, tag: 'pool', value: p, shown: { ...toPublicPool(p) } })),
  ];
  // Sites and GPU types before the pools that name them; one item, its audit entry and its event per transaction.
  for (const item of items) {
    const target = `${item.tag}:${item.value.id}`;
    const wrote = await withOptimisticRetry(async () => {
      const { at } = await getCatalogItem(db, item.kind, item.value.id);
      if (at.exists) return false;
      const now = clock();
      const entry = { id: ids.next('aud'), at: now.toISOString(), actor: BOOTSTRAP_ACTOR, action: `${item.tag}.created`, target, before: null, after: item.shown };
      const outbox = await outboxWrites(db, PLATFORM_STREAM, [{ type: 'catalog.changed', data: { action: entry.action, target, actor: entry.actor, before: null, after: item.shown } }], now, ids);
      try {
        await transact(db, [catalogWrite(db, item.kind, item.value as never, at), auditWrite(db, entry), ...outbox.items]);
        return true;
      } catch (error) {
        // Another run wrote the item first (or the event sequence moved): read again and decide again.
        if (conditionFailed(error)) throw Object.assign(new Error('raced'), { name: 'StaleReadError' });
        throw error;
      }
    });
    (wrote ? written : kept).push(target);
  }

  const existing = await getBootstrapMarker(db);
  if (existing) return { written, kept, operatorKey: null, operatorKeyId: existing.keyId, operatorKeyCreatedAt: existing.createdAt };
  const now = clock();
  const principal: Principal = { keyId: ids.next('key'), role: 'operator', orgId: null, orgRole: null, siteId: null };
  const key = generateApiKey('operator');
  try {
    await transact(db, [bootstrapMarkerCreate(db, { keyId: principal.keyId, createdAt: now.toISOString() }), apiKeyCreate(db, key, principal, now)]);
  } catch (error) {
    if (!conditionFailed(error)) throw error;
    const winner = await getBootstrapMarker(db);
    if (!winner) throw error;
    return { written, kept, operatorKey: null, operatorKeyId: winner.keyId, operatorKeyCreatedAt: winner.createdAt };
  }
  return { written, kept, operatorKey: key, operatorKeyId: principal.keyId, operatorKeyCreatedAt: now.toISOString() };
}
