import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEvents } from '../../shared/store/events.ts';
import { deliveryIdFor } from '../../shared/webhooks/deliveries.ts';
import { MAX_OUTSTANDING_MANUAL } from '../../shared/webhooks/endpoints.ts';
import { RETRY_DELAYS_MS } from '../../shared/webhooks/schedule.ts';
import type { ResolveHost } from '../../shared/webhooks/ssrf.ts';
import { DAY, ORG, hold, memberKey, verifyAsPartner, webhookTest, type WebhookTest } from './webhooks.fixtures.ts';

/** DNS for the suite: `partner.example` is public until it is rebound to loopback; `intranet.example` is private. */
const dns = { partner: ['93.184.216.34'] };
const resolve: ResolveHost = async (host) => {
  if (host === 'partner.example') return dns.partner;
  if (host === 'intranet.example') return ['10.1.2.3'];
  if (host === 'localhost') return ['127.0.0.1', '::1'];
  throw Object.assign(new Error(`no such host ${host}`), { code: 'ENOTFOUND' });
};

let w: WebhookTest;
beforeAll(async () => {
  w = await webhookTest({ resolve, fetchTimeoutMs: 2_000 });
});
afterAll(() => w.close());

describe('managing endpoints', () => {
  it('creates an endpoint and shows its secret once', async () => {
    const { t } = w;
    const created = await t.call('POST', '/v1/webhook-endpoints', {
      body: { url: 'https://partner.example/hooks', events: ['reservation.confirmed', 'reservation.cancelled', 'reservation.confirmed'], description: 'ERP' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^whe_/),
      url: 'https://partner.example/hooks',
      events: ['reservation.confirmed', 'reservation.cancelled'],
      description: 'ERP',
      status: 'enabled',
      failingSince: null,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    const got = await t.call('GET', `/v1/webhook-endpoints/${created.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty('secret');
    expect(got.text).not.toContain('whsec_');
    const list = await t.call('GET', '/v1/webhook-endpoints');
    expect(list.body.data.map((e: { id: string }) => e.id)).toContain(created.body.id);
    expect(list.text).not.toContain('whsec_');

    expect((await t.call('DELETE', `/v1/webhook-endpoints/${created.body.id}`)).status).toBe(204);
    expect((await t.call('GET', `/v1/webhook-endpoints/${created.body.id}`)).status).toBe(404);
    expect((await t.call('DELETE', `/v1/webhook-endpoints/${created.body.id}`)).status).toBe(404);
  });

  it('is for org admins only, and another org’s endpoints do not exist for you', async () => {
    const { t } = w;
    const mine = await w.endpoint('https://partner.example/mine');
    const member = await memberKey(t);
    expect((await t.call('POST', '/v1/webhook-endpoints', { key: member, body: { url: 'https://partner.example/x', events: ['*'] } })).status).toBe(403);
    expect((await t.call('GET', '/v1/webhook-endpoints', { key: member })).status).toBe(403);
    expect((await t.call('GET', '/v1/webhook-endpoints', { key: t.keys.finance })).status).toBe(403);
    expect((await t.call('GET', '/v1/webhook-endpoints', { key: null })).status).toBe(401);

    const other = t.keys.customer2;
    expect((await t.call('GET', `/v1/webhook-endpoints/${mine.id}`, { key: other })).status).toBe(404);
    expect((await t.call('DELETE', `/v1/webhook-endpoints/${mine.id}`, { key: other })).status).toBe(404);
    expect((await t.call('POST', `/v1/webhook-endpoints/${mine.id}/rotate-secret`, { key: other })).status).toBe(404);
    expect((await t.call('POST', `/v1/webhook-endpoints/${mine.id}/test`, { key: other })).status).toBe(404);
    expect((await t.call('GET', `/v1/webhook-endpoints/${mine.id}/deliveries`, { key: other })).status).toBe(404);
    const theirs = await t.call('GET', '/v1/webhook-endpoints', { key: other });
    expect(theirs.body.data.map((e: { id: string }) => e.id)).not.toContain(mine.id);
    await t.call('DELETE', `/v1/webhook-endpoints/${mine.id}`);
  });

  it('is described in the OpenAPI document', async () => {
    const doc = await w.t.call('GET', '/openapi.json', { key: null });
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/webhook-endpoints',
        '/v1/webhook-endpoints/{id}',
        '/v1/webhook-endpoints/{id}/rotate-secret',
        '/v1/webhook-endpoints/{id}/test',
        '/v1/webhook-endpoints/{id}/deliveries',
        '/v1/webhook-endpoints/{id}/deliveries/{deliveryId}/retry',
      ]),
    );
  });

  it('refuses unknown event types with 422 naming each one', async () => {
    const res = await w.t.call('POST', '/v1/webhook-endpoints', { body: { url: 'https://partner.example/x', events: ['reservation.held', 'reservation.exploded', 'nope'] } });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['events[1]', 'events[2]']);
    expect((await w.t.call('POST', '/v1/webhook-endpoints', { body: { url: 'https://partner.example/x', events: [] } })).status).toBe(400);
  });
});

describe('SSRF', () => {
  it.each([
    ['plain http to a public host', 'http://partner.example/hooks', /https/],
    ['a private address', 'https://10.0.0.7/hooks', /private/],
    ['loopback by name', 'https://localhost/hooks', /loopback/],
    ['loopback over http (not in the allowed list)', 'http://127.0.0.2/hooks', /https/],
    ['loopback as a decimal literal', 'https://2130706434/hooks', /127\.0\.0\.2.*loopback/],
    ['the cloud metadata service', 'https://169.254.169.254/latest/meta-data/', /metadata/],
    ['IPv6 loopback', 'https://[::1]/hooks', /loopback/],
    ['an IPv4-mapped private address', 'https://[::ffff:192.168.1.1]/hooks', /private/],
    ['a host that resolves to a private address', 'https://intranet.example/hooks', /10\.1\.2\.3/],
    ['a host that does not resolve', 'https://nowhere.example/hooks', /could not be resolved/],
    ['credentials in the URL', 'https://user:pw@partner.example/hooks', /user name or password/],
    ['not a URL', 'partner.example/hooks', /not a valid absolute URL/],
  ])('refuses %s at creation with 422 naming url', async (_name, url, reason) => {
    const res = await w.t.call('POST', '/v1/webhook-endpoints', { body: { url, events: ['*'] } });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'url', message: expect.stringMatching(reason) }]);
  });

  it('refuses at send time a host rebound to loopback after creation, and never connects', async () => {
    const { t } = w;
    const partner = await w.receiver();
    const endpoint = await w.endpoint(`https://partner.example:${partner.port}/webhook`, ['reservation.held']);
    dns.partner = ['127.0.0.1'];
    try {
      await hold(t);
      await w.pump();
      const [d] = (await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`)).body.data;
      expect(d).toMatchObject({ status: 'pending', attemptCount: 1, responseStatus: null, error: expect.stringMatching(/^unsafe_url: .*127\.0\.0\.1.*loopback/) });
      expect(partner.received).toHaveLength(0);
    } finally {
      dns.partner = ['93.184.216.34'];
      await t.call('DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
    }
  });
});

describe('test events, manual retry, duplicates and rotation', () => {
  it('sends a webhook.test event to that endpoint only, outside the event feed', async () => {
    const { t } = w;
    let secret = '';
    const partner = await w.receiver({ respond: (r) => (verifyAsPartner(secret, r, t.clock()), { status: 202 }) });
    const bystander = await w.receiver();
    const endpoint = await w.endpoint(partner.url);
    const other = await w.endpoint(bystander.url);
    secret = endpoint.secret;
    const before = (await listEvents(t.db, ORG, 0, 1000)).data.length;

    const res = await t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/test`);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ eventType: 'webhook.test', status: 'pending', attemptCount: 0, responseStatus: null });
    await w.webhooks.idle(); // the attempt runs after the answer
    const [logged] = (await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`)).body.data;
    expect(logged).toMatchObject({ id: res.body.id, eventType: 'webhook.test', status: 'succeeded', attemptCount: 1, responseStatus: 202 });
    expect(partner.received).toHaveLength(1);
    expect(JSON.parse(partner.received[0]!.body)).toMatchObject({ type: 'webhook.test', data: { type: 'webhook.test', orgId: ORG, data: { endpointId: endpoint.id } } });
    expect(bystander.received).toHaveLength(0);
    expect((await listEvents(t.db, ORG, 0, 1000)).data).toHaveLength(before);
    await t.call('DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
    await t.call('DELETE', `/v1/webhook-endpoints/${other.id}`);
  });

  it('answers a test or retry at once, before a slow endpoint answers, and bounds what an endpoint has outstanding (429 with Retry-After)', async () => {
    const slow = await webhookTest({ fetchTimeoutMs: 15_000 });
    try {
      let open: () => void = () => undefined;
      const gate = new Promise<void>((r) => (open = r));
      const partner = await slow.receiver({ respond: async () => (await gate, { status: 204 }) });
      const endpoint = await slow.endpoint(partner.url);
      const started = Date.now();
      const first = await slow.t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/test`);
      expect(first.status).toBe(202);
      expect(Date.now() - started).toBeLessThan(2_000); // the partner has not answered at all yet
      const accepted = [first.body.id as string];
      for (let i = 1; i < MAX_OUTSTANDING_MANUAL; i++) {
        const next = await slow.t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/test`);
        expect(next.status).toBe(202);
        accepted.push(next.body.id as string);
      }
      const refused = await slow.t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/test`);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(refused.body.type).toMatch(/rate-limited$/);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(15);
      // A retry counts against the same bound.
      expect((await slow.t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/deliveries/${accepted[0]}/retry`)).status).toBe(429);

      open();
      await slow.webhooks.idle();
      const log = (await slow.t.call('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`)).body.data as { id: string; status: string }[];
      expect(log.map((d) => d.id).sort()).toEqual([...accepted].sort());
      expect(log.every((d) => d.status === 'succeeded')).toBe(true);
      // Their attempts recorded, the endpoint takes tests again.
      expect((await slow.t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/test`)).status).toBe(202);
      await slow.webhooks.idle();
    } finally {
      await slow.close();
    }
  });

  it('retries a failed delivery on request, with the same webhook-id, and returns it', async () => {
    const { t } = w;
    let up = false;
    const partner = await w.receiver({ respond: () => ({ status: up ? 200 : 500 }) });
    const endpoint = await w.endpoint(partner.url, ['reservation.held']);
    await hold(t);
    await w.pump();
    for (const wait of RETRY_DELAYS_MS.slice(1)) await w.advance(wait * 1.2 + 1);
    const [failed] = (await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`)).body.data;
    expect(failed.status).toBe('failed');

    up = true;
    const retried = await t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/deliveries/${failed.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ id: failed.id, status: 'pending', attemptCount: failed.attemptCount, nextAttemptAt: t.clock().toISOString() });
    await w.webhooks.idle();
    const [done] = (await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`)).body.data;
    expect(done).toMatchObject({ id: failed.id, status: 'succeeded', responseStatus: 200, attemptCount: failed.attemptCount + 1 });
    expect(new Set(partner.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([failed.id]));
    expect((await t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/deliveries/msg_nope/retry`)).status).toBe(404);
    await t.call('DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
  });

  it('makes one delivery of an event dispatched many times, as repeated stream records are', async () => {
    const { t } = w;
    const partner = await w.receiver();
    const endpoint = await w.endpoint(partner.url, ['reservation.held']);
    await hold(t);
    const events = (await w.pump()).filter((e) => e.type === 'reservation.held');
    expect(events).toHaveLength(1);
    const again = await Promise.all([w.webhooks.dispatchEvents(events), w.webhooks.dispatchEvents(events), w.webhooks.dispatchEvents(events)]);
    await w.webhooks.idle();
    expect(again.map((r) => r.created)).toEqual([0, 0, 0]);
    const deliveries = (await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`)).body.data;
    expect(deliveries.map((d: { id: string }) => d.id)).toEqual([deliveryIdFor(events[0]!.id, endpoint.id)]);
    expect(partner.received).toHaveLength(1);
    await t.call('DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
  });

  it('signs with the old and the new secret for 24 hours after a rotation, then with the new one only', async () => {
    const { t } = w;
    const partner = await w.receiver();
    const endpoint = await w.endpoint(partner.url, ['reservation.held']);
    const rotated = await t.call('POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    expect(Date.parse(rotated.body.previousSecretExpiresAt) - t.clock().getTime()).toBe(DAY);

    await hold(t);
    await w.pump();
    const during = partner.received.at(-1)!;
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifyAsPartner(endpoint.secret, during, t.clock())).toMatchObject({ type: 'reservation.held' });
    expect(verifyAsPartner(rotated.body.secret, during, t.clock())).toMatchObject({ type: 'reservation.held' });

    t.clock.advance(DAY);
    await hold(t, { startInHours: 24 * 60 });
    await w.pump();
    const after = partner.received.at(-1)!;
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verifyAsPartner(rotated.body.secret, after, t.clock())).toMatchObject({ type: 'reservation.held' });
    expect(() => verifyAsPartner(endpoint.secret, after, t.clock())).toThrow();
    await t.call('DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
  });
});
