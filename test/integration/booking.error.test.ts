/**
 * SPEC invariant 5: every malformed request gets a 4xx application/problem+json (RFC 9457) that
 * names the field, never a 500, and nothing is half-written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { scanAll } from '../support/invariants.ts';

let t: TestContext;
let before: Record<string, number>;
const tally = async () => {
  const counts: Record<string, number> = {};
  for (const i of await scanAll(t.db)) if (['quote', 'reservation', 'event', 'capacity', 'onDemandTotal'].includes(String(i.entity))) counts[String(i.entity)] = (counts[String(i.entity)] ?? 0) + 1;
  return counts;
};

/** Runs requests that are meant to create things, and adds what they created to the expected tally. */
async function legitimately<T>(create: () => Promise<T>): Promise<T> {
  const a = await tally();
  const result = await create();
  const b = await tally();
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) before[k] = (before[k] ?? 0) + (b[k] ?? 0) - (a[k] ?? 0);
  return result;
}

beforeAll(async () => {
  t = await createTestContext();
  before = await tally();
});
afterAll(() => t.close());

type Reply = Awaited<ReturnType<TestContext['call']>>;

/** A problem+json answer with this status and type whose `errors[].path` names `field` (when given). */
function expectProblem(res: Reply, status: number, type: string, field?: string) {
  const where = `${status} ${type} ${field ?? ''}: got ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, where).toBe(status);
  expect(res.headers.get('content-type'), where).toBe('application/problem+json');
  expect(res.body, where).toMatchObject({ type: `https://gpu-market.example/problems/${type}`, title: expect.any(String), status, detail: expect.any(String) });
  if (field !== undefined) expect(res.body.errors?.map((e: { path: string }) => e.path), where).toContain(field);
}

const quote = () => ({ site: 'marseille', gpuType: 'h100-sxm-80gb', gpus: 8, start: hoursFrom(t.clock, 48), end: hoursFrom(t.clock, 52) });
const postQuote = (body: unknown) => t.call('POST', '/v1/quotes', { body });

describe('malformed bodies', () => {
  it.each([
    ['truncated JSON', '{"site": "marseille",'],
    ['single quotes', "{'site': 'marseille'}"],
    ['a trailing comma', '{"site": "marseille",}'],
    ['an empty body', ''],
    ['a byte-order mark and garbage', '\uFEFF\u0000{'],
  ])('answers 400 malformed-json naming `body` for %s, on every POST with a body', async (_, rawBody) => {
    for (const path of ['/v1/quotes', '/v1/reservations', '/v1/reservations/res_01jx0000000000000000000000/extend']) {
      expectProblem(await t.call('POST', path, { rawBody }), 400, 'malformed-json', 'body');
    }
  });

  it.each([
    ['null', 'null'],
    ['an array', '[{"site":"marseille"}]'],
    ['a number', '42'],
    ['a string', '"marseille"'],
  ])('answers 400 naming `body` when the body is %s instead of an object', async (_, rawBody) => {
    expectProblem(await t.call('POST', '/v1/quotes', { rawBody }), 400, 'validation-failed', 'body');
  });

  it('answers 415 when the body is not sent as JSON', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      expectProblem(await t.call('POST', '/v1/quotes', { rawBody: JSON.stringify(quote()), headers: { 'content-type': type } }), 415, 'unsupported-media-type');
    }
  });

  it('answers 413 for a body over 1 MiB, before doing anything with it', async () => {
    const huge = JSON.stringify({ ...quote(), padding: 'x'.repeat(1_048_576) });
    expectProblem(await t.call('POST', '/v1/quotes', { rawBody: huge }), 413, 'payload-too-large');
    expectProblem(await t.call('POST', '/v1/reservations', { rawBody: JSON.stringify({ quoteId: 'q'.repeat(1_100_000) }) }), 413, 'payload-too-large');
    expectProblem(await t.call('POST', '/v1/reservations', { rawBody: '[' + '1,'.repeat(600_000) + '1]' }), 413, 'payload-too-large');
  });
});

