/** The demo catalog and accounts that `npm start` and the tests create. */
import type { Catalog, GpuType, Pool, Site } from '#domain/catalog.ts';
import { catalogErrors } from '#domain/catalog-rules.ts';
import type { Org, Principal } from '#domain/principal.ts';
import { putCatalogItemIfAbsent } from '#store/catalog.ts';
import catalogFile from '../../infra/catalog.json' with { type: 'json' };
import type { Db } from '#store/db.ts';
import { generateApiKey, getOrg, principalForKey, putApiKey, putOrg } from '#store/orgs.ts';

/**
 * The catalog a new table starts with, from the versioned file infra/catalog.json: `npm start` seeds it,
 * the tests start from it, and `npm run bootstrap` writes it to a deployed stack. Checked against the
 * catalog rules when loaded, so a bad edit of the file fails at once, naming the field.
 */
export const CATALOG: Catalog = (() => {
  const { sites, gpuTypes, pools } = catalogFile as unknown as Catalog;
  const catalog: Catalog = { sites, gpuTypes, pools };
  const errors = catalogErrors(catalog);
  if (errors.length > 0) throw new Error(`infra/catalog.json: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
  return catalog;
})();

export const SITES: Site[] = CATALOG.sites;
export const GPU_TYPES: GpuType[] = CATALOG.gpuTypes;
export const POOLS: Pool[] = CATALOG.pools;

export const DEMO_ORGS: Org[] = [
  {
    id: 'org_lumiere',
    name: 'Lumière AI SAS',
    country: 'FR',
    vatNumber: 'FR32123456789',
    billingEmail: 'billing@lumiere-ai.example',
    stripeCustomerId: null,
    createdAt: '2026-01-05T09:00:00Z',
  },
  {
    id: 'org_rheinwerk',
    name: 'Rheinwerk Labs GmbH',
    country: 'DE',
    vatNumber: 'DE123456789',
    billingEmail: 'rechnung@rheinwerk-labs.example',
    stripeCustomerId: null,
    createdAt: '2026-02-10T09:00:00Z',
  },
];

export type DemoKeys = { customer: string; customer2: string; finance: string; operator: string; meter: string };

export const DEMO_PRINCIPALS: Record<keyof DemoKeys, Omit<Principal, 'keyId'>> = {
  customer: { role: 'customer', orgId: 'org_lumiere', orgRole: 'admin', siteId: null },
  customer2: { role: 'customer', orgId: 'org_rheinwerk', orgRole: 'admin', siteId: null },
  finance: { role: 'finance', orgId: null, orgRole: null, siteId: null },
  operator: { role: 'operator', orgId: null, orgRole: null, siteId: null },
  meter: { role: 'meter', orgId: null, orgRole: null, siteId: 'valence-rovaltain' },
};

/**
 * Writes the catalog items that do not exist yet; items already there (perhaps changed through the
 * operator API since) are left alone. Returns how many items it wrote.
 */
export async function seedCatalog(db: Db, catalog: Catalog = CATALOG): Promise<number> {
  const written = await Promise.all([
    ...catalog.sites.map((s) => putCatalogItemIfAbsent(db, 'site', s)),
    ...catalog.gpuTypes.map((g) => putCatalogItemIfAbsent(db, 'gpuType', g)),
    ...catalog.pools.map((p) => putCatalogItemIfAbsent(db, 'pool', p)),
  ]);
  return written.filter(Boolean).length;
}

/**
 * Seeds catalog, demo orgs and keys. Keys given in `existing` are kept when they still resolve (so
 * `.local/keys.json` stays valid across restarts); missing ones are generated.
 */
export async function seedDemo(db: Db, now: Date, existing: Partial<DemoKeys> = {}): Promise<DemoKeys> {
  await seedCatalog(db);
  await Promise.all(DEMO_ORGS.map(async (o) => (await getOrg(db, o.id)) ?? putOrg(db, o)));
  const out = {} as DemoKeys;
  for (const name of Object.keys(DEMO_PRINCIPALS) as (keyof DemoKeys)[]) {
    const principal = DEMO_PRINCIPALS[name];
    const current = existing[name];
    if (current && (await principalForKey(db, current))) {
      out[name] = current;
      continue;
    }
    const key = generateApiKey(principal.role);
    await putApiKey(db, key, { ...principal, keyId: `key_demo_${name}` }, now);
    out[name] = key;
  }
  return out;
}
