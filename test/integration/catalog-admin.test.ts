import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(() => t.close());

const op = () => ({ key: t.keys.operator });

const newSite = {
  id: 'lyon-gerland',
  name: 'Lyon Gerland',
  city: 'Lyon',
  country: 'FR',
  timezone: 'Europe/Paris',
  powerMw: 8,
  cooling: 'direct liquid cooling',
  status: 'active',
  opensAt: '2026-11-01T00:00:00Z',
  pue: 1.18,
  gridCarbonGramsPerKwh: 40,
  heatReuseFraction: 0.2,
};

const newPool = {
  id: 'lyon-gerland-mi300',
  site: 'lyon-gerland',
  gpuType: 'mi300x-192gb',
  totalGpus: 64,
  gpusPerNode: 8,
  minGpus: 8,
  stepGpus: 8,
  onDemandRate: { amount: 279, currency: 'EUR' },
  reservedRate: { amount: 229, currency: 'EUR' },
  durationDiscounts: [
    { minHours: 168, discountBps: 500 },
    { minHours: 720, discountBps: 1000 },
  ],
  leadTimeDiscounts: [{ minDaysAhead: 30, discountBps: 300 }],
  utilizationBand: { floorBps: 9000, ceilingBps: 12500, targetBps: 5000, slopeBps: 5000 },
  bookableFrom: '2026-11-01T00:00:00Z',
};

const auditCount = async () => (await t.call('GET', '/v1/audit?limit=200', op())).body.data.length as number;