describe('fields', () => {
  it('names every missing field', async () => {
    const res = await postQuote({ site: 'marseille' });
    expectProblem(res, 400, 'validation-failed');
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['end', 'gpuType', 'gpus', 'start']);
  });

  it.each([
    ['gpus', '8'],
    ['gpus', 8.5],
    ['gpus', -8],
    ['gpus', 0],
    ['gpus', 1e300],
    ['gpus', null],
    ['site', 42],
    ['site', { $ne: null }],
    ['site', 'Marseille'],
    ['site', '../etc/passwd'],
    ['gpuType', ['h100-sxm-80gb']],
    ['start', 'tomorrow'],
    ['start', '2026-12-01'],
    ['start', '2026-13-01T00:00:00Z'],
    ['start', 1796083200000],
    ['end', '2026-12-01T25:00:00Z'],
  ])('names %s when it is %j', async (field, value) => {
    expectProblem(await postQuote({ ...quote(), [field]: value }), 400, 'validation-failed', field);
  });

  it.each(['color', '__proto__', 'constructor', 'prototype', 'Site'])('rejects the unknown field %s and names it', async (field) => {
    const rawBody = JSON.stringify(quote()).replace('{', `{${JSON.stringify(field)}:{"polluted":true},`);
    expectProblem(await t.call('POST', '/v1/quotes', { rawBody }), 400, 'validation-failed', field);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('names the offending field of a reservation body', async () => {
    expectProblem(await t.call('POST', '/v1/reservations', { body: {} }), 400, 'validation-failed', 'quoteId');
    expectProblem(await t.call('POST', '/v1/reservations', { body: { kind: 'spot', quoteId: 'qt_x' } }), 400, 'validation-failed', 'kind');
    expectProblem(await t.call('POST', '/v1/reservations', { body: { quoteId: 'qt_x', gpus: 8 } }), 400, 'validation-failed', 'gpus');
    expectProblem(await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h100-sxm-80gb' } }), 400, 'validation-failed', 'gpus');
    expectProblem(await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h100-sxm-80gb', gpus: 8, quoteId: 'qt_x' } }), 400, 'validation-failed', 'quoteId');
    expectProblem(await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h100-sxm-80gb', gpus: 12 } }), 422, 'unprocessable', 'gpus');
    expectProblem(await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'atlantis', gpuType: 'h100-sxm-80gb', gpus: 8 } }), 422, 'unprocessable', 'site');
    expectProblem(await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'grand-est', gpuType: 'b200-sxm-192gb', gpus: 8 } }), 422, 'unprocessable', 'gpuType');
    expectProblem(await t.call('POST', '/v1/reservations', { body: { quoteId: 'qt_does_not_exist' } }), 404, 'not-found');
  });
});

describe('booking rules', () => {
  it.each([
    ['a start that is not a whole hour', () => ({ start: hoursFrom(t.clock, 48).replace(':00:00Z', ':30:00Z') }), 'start'],
    ['an end that is not a whole hour', () => ({ end: hoursFrom(t.clock, 52).replace(':00:00Z', ':00:01Z') }), 'end'],
    ['an end equal to the start', () => ({ end: hoursFrom(t.clock, 48) }), 'end'],
    ['an end before the start', () => ({ end: hoursFrom(t.clock, 47) }), 'end'],
    ['a booking longer than 365 days', () => ({ end: hoursFrom(t.clock, 48 + 365 * 24 + 1) }), 'end'],
    ['a start more than 12 months ahead', () => ({ start: hoursFrom(t.clock, 24 * 367), end: hoursFrom(t.clock, 24 * 367 + 4) }), 'start'],
    ['a start in the past', () => ({ start: hoursFrom(t.clock, -2), end: hoursFrom(t.clock, 2) }), 'start'],
    ['a start this very hour', () => ({ start: hoursFrom(t.clock, 0), end: hoursFrom(t.clock, 2) }), 'start'],
    ['GPUs that are not whole nodes', () => ({ gpus: 12 }), 'gpus'],
    ['more GPUs than the pool has', () => ({ gpus: 520 }), 'gpus'],
    ['an unknown site', () => ({ site: 'atlantis' }), 'site'],
    ['an unknown GPU type', () => ({ gpuType: 'tpu-v5' }), 'gpuType'],
    ['a site without that GPU type', () => ({ site: 'grand-est' }), 'gpuType'],
    ['a pool before it opens', () => ({ site: 'grand-est', gpuType: 'b200-sxm-192gb' }), 'start'],
  ])('refuses %s with 422 naming the field', async (_, patch, field) => {
    expectProblem(await postQuote({ ...quote(), ...patch() }), 422, 'unprocessable', field);
  });

  it('accepts the longest and the farthest booking the rules allow', async () => {
    expect((await legitimately(() => postQuote({ ...quote(), end: hoursFrom(t.clock, 48 + 365 * 24) }))).status).toBe(201);
    expect((await legitimately(() => postQuote({ ...quote(), start: hoursFrom(t.clock, 24 * 365), end: hoursFrom(t.clock, 24 * 365 + 1) }))).status).toBe(201);
  });

  it('answers 410 for an expired quote and 409 for a quote used twice', async () => {
    const q = await legitimately(() => postQuote(quote()));
    t.clock.advance(15 * 60_000);
    expectProblem(await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } }), 410, 'quote-expired');
    const fresh = await legitimately(() => postQuote(quote()));
    expect((await legitimately(() => t.call('POST', '/v1/reservations', { body: { quoteId: fresh.body.id } }))).status).toBe(201);
    expectProblem(await t.call('POST', '/v1/reservations', { body: { quoteId: fresh.body.id } }), 409, 'invalid-state');
    expectProblem(await t.call('POST', '/v1/reservations', { key: t.keys.customer2, body: { quoteId: fresh.body.id } }), 404, 'not-found');
  });

  it('names `end` when an extension is malformed or goes backwards', async () => {
    const q = await legitimately(() => postQuote(quote()));
    const r = await legitimately(() => t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } }));
    const extend = (body: unknown) => t.call('POST', `/v1/reservations/${r.body.id}/extend`, { body });
    expectProblem(await extend({}), 400, 'validation-failed', 'end');
    expectProblem(await extend({ end: 'later' }), 400, 'validation-failed', 'end');
    expectProblem(await extend({ end: q.body.end, start: q.body.start }), 400, 'validation-failed', 'start');
    expectProblem(await extend({ end: q.body.end }), 422, 'unprocessable', 'end');
    expectProblem(await extend({ end: hoursFrom(t.clock, 40) }), 422, 'unprocessable', 'end');
    expectProblem(await extend({ end: new Date(Date.parse(q.body.end) + 1_800_000).toISOString() }), 422, 'unprocessable', 'end');
    expectProblem(await extend({ end: hoursFrom(t.clock, 48 + 365 * 24 + 1) }), 422, 'unprocessable', 'end');
    expectProblem(await t.call('POST', '/v1/reservations/res_01jx0000000000000000000000/extend', { body: { end: q.body.end } }), 404, 'not-found');
  });
});

