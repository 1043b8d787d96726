/**
 * Issue 15, finding 2 (OWASP API4): rate limits per API key, per org and per client address, stricter
 * on writes, quotes and webhook test/retry; write limits hold across instances (DynamoDB), reads per
 * instance; `429 …/rate-limited` with `Retry-After` and the IETF `RateLimit-Policy`/`RateLimit`
 * headers; declared on every operation of the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, type RateLimitConfig } from '../../shared/http/rate-limit.ts';
import { createPortalModule } from '../../shared/portal/module.tsx';
import { createServices } from '../../shared/compose/services.ts';
import { createApp } from '../../shared/http/app.ts';
import { createIdGenerator } from '../../shared/ids.ts';
import { silentLogger } from '../../shared/log.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

const LIMITS: RateLimitConfig = {
  windowSeconds: 60,
  keyReads: 5,
  keyWrites: 4,
  orgWrites: 6,
  quotes: 3,
  webhookTests: 2,
  meterWrites: 8,
  addressReads: 4,
  addressWrites: 5,
  signIns: 2,
};

let t: TestContext;
/** A second "Lambda instance": its own app and memory, the same table. */
let other: ReturnType<typeof createApp>;
let member: string;

beforeAll(async () => {
  t = await createTestContext({ rateLimits: LIMITS, modules: [createPortalModule()] });
  other = createApp(createServices({ db: t.db, clock: t.clock, ids: createIdGenerator(t.clock), logger: silentLogger }), { rateLimits: LIMITS });
  const created = await t.call('POST', '/v1/api-keys', { key: t.keys.operator, body: { role: 'customer', orgId: 'org_lumiere', orgRole: 'member' } });
  expect(created.status).toBe(201);
  member = created.body.key;
});
afterAll(() => t.close());

/** Moves the clock past every window so each test starts with fresh counters. */
const nextWindow = () => t.clock.advance(61_000);

const parseRateLimit = (value: string | null) =>
  Object.fromEntries(
    (value ?? '').split(', ').filter(Boolean).map((item) => {
      const [name, ...params] = item.split(';');
      return [JSON.parse(name!), Object.fromEntries(params.map((p) => { const [k, v] = p.split('='); return [k, Number(v)]; }))];
    }),
  ) as Record<string, Record<string, number>>;

const at = (address: string) => ({ incoming: { socket: { remoteAddress: address } } });

