import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(() => t.close());

describe('operator', () => {
  it('maintenance takes capacity out of every hour it covers, and only capacity that is free', async () => {
    const start = hoursFrom(t.clock, 24 * 5);
    const end = hoursFrom(t.clock, 24 * 5 + 6);
    const op = { key: t.keys.operator };
    const added = await t.call('POST', '/v1/pools/marseille-b200/maintenance', { ...op, body: { start, end, gpus: 96, reason: 'rack swap' } });
    expect(added.status).toBe(201);
    const avail = await t.call('GET', `/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=${start}&end=${end}`);
    expect(avail.body.pools[0].minAvailable).toBe(32);
    const tooBig = await t.call('POST', '/v1/quotes', { body: { site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: 40, start, end } });
    expect(tooBig.status).toBe(409);
    const q = await t.call('POST', '/v1/quotes', { body: { site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: 32, start, end } });
    expect((await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } })).status).toBe(201);
    const more = await t.call('POST', '/v1/pools/marseille-b200/maintenance', { ...op, body: { start, end, gpus: 8, reason: 'more' } });
    expect(more.status).toBe(409);
    expect((await t.call('GET', '/v1/pools/marseille-b200/maintenance', op)).body.data).toHaveLength(1);
    expect((await t.call('DELETE', `/v1/pools/marseille-b200/maintenance/${added.body.id}`, op)).status).toBe(204);
    const after = await t.call('GET', `/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=${start}&end=${end}`);
    expect(after.body.pools[0].minAvailable).toBe(96);
    expect((await t.call('POST', '/v1/pools/marseille-b200/maintenance', { body: { start, end, gpus: 8, reason: 'x' } })).status).toBe(403);
  });

  it('creates orgs and keys shown once, and a revoked key stops working', async () => {
    const op = { key: t.keys.operator };
    const org = await t.call('POST', '/v1/orgs', { ...op, body: { name: 'Nordlys AB', country: 'SE', vatNumber: 'SE556677889901', billingEmail: 'ap@nordlys.example' } });
    expect(org.status).toBe(201);
    const key = await t.call('POST', '/v1/api-keys', { ...op, body: { role: 'customer', orgId: org.body.id, orgRole: 'admin' } });
    expect(key.status).toBe(201);
    expect(key.body.key).toMatch(/^gm_live_[A-Za-z0-9_-]{27,}$/);
    expect((await t.call('GET', '/v1/reservations', { key: key.body.key })).status).toBe(200);
    expect((await t.call('GET', '/v1/orgs', { key: t.keys.finance })).body.data.map((o: { id: string }) => o.id)).toContain(org.body.id);
    expect((await t.call('DELETE', `/v1/api-keys/${key.body.id}`, op)).status).toBe(204);
    const after = await t.call('GET', '/v1/reservations', { key: key.body.key });
    expect(after.status).toBe(401);
    expect(after.headers.get('content-type')).toContain('application/problem+json');
    const meterWithoutSite = await t.call('POST', '/v1/api-keys', { ...op, body: { role: 'meter' } });
    expect(meterWithoutSite.status).toBe(422);
    expect(meterWithoutSite.body.errors[0].path).toBe('siteId');
  });
});