describe('queries', () => {
  it.each([
    ['/v1/availability', 'start'],
    ['/v1/availability?start=2026-12-01T00:00:00Z', 'end'],
    ['/v1/availability?start=yesterday&end=2026-12-01T00:00:00Z', 'start'],
    ['/v1/availability?start=2026-12-02T00:00:00Z&end=2026-12-01T00:00:00Z', 'end'],
    ['/v1/availability?start=2026-12-01T00:00:00Z&end=2027-12-03T00:00:00Z', 'end'],
    ['/v1/availability?start=2026-12-01T00:00:00Z&end=2026-12-02T00:00:00Z&granularity=minute', 'granularity'],
    ['/v1/availability?start=2026-12-01T00:00:00Z&end=2026-12-02T00:00:00Z&site=MARSEILLE', 'site'],
    ['/v1/reservations?limit=0', 'limit'],
    ['/v1/reservations?limit=abc', 'limit'],
    ['/v1/reservations?limit=100000', 'limit'],
    ['/v1/reservations?limit=1.5', 'limit'],
    ['/v1/reservations?cursor=%7B%7D', 'cursor'],
    ['/v1/events?after=abc', 'after'],
    ['/v1/events?after=-1', 'after'],
    ['/v1/events?limit=501', 'limit'],
    ['/v1/sites/Not_A_Slug', 'id'],
  ])('answers 400 for %s naming %s', async (path, field) => {
    expectProblem(await t.call('GET', path), 400, 'validation-failed', field);
  });

  it('answers an empty page, not an error, for events after the largest sequence', async () => {
    for (const after of ['999999999999', '999999999998', '0']) {
      const res = await t.call('GET', `/v1/events?after=${after}`);
      expect(res.status, after).toBe(200);
      expect(after === '0' || res.body.data.length === 0).toBe(true);
    }
  });

  it('answers 404 problem+json for unknown routes and ids', async () => {
    expectProblem(await t.call('GET', '/v1/nothing-here'), 404, 'not-found');
    expectProblem(await t.call('DELETE', '/v1/quotes'), 404, 'not-found');
    expectProblem(await t.call('GET', '/v1/sites/atlantis'), 404, 'not-found');
    expectProblem(await t.call('GET', '/v1/reservations/res_01jx0000000000000000000000'), 404, 'not-found');
  });
});

describe('nothing half-written', () => {
  it('leaves no quote, reservation, event or capacity behind any refused request', async () => {
    expect(await tally()).toEqual(before);
  });
});
