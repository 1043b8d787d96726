/**
 * SPEC invariant 4 and the roles: 401 without a valid key, 403 outside one's role, 404 for another
 * org's resources (and nothing changed), and no way to page into another org's data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { reservationsIn, scanAll } from '../support/invariants.ts';

let t: TestContext;
/** A confirmed and a held reservation, a fresh quote and an on-demand reservation of `customer`. */
let mine: { confirmed: string; held: string; quote: string; onDemand: string };

beforeAll(async () => {
  t = await createTestContext();
  const quote = async (offsetHours: number) =>
    (await t.call('POST', '/v1/quotes', { body: { site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 16, start: hoursFrom(t.clock, offsetHours), end: hoursFrom(t.clock, offsetHours + 24) } })).body.id as string;
  const hold = async (quoteId: string) => (await t.call('POST', '/v1/reservations', { body: { quoteId } })).body.id as string;
  const confirmed = await hold(await quote(24 * 20));
  expect((await t.call('POST', `/v1/reservations/${confirmed}/confirm`)).status).toBe(200);
  const held = await hold(await quote(24 * 30));
  const onDemand = (await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 8 } })).body.id as string;
  mine = { confirmed, held, quote: await quote(24 * 40), onDemand };
});
afterAll(() => t.close());

const expectProblem = (res: { status: number; headers: Headers; body: any }, status: number, type: string) => {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body).toMatchObject({ status, type: expect.stringMatching(new RegExp(`/${type}$`)), title: expect.any(String), detail: expect.any(String) });
};

describe('authentication', () => {
  const routes: [string, string, unknown?][] = [
    ['GET', '/v1/sites'],
    ['GET', '/v1/availability?start=2026-12-01T00:00:00Z&end=2026-12-02T00:00:00Z'],
    ['POST', '/v1/quotes', { site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 8, start: '2026-12-10T00:00:00Z', end: '2026-12-10T04:00:00Z' }],
    ['GET', '/v1/reservations'],
    ['POST', '/v1/reservations/res_x/confirm'],
    ['GET', '/v1/events'],
    ['GET', '/v1/orgs'],
  ];

  it.each([
    ['no Authorization header', null, undefined],
    ['a key that was never issued', 'gm_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', undefined],
    ['a malformed header', null, 'Bearer'],
    ['another scheme', null, 'Basic dXNlcjpwYXNz'],
    ['a key with forbidden characters', null, 'Bearer gm_live_<script>alert(1)</script>'],
    ['a very long key', 'gm_live_' + 'A'.repeat(5000), undefined],
  ])('answers 401 problem+json with %s', async (_, key, header) => {
    for (const [method, path, body] of routes) {
      const res = await t.call(method, path, { key, ...(header ? { headers: { authorization: header } } : {}), ...(body ? { body } : {}) });
      expectProblem(res, 401, 'unauthenticated');
      expect(res.headers.get('www-authenticate'), `${method} ${path}`).toMatch(/^Bearer/);
    }
  });

  it('stops accepting a key the moment it is revoked', async () => {
    const issued = await t.call('POST', '/v1/api-keys', { key: t.keys.operator, body: { role: 'customer', orgId: 'org_lumiere', orgRole: 'member' } });
    expect(issued.status).toBe(201);
    expect((await t.call('GET', `/v1/reservations/${mine.held}`, { key: issued.body.key })).status).toBe(200);
    expect((await t.call('DELETE', `/v1/api-keys/${issued.body.id}`, { key: t.keys.operator })).status).toBe(204);
    for (const [method, path, body] of routes) expectProblem(await t.call(method, path, { key: issued.body.key, ...(body ? { body } : {}) }), 401, 'unauthenticated');
  });
});

