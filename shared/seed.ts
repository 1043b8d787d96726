/** The demo catalog and accounts that `npm start` and the tests create. */
import type { GpuType, Pool, Site } from '#domain/catalog.ts';
import { eur } from '#domain/money.ts';
import { defaultPriceBook } from '#domain/pricing.ts';
import type { Org, Principal } from '#domain/principal.ts';
import { putGpuType, putPool, putSite } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import { generateApiKey, getOrg, principalForKey, putApiKey, putOrg } from '#store/orgs.ts';

export const SITES: Site[] = [
  {
    id: 'valence-rovaltain',
    name: 'Valence–Rovaltain',
    city: 'Alixan',
    country: 'FR',
    timezone: 'Europe/Paris',
    powerMw: 24,
    cooling: 'direct liquid cooling, Rhône river heat exchange',
    status: 'active',
    opensAt: '2025-06-01T00:00:00Z',
  },
  {
    id: 'marseille',
    name: 'Marseille',
    city: 'Marseille',
    country: 'FR',
    timezone: 'Europe/Paris',
    powerMw: 16,
    cooling: 'rear-door heat exchangers, sea-water cooling loop',
    status: 'active',
    opensAt: '2025-11-01T00:00:00Z',
  },
  {
    id: 'grand-est',
    name: 'Grand Est',
    city: 'Metz',
    country: 'FR',
    timezone: 'Europe/Paris',
    powerMw: 40,
    cooling: 'direct liquid cooling',
    status: 'planned',
    opensAt: '2027-03-01T00:00:00Z',
  },
];

export const GPU_TYPES: GpuType[] = [
  { id: 'h100-sxm-80gb', vendor: 'NVIDIA', name: 'H100 SXM 80GB', memoryGb: 80, interconnect: 'NVLink 4 (900 GB/s), 3.2 Tb/s InfiniBand', peakBf16Tflops: 989 },
  { id: 'h200-sxm-141gb', vendor: 'NVIDIA', name: 'H200 SXM 141GB', memoryGb: 141, interconnect: 'NVLink 4 (900 GB/s), 3.2 Tb/s InfiniBand', peakBf16Tflops: 989 },
  { id: 'b200-sxm-192gb', vendor: 'NVIDIA', name: 'B200 SXM 192GB', memoryGb: 192, interconnect: 'NVLink 5 (1.8 TB/s), 3.2 Tb/s InfiniBand', peakBf16Tflops: 2250 },
];

const RATES: Record<string, { onDemand: number; reserved: number }> = {
  'h100-sxm-80gb': { onDemand: 249, reserved: 199 },
  'h200-sxm-141gb': { onDemand: 329, reserved: 269 },
  'b200-sxm-192gb': { onDemand: 499, reserved: 399 },
};

const pool = (site: Site, gpuType: string, totalGpus: number): Pool => ({
  id: `${site.id}-${gpuType.split('-')[0]}`,
  site: site.id,
  gpuType,
  totalGpus,
  gpusPerNode: 8,
  minGpus: 8,
  stepGpus: 8,
  onDemandRate: eur(RATES[gpuType]!.onDemand),
  priceBook: defaultPriceBook(RATES[gpuType]!.reserved),
  bookableFrom: site.opensAt,
});

export const POOLS: Pool[] = [
  pool(SITES[0]!, 'h100-sxm-80gb', 1024),
  pool(SITES[0]!, 'h200-sxm-141gb', 512),
  pool(SITES[0]!, 'b200-sxm-192gb', 256),
  pool(SITES[1]!, 'h100-sxm-80gb', 512),
  pool(SITES[1]!, 'h200-sxm-141gb', 256),
  pool(SITES[1]!, 'b200-sxm-192gb', 128),
  pool(SITES[2]!, 'h200-sxm-141gb', 512),
  pool(SITES[2]!, 'b200-sxm-192gb', 1024),
];

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

export async function seedCatalog(db: Db): Promise<void> {
  await Promise.all([...SITES.map((s) => putSite(db, s)), ...GPU_TYPES.map((g) => putGpuType(db, g)), ...POOLS.map((p) => putPool(db, p))]);
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
