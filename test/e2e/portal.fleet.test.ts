/** The operator's portal pages: the fleet (sites, pools, price books, maintenance) and the audit log. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPortalModule } from '../../shared/portal/module.tsx';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ modules: [createPortalModule()] });
});
afterAll(() => t.close());

const ORIGIN = 'http://portal.test';
async function request(path: string, init: { cookie?: string; form?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { host: 'portal.test' };
  if (init.cookie) headers.cookie = init.cookie;
  let body: string | undefined;
  if (init.form) {
    body = new URLSearchParams(init.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers.origin = ORIGIN;
  }
  const res = await t.app.request(`${ORIGIN}${path}`, { method: init.form ? 'POST' : 'GET', headers, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
async function signIn(key: string): Promise<string> {
  const res = await request('/sign-in', { form: { apiKey: key, next: '/' } });
  expect(res.status).toBe(303);
  return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
}

describe('operator portal', () => {
  it('shows the fleet with facility figures, price books and maintenance, and the audit log of API changes', async () => {
    const op = { key: t.keys.operator };
    expect((await t.call('POST', '/v1/pools/marseille-b200/maintenance', { ...op, body: { start: hoursFrom(t.clock, 48), end: hoursFrom(t.clock, 52), gpus: 16, reason: 'Rack 7 firmware' } })).status).toBe(201);
    expect((await t.call('PATCH', '/v1/pools/marseille-b200', { ...op, body: { reservedRate: { amount: 419, currency: 'EUR' } } })).status).toBe(200);
    const cookie = await signIn(t.keys.operator);
    const fleet = await request('/fleet', { cookie });
    expect(fleet.status).toBe(200);
    expect(fleet.text).toContain('Valence–Rovaltain (valence-rovaltain)');
    expect(fleet.text).toContain('<th scope="col">PUE</th>');
    expect(fleet.text).toContain('marseille-b200');
    expect(fleet.text).toContain('€4.19/GPU-h');
    expect(fleet.text).toContain('Rack 7 firmware');
    expect(fleet.text).toContain('href="/audit"');
    const audit = await request('/audit', { cookie });
    expect(audit.status).toBe(200);
    expect(audit.text).toContain('pool.updated');
    expect(audit.text).toContain('pool:marseille-b200');
    expect(audit.text).toMatch(/reservedRate: \{&quot;amount&quot;:399,&quot;currency&quot;:&quot;EUR&quot;\} → \{&quot;amount&quot;:419/);

    // The operator schedules capacity from the Fleet page: a form per pool, with the session's CSRF token.
    const csrf = /name="csrf" value="([^"]+)"/.exec(fleet.text)![1]!;
    const grown = await request('/fleet/pools/marseille-b200/capacity', { cookie, form: { csrf, effectiveFrom: '2027-02-01T00:00', totalGpus: '256' } });
    expect(grown.status).toBe(303);
    expect(grown.headers.get('location')).toContain('scheduled=marseille-b200');
    const after = await request(grown.headers.get('location')!.split('#')[0]!, { cookie });
    expect(after.text).toContain('Capacity change scheduled for marseille-b200.');
    expect(after.text).toContain(': 256 GPUs.');
    expect((await t.call('GET', '/v1/pools/marseille-b200/capacity-changes', op)).body.data).toMatchObject([{ effectiveFrom: '2027-02-01T00:00:00.000Z', totalGpus: 256 }]);
    // A change the rules refuse comes back as an alert naming the field; nothing is written.
    const bad = await request('/fleet/pools/marseille-b200/capacity', { cookie, form: { csrf, effectiveFrom: '2027-02-01T00:00', totalGpus: '100' } });
    expect(bad.status).toBe(303);
    expect(decodeURIComponent(bad.headers.get('location') ?? '')).toContain('totalGpus: must be whole nodes');
    // Without the CSRF token the form is refused.
    expect((await request('/fleet/pools/marseille-b200/capacity', { cookie, form: { effectiveFrom: '2027-03-01T00:00', totalGpus: '512' } })).status).toBe(403);
    expect((await t.call('GET', '/v1/pools/marseille-b200/capacity-changes', op)).body.data).toHaveLength(1);

    const customer = await signIn(t.keys.customer);
    expect((await request('/fleet', { cookie: customer })).status).toBe(403);
    expect((await request('/audit', { cookie: customer })).status).toBe(403);
  });
  it('pages the audit log with sealed cursors: opaque, followed back, and a raw table key or an API cursor refused (issue 15, finding 8)', async () => {
    const op = { key: t.keys.operator };
    for (let i = 0; i < 52; i++) {
      expect((await t.call('PATCH', '/v1/pools/grand-est-h200', { ...op, body: { reservedRate: { amount: 500 + i, currency: 'EUR' } } })).status).toBe(200);
    }
    const cookie = await signIn(t.keys.operator);
    const first = await request('/audit', { cookie });
    expect(first.status).toBe(200);
    const m = /href="\/audit\?cursor=([^"]+)"/.exec(first.text);
    expect(m).not.toBeNull();
    const cursor = decodeURIComponent(m![1]!.replaceAll('&amp;', '&'));
    // Opaque: the sealed form, no table key readable inside.
    expect(cursor).toMatch(/^c1\.[A-Za-z0-9_-]+$/);
    expect(Buffer.from(cursor.slice(3), 'base64url').toString('latin1')).not.toMatch(/PK|SK|AUDIT/);
    const second = await request(`/audit?cursor=${encodeURIComponent(cursor)}`, { cookie });
    expect(second.status).toBe(200);
    expect(second.text).toContain('pool.updated');
    // A table key as the store writes it (what the page used to hand out) is refused, as is a changed byte.
    const raw = Buffer.from(JSON.stringify({ PK: 'AUDIT', SK: 'AUDIT#2026-12-01T00:00:00.000Z#x' })).toString('base64url');
    expect((await request(`/audit?cursor=${raw}`, { cookie })).status).toBe(400);
    const flipped = cursor.slice(0, -2) + (cursor.at(-2) === 'A' ? 'B' : 'A') + cursor.at(-1);
    expect((await request(`/audit?cursor=${encodeURIComponent(flipped)}`, { cookie })).status).toBe(400);
    // The API's cursor for the same list is bound to the API's list, not the page's.
    const api = await t.call('GET', '/v1/audit?limit=5', op);
    expect(api.status).toBe(200);
    expect((await request(`/audit?cursor=${encodeURIComponent(api.body.nextCursor)}`, { cookie })).status).toBe(400);
  });
});