describe('roles', () => {
  const customerRoutes = (): [string, string, unknown?][] => [
    ['POST', '/v1/quotes', { site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 8, start: hoursFrom(t.clock, 24 * 50), end: hoursFrom(t.clock, 24 * 50 + 4) }],
    ['POST', '/v1/reservations', { quoteId: mine.quote }],
    ['POST', '/v1/reservations', { kind: 'on_demand', site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 8 }],
    ['GET', '/v1/reservations'],
    ['GET', `/v1/reservations/${mine.held}`],
    ['POST', `/v1/reservations/${mine.held}/confirm`],
    ['POST', `/v1/reservations/${mine.confirmed}/extend`, { end: hoursFrom(t.clock, 24 * 22) }],
    ['POST', `/v1/reservations/${mine.confirmed}/cancel`],
    ['POST', `/v1/reservations/${mine.onDemand}/stop`],
    ['GET', '/v1/events'],
  ];

  it.each(['finance', 'meter', 'operator'] as const)('answers 403 to a %s key on every customer route and changes nothing', async (role) => {
    const before = reservationsIn(await scanAll(t.db));
    for (const [method, path, body] of customerRoutes()) {
      const res = await t.call(method, path, { key: t.keys[role], ...(body ? { body } : {}) });
      expectProblem(res, 403, 'forbidden');
    }
    expect(reservationsIn(await scanAll(t.db))).toEqual(before);
  });

  it('lets every role read the catalog and availability', async () => {
    for (const role of ['customer', 'customer2', 'finance', 'meter', 'operator'] as const) {
      expect((await t.call('GET', '/v1/pools?site=marseille', { key: t.keys[role] })).status).toBe(200);
      expect((await t.call('GET', `/v1/availability?site=marseille&start=${hoursFrom(t.clock, 24)}&end=${hoursFrom(t.clock, 48)}`, { key: t.keys[role] })).status).toBe(200);
    }
  });

  it('answers 403 to customer keys on operator routes', async () => {
    const start = hoursFrom(t.clock, 24 * 60);
    const end = hoursFrom(t.clock, 24 * 60 + 2);
    for (const [method, path, body] of [
      ['POST', '/v1/orgs', { name: 'Evil Corp', country: 'FR', billingEmail: 'x@evil.example' }],
      ['GET', '/v1/orgs'],
      ['POST', '/v1/api-keys', { role: 'operator' }],
      ['POST', '/v1/pools/marseille-h200/maintenance', { start, end, gpus: 256, reason: 'lock everyone out' }],
      ['GET', '/v1/pools/marseille-h200/maintenance'],
    ] as [string, string, unknown?][]) {
      expectProblem(await t.call(method, path, { key: t.keys.customer2, ...(body ? { body } : {}) }), 403, 'forbidden');
    }
    expect((await t.call('GET', '/v1/reservations', { key: t.keys.customer2 })).status).toBe(200);
  });

  it('lets an org admin revoke only its own org’s keys (another org’s answers 404)', async () => {
    expectProblem(await t.call('DELETE', '/v1/api-keys/key_demo_customer', { key: t.keys.customer2 }), 404, 'not-found');
    expectProblem(await t.call('DELETE', '/v1/api-keys/key_demo_operator', { key: t.keys.customer2 }), 404, 'not-found');
    expect((await t.call('GET', '/v1/reservations', { key: t.keys.customer })).status).toBe(200);
  });
});