describe('operator catalog', () => {
  it('a site, GPU type and pool created through the API are listed and bookable, each change audited and evented', async () => {
    expect((await t.call('POST', '/v1/sites', { ...op(), body: newSite })).status).toBe(201);
    const gpu = await t.call('POST', '/v1/gpu-types', {
      ...op(),
      body: { id: 'mi300x-192gb', vendor: 'AMD', name: 'Instinct MI300X', memoryGb: 192, interconnect: 'Infinity Fabric, 3.2 Tb/s RoCE', peakBf16Tflops: 1307, boardPowerWatts: 750 },
    });
    expect(gpu.status).toBe(201);
    const pool = await t.call('POST', '/v1/pools', { ...op(), body: newPool });
    expect(pool.status).toBe(201);
    expect(pool.body).toEqual(newPool);

    expect((await t.call('GET', '/v1/sites/lyon-gerland')).body).toEqual(newSite);
    expect((await t.call('GET', '/v1/pools?site=lyon-gerland')).body.data).toEqual([newPool]);

    const start = hoursFrom(t.clock, 48);
    const end = hoursFrom(t.clock, 48 + 24);
    const q = await t.call('POST', '/v1/quotes', { body: { site: 'lyon-gerland', gpuType: 'mi300x-192gb', gpus: 16, start, end } });
    expect(q.status).toBe(201);
    expect(q.body.lines[0].amount.amount).toBe(16 * 24 * 229);
    const r = await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } });
    expect(r.status).toBe(201);
    expect((await t.call('POST', `/v1/reservations/${r.body.id}/confirm`)).status).toBe(200);

    const audit = (await t.call('GET', '/v1/audit?limit=3', op())).body;
    expect(audit.data.map((e: { action: string }) => e.action)).toEqual(['pool.created', 'gpu_type.created', 'site.created']);
    expect(audit.data[0]).toMatchObject({ target: 'pool:lyon-gerland-mi300', before: null, after: newPool });
    expect(audit.data[0].actor).toMatch(/^key_/);
    expect(audit.nextCursor).toEqual(expect.any(String));
    const next = (await t.call('GET', `/v1/audit?limit=3&cursor=${audit.nextCursor}`, op())).body;
    expect(next.data.every((e: { at: string }) => e.at <= audit.data[2].at)).toBe(true);

    const events = (await t.call('GET', '/v1/platform/events?after=0', op())).body.data;
    expect(events.filter((e: { type: string }) => e.type === 'catalog.changed').map((e: { data: { target: string } }) => e.data.target)).toEqual([
      'site:lyon-gerland',
      'gpu_type:mi300x-192gb',
      'pool:lyon-gerland-mi300',
    ]);
  });

  it('a price change prices new quotes only: an earlier quote and an earlier reservation keep theirs', async () => {
    const start = hoursFrom(t.clock, 72);
    const end = hoursFrom(t.clock, 72 + 10);
    const req = { site: 'lyon-gerland', gpuType: 'mi300x-192gb', gpus: 8, start, end };
    const q1 = await t.call('POST', '/v1/quotes', { body: req });
    const r0q = await t.call('POST', '/v1/quotes', { body: req });
    const r0 = await t.call('POST', '/v1/reservations', { body: { quoteId: r0q.body.id } });
    expect(r0.status).toBe(201);

    const patched = await t.call('PATCH', '/v1/pools/lyon-gerland-mi300', { ...op(), body: { reservedRate: { amount: 300, currency: 'EUR' } } });
    expect(patched.status).toBe(200);
    expect(patched.body.reservedRate.amount).toBe(300);

    const q2 = await t.call('POST', '/v1/quotes', { body: req });
    expect(q2.body.lines[0].amount.amount).toBe(8 * 10 * 300);
    expect(q1.body.lines[0].amount.amount).toBe(8 * 10 * 229);
    const r1 = await t.call('POST', '/v1/reservations', { body: { quoteId: q1.body.id } });
    expect(r1.status).toBe(201);
    expect(r1.body.price).toEqual(q1.body.total);
    expect((await t.call('GET', `/v1/reservations/${r0.body.id}`)).body.price).toEqual(r0q.body.total);

    const entry = (await t.call('GET', '/v1/audit?limit=1', op())).body.data[0];
    expect(entry).toMatchObject({ action: 'pool.updated', before: { reservedRate: { amount: 229 } }, after: { reservedRate: { amount: 300 } } });
  });

  it('sets a pool’s resale fee and order (absent, meaning the defaults, until set)', async () => {
    const before = (await t.call('GET', '/v1/pools?site=marseille')).body.data.find((x: { id: string }) => x.id === 'marseille-b200');
    expect(before.resaleFeeBps).toBeUndefined(); // the defaults (10 %, operator first) until set
    expect(before.resaleOrder).toBeUndefined();
    const set = await t.call('PATCH', '/v1/pools/marseille-b200', { ...op(), body: { resaleFeeBps: 1500, resaleOrder: 'listings_first' } });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toMatchObject({ resaleFeeBps: 1500, resaleOrder: 'listings_first' });
    const after = (await t.call('GET', '/v1/pools?site=marseille')).body.data.find((x: { id: string }) => x.id === 'marseille-b200');
    expect(after).toMatchObject({ resaleFeeBps: 1500, resaleOrder: 'listings_first' });
    const audit = (await t.call('GET', '/v1/audit?limit=200', op())).body.data.find((e: { action: string; target: string; after: { resaleFeeBps?: number } }) => e.target === 'pool:marseille-b200' && e.after?.resaleFeeBps === 1500);
    expect(audit).toMatchObject({ action: 'pool.updated' });
    expect(audit.before.resaleFeeBps).toBeUndefined();
    expect((await t.call('PATCH', '/v1/pools/marseille-b200', { ...op(), body: { resaleFeeBps: 1000, resaleOrder: 'operator_first' } })).status).toBe(200);
  });

  it('refuses bad input naming the field, writes nothing, and 404s unknown ids', async () => {
    const before = await auditCount();
    const poolBefore = (await t.call('GET', '/v1/pools?site=lyon-gerland')).body.data[0];
    const bad = async (method: string, path: string, body: unknown, status: number, field: string) => {
      const res = await t.call(method, path, { ...op(), body });
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(field);
    };
    const p = '/v1/pools/lyon-gerland-mi300';
    await bad('PATCH', p, { durationDiscounts: [{ minHours: 720, discountBps: 1000 }, { minHours: 168, discountBps: 500 }] }, 422, 'durationDiscounts[1].minHours');
    await bad('PATCH', p, { leadTimeDiscounts: [{ minDaysAhead: 30, discountBps: 300 }, { minDaysAhead: 30, discountBps: 600 }] }, 422, 'leadTimeDiscounts[1].minDaysAhead');
    await bad('PATCH', p, { reservedRate: { amount: -1, currency: 'EUR' } }, 400, 'reservedRate.amount');
    await bad('PATCH', p, { onDemandRate: { amount: -5, currency: 'EUR' } }, 400, 'onDemandRate.amount');
    await bad('PATCH', p, { stepGpus: 3, minGpus: 3 }, 422, 'stepGpus');
    await bad('PATCH', p, { stepGpus: 12, minGpus: 12 }, 422, 'stepGpus');
    await bad('PATCH', p, { minGpus: 12 }, 422, 'minGpus');
    await bad('PATCH', p, { totalGpus: 60 }, 422, 'totalGpus');
    await bad('PATCH', p, { resaleFeeBps: 5001 }, 400, 'resaleFeeBps');
    await bad('PATCH', p, { resaleFeeBps: 2.5 }, 400, 'resaleFeeBps');
    await bad('PATCH', p, { resaleOrder: 'cheapest' }, 400, 'resaleOrder');
    // Lowering capacity below what is sold (16 GPUs confirmed) is refused like a capacity change.
    await bad('PATCH', p, { totalGpus: 8 }, 409, 'totalGpus');
    await bad('PATCH', p, { utilizationBand: { floorBps: 9000, ceilingBps: 9500, targetBps: 5000, slopeBps: 5000 } }, 400, 'utilizationBand.ceilingBps');
    await bad('PATCH', p, { site: 'marseille' }, 400, 'site');
    await bad('POST', '/v1/pools', { ...newPool, id: 'lyon-gerland-h100', gpuType: 'h100-sxm-80gb', site: 'nowhere' }, 422, 'site');
    await bad('POST', '/v1/pools', { ...newPool, id: 'lyon-gerland-mi300-bis' }, 422, 'gpuType');
    await bad('POST', '/v1/pools', newPool, 409, 'id');
    await bad('POST', '/v1/sites', { ...newSite, id: 'atlantis', country: 'XX' }, 422, 'country');
    await bad('POST', '/v1/sites', { ...newSite, id: 'atlantis', timezone: 'Atlantis/Capital' }, 422, 'timezone');
    await bad('POST', '/v1/sites', { ...newSite, id: 'atlantis', heatReuseFraction: 1.5 }, 400, 'heatReuseFraction');
    await bad('POST', '/v1/sites', { ...newSite, id: 'atlantis', pue: 0.9 }, 400, 'pue');
    // The site has a confirmed booking ahead: it cannot close, nor open later than it.
    await bad('PATCH', '/v1/sites/lyon-gerland', { status: 'maintenance' }, 409, 'status');
    await bad('PATCH', '/v1/sites/lyon-gerland', { status: 'planned', opensAt: '2027-06-01T00:00:00Z' }, 409, 'status');
    await bad('PATCH', p, { bookableFrom: '2027-06-01T00:00:00Z' }, 409, 'bookableFrom');

    for (const path of ['/v1/pools/nope', '/v1/sites/nope', '/v1/gpu-types/nope']) {
      const res = await t.call('PATCH', path, { ...op(), body: {} });
      expect(res.status).toBe(404);
    }
    expect(await auditCount()).toBe(before);
    expect((await t.call('GET', '/v1/pools?site=lyon-gerland')).body.data[0]).toEqual(poolBefore);
    expect((await t.call('GET', '/v1/sites/lyon-gerland')).body.status).toBe('active');
  });

  it('only operators change the catalog; a change to the same values writes nothing', async () => {
    expect((await t.call('POST', '/v1/sites', { body: { ...newSite, id: 'x' } })).status).toBe(403);
    expect((await t.call('PATCH', '/v1/pools/marseille-b200', { key: t.keys.finance, body: { totalGpus: 256 } })).status).toBe(403);
    expect((await t.call('GET', '/v1/audit', { key: t.keys.customer })).status).toBe(403);
    const before = await auditCount();
    const same = await t.call('PATCH', '/v1/sites/marseille', { ...op(), body: { pue: 1.25 } });
    expect(same.status).toBe(200);
    expect(await auditCount()).toBe(before);
    const grown = await t.call('PATCH', '/v1/pools/marseille-b200', { ...op(), body: { totalGpus: 192 } });
    expect(grown.status).toBe(200);
    expect(await auditCount()).toBe(before + 1);
    const avail = await t.call('GET', `/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=${hoursFrom(t.clock, 24)}&end=${hoursFrom(t.clock, 25)}`);
    expect(avail.body.pools[0].minAvailable).toBe(192);
    const site = await t.call('PATCH', '/v1/sites/grand-est', { ...op(), body: { status: 'active', opensAt: '2027-01-01T00:00:00Z' } });
    expect(site.status).toBe(200);
    expect(site.body).toMatchObject({ status: 'active', opensAt: '2027-01-01T00:00:00Z' });
  });
});
