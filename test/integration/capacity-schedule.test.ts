/**
 * The capacity schedule (SPEC "Operator catalog", issue 16 §2): GPUs installed or retired from a date.
 * Availability, offers, quotes and bookings use the capacity in force in each hour; a reduction that
 * would overbook any hour is refused with 409 capacity-conflict listing the first hours, and changes
 * nothing; lowering `totalGpus` with PATCH goes through the same check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { assertNeverOverbooked } from '../support/invariants.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(() => t.close());

const op = () => ({ key: t.keys.operator });
const POOL = 'marseille-b200';
const change = (poolId: string, body: unknown) => t.call('POST', `/v1/pools/${poolId}/capacity-changes`, { ...op(), body });

async function book(gpus: number, start: string, end: string, key = t.keys.customer) {
  const q = await t.call('POST', '/v1/quotes', { key, body: { site: 'marseille', gpuType: 'b200-sxm-192gb', gpus, start, end } });
  if (q.status !== 201) return q;
  return t.call('POST', '/v1/reservations', { key, body: { quoteId: q.body.id } });
}

const slotsOf = async (start: string, end: string) => {
  const a = await t.call('GET', `/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=${start}&end=${end}`);
  expect(a.status).toBe(200);
  return a.body.pools[0] as { capacity: number; slots: { start: string; capacity: number; available: number }[] };
};

describe('capacity schedule', () => {
  it('capacity added from a date is bookable from that date only, in availability, offers, quotes and holds', async () => {
    const from = hoursFrom(t.clock, 24 * 10);
    const res = await change(POOL, { effectiveFrom: from, totalGpus: 256 });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ poolId: POOL, totalGpus: 256, effectiveFrom: new Date(from).toISOString() });
    expect(res.body.actor).toMatch(/^key_/);

    const list = await t.call('GET', `/v1/pools/${POOL}/capacity-changes`, op());
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ data: [res.body], nextCursor: null });

    // GET /v1/pools shows the capacity in force now: the change has not started.
    const pools = await t.call('GET', '/v1/pools?site=marseille&gpuType=b200-sxm-192gb');
    expect(pools.body.data[0].totalGpus).toBe(128);

    const before = hoursFrom(t.clock, 24 * 10 - 2);
    const after = hoursFrom(t.clock, 24 * 10 + 2);
    const a = await slotsOf(before, after);
    expect(a.capacity).toBe(256);
    expect(a.slots.map((s) => [s.capacity, s.available])).toEqual([
      [128, 128],
      [128, 128],
      [256, 256],
      [256, 256],
    ]);

    // 192 GPUs fit only from the change on.
    const early = await t.call('POST', '/v1/quotes', { body: { site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: 192, start: before, end: after } });
    expect(early.status).toBe(409);
    expect(early.body.type).toMatch(/\/capacity-unavailable$/);
    const offers = await t.call('GET', `/v1/offers?gpuType=b200-sxm-192gb&gpus=192&durationHours=4&site=marseille&sort=start&earliestStart=${before}`);
    expect(offers.status).toBe(200);
    expect(offers.body.data.length).toBeGreaterThan(0);
    for (const o of offers.body.data) expect(Date.parse(o.start)).toBeGreaterThanOrEqual(Date.parse(from));
    expect(offers.body.data[0].start).toBe(new Date(from).toISOString());
    const held = await book(192, from, hoursFrom(t.clock, 24 * 10 + 4));
    expect(held.status).toBe(201);
    await assertNeverOverbooked(t.db, POOL);
  });

  it('a reduction that would overbook is refused with the first conflicting hours, and changes nothing', async () => {
    const start = hoursFrom(t.clock, 24 * 3);
    const end = hoursFrom(t.clock, 24 * 3 + 5);
    expect((await book(96, start, end)).status).toBe(201);
    const auditBefore = (await t.call('GET', '/v1/audit?limit=200', op())).body.data.length;
    const listBefore = (await t.call('GET', `/v1/pools/${POOL}/capacity-changes`, op())).body.data;

    const from = hoursFrom(t.clock, 24);
    const refused = await change(POOL, { effectiveFrom: from, totalGpus: 64 });
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body.type).toMatch(/\/capacity-conflict$/);
    expect(refused.body.errors[0].path).toBe('totalGpus');
    expect(refused.body.conflicts.length).toBe(5);
    expect(refused.body.conflicts[0]).toEqual({ start: new Date(start).toISOString(), end: new Date(Date.parse(start) + 3_600_000).toISOString(), sold: 96, totalGpus: 64 });
    expect(refused.body.detail).toContain(new Date(start).toISOString());

    expect((await t.call('GET', `/v1/pools/${POOL}/capacity-changes`, op())).body.data).toEqual(listBefore);
    expect((await t.call('GET', '/v1/audit?limit=200', op())).body.data.length).toBe(auditBefore);
    expect((await slotsOf(start, end)).slots.every((s) => s.capacity === 128 && s.available === 32)).toBe(true);

    // Down to exactly what is sold fits; one node less does not; the change governs up to the next one (day 10).
    const fits = await change(POOL, { effectiveFrom: from, totalGpus: 96 });
    expect(fits.status).toBe(201);
    expect((await slotsOf(start, end)).slots.every((s) => s.capacity === 96 && s.available === 0)).toBe(true);
    expect((await book(8, start, end)).status).toBe(409);
    expect((await change(POOL, { effectiveFrom: from, totalGpus: 88 })).status).toBe(409);
    const later = hoursFrom(t.clock, 24 * 10 + 1);
    expect((await slotsOf(later, hoursFrom(t.clock, 24 * 10 + 2))).slots[0]!.capacity).toBe(256);
    await assertNeverOverbooked(t.db, POOL);
  });

  it('lowering totalGpus with PATCH is the same checked change from the current hour', async () => {
    // marseille-h200 (256 GPUs): 96 reserved in two days' time and 16 on-demand running, 112 sold at the peak.
    const pool = 'marseille-h200';
    const q = await t.call('POST', '/v1/quotes', { body: { site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 96, start: hoursFrom(t.clock, 48), end: hoursFrom(t.clock, 50) } });
    expect((await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } })).status).toBe(201);
    const od = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 16 } });
    expect(od.status).toBe(201);
    const refused = await t.call('PATCH', `/v1/pools/${pool}`, { ...op(), body: { totalGpus: 104, onDemandRate: { amount: 999, currency: 'EUR' } } });
    expect(refused.status).toBe(409);
    expect(refused.body.type).toMatch(/\/capacity-conflict$/);
    // Nothing half-written: the rate did not change either.
    const shown = (await t.call('GET', '/v1/pools?site=marseille&gpuType=h200-sxm-141gb')).body.data[0];
    expect(shown.onDemandRate.amount).not.toBe(999);
    expect(shown.totalGpus).toBe(256);

    const ok = await t.call('PATCH', `/v1/pools/${pool}`, { ...op(), body: { totalGpus: 112 } });
    expect(ok.status).toBe(200);
    expect(ok.body.totalGpus).toBe(112);
    const changes = (await t.call('GET', `/v1/pools/${pool}/capacity-changes`, op())).body.data;
    expect(changes[0]).toMatchObject({ effectiveFrom: new Date(hoursFrom(t.clock, 0)).toISOString(), totalGpus: 112 });
    const audit = (await t.call('GET', '/v1/audit?limit=1', op())).body.data[0];
    expect(audit).toMatchObject({ action: 'pool.updated', target: `pool:${pool}` });
    expect(audit.before.totalGpus).toBe(256);
    expect(audit.after.totalGpus).toBe(112);
    expect((await t.call('POST', `/v1/reservations/${od.body.id}/stop`)).status).toBe(200);
    await assertNeverOverbooked(t.db, pool);
  });

  it('an on-demand start must keep its GPUs under every later step; retiring GPUs it runs on is refused', async () => {
    const pool = 'valence-rovaltain-b200';
    const far = new Date(Date.UTC(2029, 0, 1)).toISOString();
    expect((await change(pool, { effectiveFrom: far, totalGpus: 8 })).status).toBe(201);
    const start = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'valence-rovaltain', gpuType: 'b200-sxm-192gb', gpus: 16 } });
    expect(start.status).toBe(409);
    expect(start.body.type).toMatch(/\/capacity-unavailable$/);
    const small = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'valence-rovaltain', gpuType: 'b200-sxm-192gb', gpus: 8 } });
    expect(small.status).toBe(201);
    const retire = await change(pool, { effectiveFrom: far, totalGpus: 0 });
    expect(retire.status).toBe(409);
    expect(retire.body.conflicts[0]).toMatchObject({ start: far, sold: 8, totalGpus: 0 });
    expect((await t.call('POST', `/v1/reservations/${small.body.id}/stop`)).status).toBe(200);
    expect((await change(pool, { effectiveFrom: far, totalGpus: 0 })).status).toBe(201);
    await assertNeverOverbooked(t.db, pool);
  });

  it('bad input is refused naming the field; unknown pools 404; other roles 403', async () => {
    const cases: [unknown, string][] = [
      [{ effectiveFrom: hoursFrom(t.clock, -2), totalGpus: 128 }, 'effectiveFrom'],
      [{ effectiveFrom: '2027-01-01T00:30:00Z', totalGpus: 128 }, 'effectiveFrom'],
      [{ effectiveFrom: 'next week', totalGpus: 128 }, 'effectiveFrom'],
      [{ effectiveFrom: '2027-01-01T00:00:00Z', totalGpus: 100 }, 'totalGpus'],
      [{ effectiveFrom: '2027-01-01T00:00:00Z', totalGpus: -8 }, 'totalGpus'],
      [{ effectiveFrom: '2027-01-01T00:00:00Z' }, 'totalGpus'],
      [{ effectiveFrom: '2027-01-01T00:00:00Z', totalGpus: 128, extra: 1 }, ''],
    ];
    for (const [body, path] of cases) {
      const res = await change('marseille-h100', body);
      expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(res.status, JSON.stringify(body)).toBeLessThan(500);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      if (path) expect(res.body.errors.map((e: { path: string }) => e.path).join(','), JSON.stringify(body)).toContain(path);
    }
    expect((await t.call('GET', '/v1/pools/marseille-h100/capacity-changes', op())).body.data).toEqual([]);
    expect((await change('nowhere-h100', { effectiveFrom: '2027-01-01T00:00:00Z', totalGpus: 8 })).status).toBe(404);
    expect((await t.call('GET', '/v1/pools/nowhere-h100/capacity-changes', op())).status).toBe(404);
    expect((await t.call('POST', '/v1/pools/marseille-h100/capacity-changes', { body: { effectiveFrom: '2027-01-01T00:00:00Z', totalGpus: 8 } })).status).toBe(403);
    expect((await t.call('GET', '/v1/pools/marseille-h100/capacity-changes', { key: t.keys.finance })).status).toBe(403);
  });

  it('each change is audited and evented on the platform stream', async () => {
    const res = await change('marseille-h100', { effectiveFrom: '2027-06-01T00:00:00Z', totalGpus: 1024 });
    expect(res.status).toBe(201);
    const audit = (await t.call('GET', '/v1/audit?limit=1', op())).body.data[0];
    expect(audit).toMatchObject({
      action: 'pool.capacity_changed',
      target: 'pool:marseille-h100',
      before: { effectiveFrom: '2027-06-01T00:00:00.000Z', totalGpus: 512 },
      after: { effectiveFrom: '2027-06-01T00:00:00.000Z', totalGpus: 1024 },
    });
    const events = (await t.call('GET', '/v1/platform/events?limit=500', op())).body.data as { type: string; data: { action: string } }[];
    expect(events.filter((e) => e.type === 'catalog.changed' && e.data.action === 'pool.capacity_changed').length).toBeGreaterThan(0);
  });
});
