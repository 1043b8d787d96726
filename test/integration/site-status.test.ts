/**
 * A site's status rules bookings (SPEC "Operator catalog", issue 16 §1): `planned` → `active` →
 * `maintenance`, with `opensAt`. A site under maintenance takes no quote, hold, extension or on-demand
 * start (409 site-closed naming `site`); nothing is booked before a site opens (422 naming the field);
 * availability and offers show both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(() => t.close());

const op = () => ({ key: t.keys.operator });
const quote = (site: string, gpuType: string, start: string, end: string, gpus = 8) => t.call('POST', '/v1/quotes', { body: { site, gpuType, gpus, start, end } });
const availability = async (site: string, gpuType: string, start: string, end: string) => {
  const a = await t.call('GET', `/v1/availability?site=${site}&gpuType=${gpuType}&start=${start}&end=${end}`);
  expect(a.status).toBe(200);
  return a.body.pools[0] as { siteStatus: string; bookableFrom: string; minAvailable: number; slots: { start: string; available: number; capacity: number }[] };
};

describe('site status and opening', () => {
  it('a planned site books nothing before opensAt: quotes and on-demand starts are refused, availability and offers start at the opening', async () => {
    const opensAt = hoursFrom(t.clock, 24 * 5);
    expect(
      (
        await t.call('POST', '/v1/sites', {
          ...op(),
          body: {
            id: 'lyon-gerland',
            name: 'Lyon Gerland',
            city: 'Lyon',
            country: 'FR',
            timezone: 'Europe/Paris',
            powerMw: 8,
            cooling: 'direct liquid cooling',
            status: 'planned',
            opensAt,
            pue: 1.18,
            gridCarbonGramsPerKwh: 40,
            heatReuseFraction: 0.2,
          },
        })
      ).status,
    ).toBe(201);
    const pool = await t.call('POST', '/v1/pools', {
      ...op(),
      body: {
        id: 'lyon-gerland-h100',
        site: 'lyon-gerland',
        gpuType: 'h100-sxm-80gb',
        totalGpus: 64,
        gpusPerNode: 8,
        minGpus: 8,
        stepGpus: 8,
        onDemandRate: { amount: 249, currency: 'EUR' },
        reservedRate: { amount: 199, currency: 'EUR' },
        durationDiscounts: [],
        leadTimeDiscounts: [],
        utilizationBand: { floorBps: 9000, ceilingBps: 12500, targetBps: 5000, slopeBps: 5000 },
        // The pool itself would be bookable already: the site's opening is what holds it back.
        bookableFrom: hoursFrom(t.clock, 0),
      },
    });
    expect(pool.status).toBe(201);

    const early = await quote('lyon-gerland', 'h100-sxm-80gb', hoursFrom(t.clock, 24 * 5 - 2), hoursFrom(t.clock, 24 * 5 + 2));
    expect(early.status).toBe(422);
    expect(early.body.errors[0].path).toBe('start');
    expect(early.body.detail).toContain('opens at');
    expect((await quote('lyon-gerland', 'h100-sxm-80gb', opensAt, hoursFrom(t.clock, 24 * 5 + 2))).status).toBe(201);

    const od = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'lyon-gerland', gpuType: 'h100-sxm-80gb', gpus: 8 } });
    expect(od.status).toBe(422);
    expect(od.body.errors[0].path).toBe('site');

    const a = await availability('lyon-gerland', 'h100-sxm-80gb', hoursFrom(t.clock, 24 * 5 - 2), hoursFrom(t.clock, 24 * 5 + 2));
    expect(a.siteStatus).toBe('planned');
    expect(a.bookableFrom).toBe(new Date(opensAt).toISOString());
    expect(a.slots.map((s) => s.available)).toEqual([0, 0, 64, 64]);
    expect(a.slots.map((s) => s.capacity)).toEqual([64, 64, 64, 64]);

    const offers = await t.call('GET', `/v1/offers?gpuType=h100-sxm-80gb&gpus=64&durationHours=2&site=lyon-gerland&sort=start`);
    expect(offers.status).toBe(200);
    expect(offers.body.data[0].start).toBe(new Date(opensAt).toISOString());
  });

  it('a site under maintenance takes no quote, hold or on-demand start until it is active again; availability and offers show it closed', async () => {
    const start = hoursFrom(t.clock, 48);
    const end = hoursFrom(t.clock, 50);
    const before = await quote('marseille', 'h100-sxm-80gb', start, end);
    expect(before.status).toBe(201);

    const closed = await t.call('PATCH', '/v1/sites/marseille', { ...op(), body: { status: 'maintenance' } });
    expect(closed.status).toBe(200);

    const expectClosed = (res: { status: number; body: any; headers: Headers }) => {
      expect(res.status).toBe(409);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body.type).toMatch(/\/site-closed$/);
      expect(res.body.errors[0].path).toBe('site');
    };
    expectClosed(await quote('marseille', 'h100-sxm-80gb', start, end));
    expectClosed(await t.call('POST', '/v1/reservations', { body: { quoteId: before.body.id } }));
    expectClosed(await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h100-sxm-80gb', gpus: 8 } }));

    const a = await availability('marseille', 'h100-sxm-80gb', start, end);
    expect(a.siteStatus).toBe('maintenance');
    expect(a.minAvailable).toBe(0);
    expect(a.slots.every((s) => s.available === 0 && s.capacity === 512)).toBe(true);
    const offers = await t.call('GET', '/v1/offers?gpuType=h100-sxm-80gb&gpus=8&durationHours=2&site=marseille');
    expect(offers.status).toBe(200);
    expect(offers.body.data).toEqual([]);
    // Other sites still offer.
    const elsewhere = await t.call('GET', '/v1/offers?gpuType=h100-sxm-80gb&gpus=8&durationHours=2');
    expect(elsewhere.body.data.length).toBeGreaterThan(0);
    expect(elsewhere.body.data.every((o: { site: string }) => o.site !== 'marseille')).toBe(true);

    expect((await t.call('PATCH', '/v1/sites/marseille', { ...op(), body: { status: 'active' } })).status).toBe(200);
    const held = await t.call('POST', '/v1/reservations', { body: { quoteId: before.body.id } });
    expect(held.status).toBe(201);

    // A site with bookings to serve cannot go into maintenance (409 bookings-exist); the hold stays.
    const refused = await t.call('PATCH', '/v1/sites/marseille', { ...op(), body: { status: 'maintenance' } });
    expect(refused.status).toBe(409);
    expect(refused.body.type).toMatch(/\/bookings-exist$/);
    expect((await t.call('GET', `/v1/reservations/${held.body.id}`)).body.status).toBe('held');
  });
});