describe('rate limits', () => {
  it('reads: every authenticated response carries RateLimit-Policy and RateLimit; over the limit 429 with Retry-After', async () => {
    nextWindow();
    const remaining: number[] = [];
    for (let i = 0; i < LIMITS.keyReads; i++) {
      const res = await t.call('GET', '/v1/reservations', { key: t.keys.customer2 });
      expect(res.status).toBe(200);
      expect(parseRateLimit(res.headers.get('ratelimit-policy'))).toEqual({ reads: { q: LIMITS.keyReads, w: 60 } });
      const state = parseRateLimit(res.headers.get('ratelimit')).reads!;
      expect(state.t).toBeGreaterThan(0);
      expect(state.t).toBeLessThanOrEqual(60);
      remaining.push(state.r!);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    const refused = await t.call('GET', '/v1/pools', { key: t.keys.customer2 });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.body.type).toBe('https://gpu-market.example/problems/rate-limited');
    expect(refused.body.detail).toContain('"reads"');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(parseRateLimit(refused.headers.get('ratelimit')).reads).toEqual({ r: 0, t: retryAfter });
    // Another key is not affected; after Retry-After the key may read again.
    expect((await t.call('GET', '/v1/pools', { key: t.keys.finance })).status).toBe(200);
    t.clock.advance(retryAfter * 1000);
    expect((await t.call('GET', '/v1/pools', { key: t.keys.customer2 })).status).toBe(200);
  });

  it('errors answered to an authenticated request carry the headers too', async () => {
    nextWindow();
    const res = await t.call('GET', '/v1/reservations/res_nope', { key: t.keys.customer2 });
    expect(res.status).toBe(404);
    expect(res.headers.get('ratelimit-policy')).toBe(`"reads";q=${LIMITS.keyReads};w=60`);
    expect(res.headers.get('ratelimit')).toMatch(/^"reads";r=\d+;t=\d+$/);
  });

  it('writes per API key hold across instances (the counter is in DynamoDB)', async () => {
    nextWindow();
    const statuses: number[] = [];
    for (let i = 0; i < LIMITS.keyWrites + 1; i++) {
      // Alternate between the two instances: each alone would allow every request.
      const app = i % 2 === 0 ? t.app : other;
      const res = await app.request('/v1/reservations', {
        method: 'POST',
        headers: { authorization: `Bearer ${t.keys.customer2}`, 'content-type': 'application/json' },
        body: JSON.stringify({ quoteId: `quo_missing${i}` }),
      });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(parseRateLimit(res.headers.get('ratelimit')).writes!.r).toBe(0);
        expect(parseRateLimit(res.headers.get('ratelimit-policy'))).toMatchObject({ writes: { q: LIMITS.keyWrites, w: 60 }, 'org-writes': { q: LIMITS.orgWrites, w: 60 } });
      } else {
        expect(parseRateLimit(res.headers.get('ratelimit')).writes!.r).toBe(LIMITS.keyWrites - i - 1);
      }
    }
    expect(statuses.slice(0, LIMITS.keyWrites).every((s) => s !== 429)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });

  it('writes per org: all keys of the org together; quotes are stricter', async () => {
    nextWindow();
    const quote = (key: string, i: number) =>
      t.call('POST', '/v1/quotes', {
        key,
        body: { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: hoursFrom(t.clock, 48 + i), end: hoursFrom(t.clock, 50 + i) },
      });
    const answers = [await quote(t.keys.customer, 0), await quote(member, 1), await quote(t.keys.customer, 2), await quote(member, 3)];
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 429]);
    expect(answers[3]!.body.detail).toContain('"quotes"');
    expect(parseRateLimit(answers[0]!.headers.get('ratelimit-policy'))).toMatchObject({ quotes: { q: LIMITS.quotes, w: 60 } });
    // Other writes of the org still go, until the org's write limit (quotes counted in it).
    const writes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await t.call('POST', '/v1/reservations', { key: i % 2 ? member : t.keys.customer, body: { quoteId: `quo_none${i}` } });
      writes.push(res.status);
    }
    expect(writes.filter((s) => s !== 429)).toHaveLength(LIMITS.orgWrites - LIMITS.quotes);
    expect(writes.at(-1)).toBe(429);
    // Another org is not affected.
    expect((await quote(t.keys.customer2, 5)).status).toBe(201);
  });

  it('webhook test and retry: a few per org per window', async () => {
    nextWindow();
    const statuses: number[] = [];
    for (let i = 0; i < LIMITS.webhookTests + 1; i++) {
      statuses.push((await t.call('POST', '/v1/webhook-endpoints/whe_none/test', { key: t.keys.customer })).status);
    }
    expect(statuses.slice(0, LIMITS.webhookTests).every((s) => s !== 429)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });

  it('meters have their own, larger write limit per key', async () => {
    nextWindow();
    const statuses: number[] = [];
    for (let i = 0; i < LIMITS.meterWrites + 1; i++) {
      statuses.push((await t.call('POST', '/v1/usage', { key: t.keys.meter, body: { events: [] } })).status);
    }
    expect(statuses.slice(0, LIMITS.meterWrites).every((s) => s !== 429)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });

  it('unauthenticated requests are limited per client address (failed keys included), not by a client-sent header', async () => {
    nextWindow();
    const statuses: number[] = [];
    for (let i = 0; i < LIMITS.addressReads + 1; i++) {
      const res = await t.app.request('/v1/pools', { headers: { authorization: `Bearer gm_live_guess${i}xxxxxxxx`, 'x-forwarded-for': `10.0.0.${i}` } }, at('203.0.113.7'));
      statuses.push(res.status);
      if (res.status === 401) expect(parseRateLimit(res.headers.get('ratelimit')).address!.r).toBe(LIMITS.addressReads - i - 1);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
    // Another address is not affected, and neither is a valid key from elsewhere.
    expect((await t.app.request('/healthz', {}, at('198.51.100.1'))).status).toBe(200);
    expect((await t.call('GET', '/v1/pools', { key: t.keys.operator })).status).toBe(200);
  });

  it('portal sign-in is limited per client address across instances', async () => {
    nextWindow();
    const signIn = (app: typeof other, i: number) =>
      app.request(
        '/sign-in',
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' }, body: `key=gm_live_wrong${i}` },
        at('192.0.2.44'),
      );
    const statuses = [(await signIn(t.app, 0)).status, (await signIn(other, 1)).status, (await signIn(t.app, 2)).status];
    expect(statuses.slice(0, 2).every((s) => s !== 429)).toBe(true);
    expect(statuses[2]).toBe(429);
  });

  it('the default limits are real', () => {
    expect(DEFAULT_RATE_LIMITS.keyWrites).toBeLessThan(DEFAULT_RATE_LIMITS.keyReads);
    expect(DEFAULT_RATE_LIMITS.quotes).toBeLessThan(DEFAULT_RATE_LIMITS.orgWrites);
    expect(DEFAULT_RATE_LIMITS.webhookTests).toBeLessThan(DEFAULT_RATE_LIMITS.quotes);
    // The review's figures: 1,055 GETs and 183 quotes in 5 s from one key are over the limits.
    expect(1055).toBeGreaterThan(DEFAULT_RATE_LIMITS.keyReads);
    expect(183).toBeGreaterThan(DEFAULT_RATE_LIMITS.quotes);
  });

  it('the OpenAPI document declares 429 with Retry-After and the RateLimit headers on every operation', async () => {
    const doc = (await t.call('GET', '/openapi.json', { key: null })).body;
    const operations = Object.values(doc.paths as Record<string, Record<string, { operationId: string; responses: Record<string, { headers?: Record<string, unknown> }> }>>).flatMap((p) => Object.values(p));
    expect(operations.length).toBeGreaterThan(20);
    for (const op of operations) {
      expect(op.responses['429'], op.operationId).toBeDefined();
      expect(Object.keys(op.responses['429']!.headers ?? {}), op.operationId).toEqual(expect.arrayContaining(['Retry-After', 'RateLimit', 'RateLimit-Policy']));
      for (const [status, response] of Object.entries(op.responses)) {
        expect(Object.keys(response.headers ?? {}), `${op.operationId} ${status}`).toEqual(expect.arrayContaining(['RateLimit', 'RateLimit-Policy']));
      }
    }
    expect(doc.components.headers.RateLimit).toBeDefined();
  });

  it('request ids are the server’s own: a client-sent x-request-id is ignored', async () => {
    const res = await t.call('GET', '/v1/pools', { key: t.keys.finance, headers: { 'x-request-id': 'planted-id' } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const problem = await t.call('GET', '/v1/nope', { key: t.keys.finance, headers: { 'x-request-id': 'planted-id' } });
    expect(problem.body.requestId).not.toBe('planted-id');
  });
});