describe('tenant isolation', () => {
  it('answers 404 to another org on every reservation route, and nothing changes', async () => {
    const before = await scanAll(t.db);
    const eventsBefore = (await t.call('GET', '/v1/events?limit=500')).body.data;
    const theirs = { key: t.keys.customer2 };
    for (const id of [mine.confirmed, mine.held, mine.onDemand]) {
      expectProblem(await t.call('GET', `/v1/reservations/${id}`, theirs), 404, 'not-found');
      expectProblem(await t.call('POST', `/v1/reservations/${id}/confirm`, theirs), 404, 'not-found');
      expectProblem(await t.call('POST', `/v1/reservations/${id}/extend`, { ...theirs, body: { end: hoursFrom(t.clock, 24 * 45) } }), 404, 'not-found');
      expectProblem(await t.call('POST', `/v1/reservations/${id}/cancel`, theirs), 404, 'not-found');
      expectProblem(await t.call('POST', `/v1/reservations/${id}/stop`, theirs), 404, 'not-found');
    }
    // The other org's quote id cannot be held, and stays usable by its owner.
    expectProblem(await t.call('POST', '/v1/reservations', { ...theirs, body: { quoteId: mine.quote } }), 404, 'not-found');
    const after = await scanAll(t.db);
    expect(reservationsIn(after)).toEqual(reservationsIn(before));
    expect(after.filter((i) => i.entity === 'quote')).toEqual(before.filter((i) => i.entity === 'quote'));
    expect((await t.call('GET', '/v1/events?limit=500')).body.data).toEqual(eventsBefore);
    expect((await t.call('POST', '/v1/reservations', { body: { quoteId: mine.quote } })).status).toBe(201);
  });

  it('lists only the own org’s reservations and events', async () => {
    const q = await t.call('POST', '/v1/quotes', { key: t.keys.customer2, body: { site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 8, start: hoursFrom(t.clock, 24 * 70), end: hoursFrom(t.clock, 24 * 70 + 3) } });
    const theirs = await t.call('POST', '/v1/reservations', { key: t.keys.customer2, body: { quoteId: q.body.id } });
    expect(theirs.status).toBe(201);
    const theirList = (await t.call('GET', '/v1/reservations?limit=200', { key: t.keys.customer2 })).body.data.map((r: { id: string }) => r.id);
    expect(theirList).toEqual([theirs.body.id]);
    const myList = (await t.call('GET', '/v1/reservations?limit=200')).body.data.map((r: { id: string }) => r.id);
    expect(myList).not.toContain(theirs.body.id);
    expect(myList).toEqual(expect.arrayContaining(Object.values(mine).filter((id) => id.startsWith('res_'))));
    const theirEvents = (await t.call('GET', '/v1/events?limit=500', { key: t.keys.customer2 })).body.data;
    expect(theirEvents.map((e: { orgId: string }) => e.orgId)).toEqual(theirEvents.map(() => 'org_rheinwerk'));
    expect(theirEvents.map((e: { sequence: number }) => e.sequence)).toEqual(theirEvents.map((_: unknown, i: number) => i + 1));
    expect(theirEvents.some((e: { data: { id: string } }) => Object.values(mine).includes(e.data.id))).toBe(false);
  });

  it('refuses another org’s cursor and event id with 400 naming the parameter', async () => {
    const page = await t.call('GET', '/v1/reservations?limit=1');
    expect(page.body.nextCursor).toEqual(expect.any(String));
    const stolen = await t.call('GET', `/v1/reservations?limit=1&cursor=${page.body.nextCursor}`, { key: t.keys.customer2 });
    expectProblem(stolen, 400, 'validation-failed');
    expect(stolen.body.errors[0].path).toBe('cursor');

    const myEvent = (await t.call('GET', '/v1/events?limit=1')).body.data[0];
    const peek = await t.call('GET', `/v1/events?after=${myEvent.id}`, { key: t.keys.customer2 });
    expectProblem(peek, 400, 'validation-failed');
    expect(peek.body.errors[0].path).toBe('after');
  });

  it('hands out opaque, tamper-proof cursors: no table key inside, a changed byte refused', async () => {
    const page = await t.call('GET', '/v1/reservations?limit=1');
    const cursor: string = page.body.nextCursor;
    expect(cursor).toMatch(/^c1\.[A-Za-z0-9_-]+$/);
    const inside = Buffer.from(cursor.slice(3), 'base64url').toString('latin1');
    expect(inside).not.toMatch(/ORG#|RES#|org_lumiere/);
    const next = await t.call('GET', `/v1/reservations?limit=1&cursor=${cursor}`);
    expect(next.status).toBe(200);
    expect(next.body.data[0].id).not.toBe(page.body.data[0].id);
    for (let i = 3; i < cursor.length; i += 7) {
      const changed = cursor.slice(0, i) + (cursor[i] === 'A' ? 'B' : 'A') + cursor.slice(i + 1);
      const res = await t.call('GET', `/v1/reservations?limit=1&cursor=${changed}`);
      expectProblem(res, 400, 'validation-failed');
      expect(res.body.errors[0].path).toBe('cursor');
    }
  });

  it('refuses forged cursors, including one shaped like the own org’s, with 400 and never 500', async () => {
    const forge = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');
    for (const cursor of [
      forge({ pk: 'ORG#org_lumiere', sk: 'RES#x' }),
      forge({ pk: 'ORG#org_rheinwerk', sk: `RES#${'a'.repeat(1100)}` }),
      forge({ pk: 'ORG#org_rheinwerk', sk: 'RES#res_1', extra: 'x' }),
      forge({ pk: 'ORG#org_rheinwerk', sk: 'EVT#000000000001' }),
      forge({ pk: 'ORG#org_rheinwerk', sk: { S: 'RES#' } }),
      forge(['ORG#org_rheinwerk']),
      'not-base64-$$$',
      '',
    ]) {
      const res = await t.call('GET', `/v1/reservations?cursor=${encodeURIComponent(cursor)}`, { key: t.keys.customer2 });
      if (cursor === '') expect(res.status).toBe(200);
      else if (res.status !== 400) expect.fail(`cursor ${cursor.slice(0, 80)} answered ${res.status} ${res.text.slice(0, 200)}`);
      else {
        expectProblem(res, 400, 'validation-failed');
        expect(res.body.errors[0].path).toBe('cursor');
      }
    }
  });
});
