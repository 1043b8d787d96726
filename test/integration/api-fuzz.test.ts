/**
 * SPEC invariant 5 by fuzzing: for EVERY operation the OpenAPI document lists, fast-check sends
 * bodies, query strings, path parameters, keys and Idempotency-Keys that are half valid (shaped by
 * the operation's own schema, with real ids) and half hostile (wrong types, huge numbers, nested
 * objects, unicode, prototype-pollution keys, malformed JSON, wrong content types). No answer may be
 * a 5xx, and every 4xx must be application/problem+json whose `status` is the HTTP status.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

type Schema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  format?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
};
type Parameter = { name: string; in: 'path' | 'query' | 'header'; schema: Schema };
type Operation = { method: string; path: string; parameters: Parameter[]; body?: Schema };
type Reply = { status: number; contentType: string | null; body: unknown; text: string };

let t: TestContext;
let operations: Operation[];
let components: Record<string, Schema>;
/** Real values the API knows, so fuzzed requests reach past the lookups. */
const real = { reservationIds: [] as string[], quoteIds: [] as string[], eventIds: [] as string[], windowIds: [] as string[] };

beforeAll(async () => {
  t = await createTestContext();
  const doc = (await t.call('GET', '/openapi.json', { key: null })).body as { paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> } }>>; components: { schemas: Record<string, Schema> } };
  components = doc.components.schemas;
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, parameters: op.parameters ?? [], body: op.requestBody?.content['application/json']?.schema })),
  );
  for (const [offset, gpus] of [
    [48, 8],
    [72, 16],
    [96, 24],
  ] as const) {
    const q = await t.call('POST', '/v1/quotes', { body: { site: 'marseille', gpuType: 'h100-sxm-80gb', gpus, start: hoursFrom(t.clock, offset), end: hoursFrom(t.clock, offset + 6) } });
    real.quoteIds.push(q.body.id);
    const r = await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } });
    real.reservationIds.push(r.body.id);
  }
  await t.call('POST', `/v1/reservations/${real.reservationIds[0]}/confirm`);
  real.reservationIds.push((await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h100-sxm-80gb', gpus: 8 } })).body.id);
  real.quoteIds.push((await t.call('POST', '/v1/quotes', { body: { site: 'valence-rovaltain', gpuType: 'b200-sxm-192gb', gpus: 8, start: hoursFrom(t.clock, 30), end: hoursFrom(t.clock, 31) } })).body.id);
  real.eventIds.push(...(await t.call('GET', '/v1/events')).body.data.map((e: { id: string }) => e.id));
  const w = await t.call('POST', '/v1/pools/marseille-b200/maintenance', { key: t.keys.operator, body: { start: hoursFrom(t.clock, 200), end: hoursFrom(t.clock, 204), gpus: 8, reason: 'fuzz' } });
  real.windowIds.push(w.body.id);
});
afterAll(() => t.close());

const HOSTILE_STRINGS = [
  '',
  ' ',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  '../../etc/passwd',
  "'; DROP TABLE reservations; --",
  '<script>alert(1)</script>',
  '\u0000',
  '\u202Eevil',
  'é漢字🚀',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '1e309',
  '9'.repeat(400),
  '999999999999',
  '1000000000000',
  '0x10',
  'true',
  '%00',
  'a'.repeat(3000),
  'ORG#org_rheinwerk',
  'RES#res_01jx0000000000000000000000',
  'evt_00000000000000000000000000',
  '2026-02-30T00:00:00Z',
  '9999-12-31T23:00:00Z',
  '0000-01-01T00:00:00Z',
  '-271821-04-20T00:00:00Z',
  '2026-11-24T10:00:00+14:00',
  '2026-11-24T10:00:00.123456789Z',
  '2026-11-24',
];
const SITES = ['valence-rovaltain', 'marseille', 'grand-est'];
const GPU_TYPES = ['h100-sxm-80gb', 'h200-sxm-141gb', 'b200-sxm-192gb'];
const POOLS = ['marseille-b200', 'marseille-h100', 'valence-rovaltain-h200', 'grand-est-b200'];

const hostileString = fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }));
const hostileNumber = fc.oneof(
  fc.constantFrom(0, -0, -8, 8, 7, 9, 16, 64, 1024, 100_000, 100_001, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, 0.5, 8.000001, Number.MIN_VALUE),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
/** Timestamps around the clock: valid whole hours (past, now, soon, far), near-misses and nonsense. */
const timestamp = fc.oneof(
  fc.integer({ min: -48, max: 24 * 400 }).map((h) => hoursFrom(t.clock, h)),
  fc.constantFrom(24 * 365 * 50, 24 * 365 * 300, -24 * 365 * 60).map((h) => hoursFrom(t.clock, h)),
  fc.integer({ min: 0, max: 24 * 30 }).map((h) => new Date(Date.parse(hoursFrom(t.clock, h)) + 90_000).toISOString()),
  hostileString,
);
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  hostileString,
  hostileNumber,
  fc.constant(null),
  fc.constant({ __proto__: { polluted: true } }),
  fc.constant(JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}')),
  fc.constant(Array.from({ length: 2000 }, (_, i) => i)),
  fc.constant(JSON.parse('['.repeat(500) + ']'.repeat(500))),
);

const deref = (s: Schema): Schema => (s.$ref ? deref(components[s.$ref.split('/').at(-1)!]!) : s);

/** A value for a field: mostly what its schema (and its name) suggests, sometimes anything at all. */
function valueFor(name: string, schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  const s = deref(schema);
  const known: fc.Arbitrary<unknown>[] = [];
  if (s.enum) known.push(fc.constantFrom(...s.enum));
  if (name === 'site' || name === 'siteId') known.push(fc.constantFrom(...SITES));
  if (name === 'gpuType') known.push(fc.constantFrom(...GPU_TYPES));
  if (name === 'quoteId') known.push(fc.constantFrom(...real.quoteIds));
  if (name === 'orgId') known.push(fc.constantFrom('org_lumiere', 'org_rheinwerk', 'org_nope'));
  if (name === 'gpus') known.push(fc.constantFrom(8, 16, 24, 64, 128, 512, 1024));
  if (name === 'period') known.push(fc.constantFrom('2026-11', '2026-13', '1999-01'));
  if (s.format === 'date-time' || ['start', 'end', 'from', 'to'].includes(name)) known.push(timestamp);
  const type = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  if (type === 'integer' || type === 'number') known.push(hostileNumber);
  if (type === 'boolean') known.push(fc.boolean());
  if (type === 'string' && known.length === 0) known.push(fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), hostileString));
  if (type === 'object' && depth < 3) known.push(objectFor(s, depth + 1));
  if (type === 'array' && s.items && depth < 3) known.push(fc.array(valueFor(name, s.items, depth + 1), { maxLength: 5 }));
  for (const alt of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) if (depth < 3) known.push(valueFor(name, alt, depth + 1));
  return known.length === 0 ? anyJson : fc.oneof({ arbitrary: fc.oneof(...known), weight: 4 }, { arbitrary: anyJson, weight: 1 });
}

/** An object shaped by the schema: some fields dropped, some hostile extra keys added. */
function objectFor(schema: Schema, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const s = deref(schema);
  const fields = Object.entries(s.properties ?? {});
  const model = Object.fromEntries(fields.map(([k, v]) => [k, valueFor(k, v, depth)]));
  const shaped = fc.oneof({ arbitrary: fc.record(model), weight: 3 }, { arbitrary: fc.record(model, { requiredKeys: [] }), weight: 1 });
  const extra = fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '$where', 'id', 'orgId', 'status'), fc.string({ maxLength: 10 })), anyJson, { maxKeys: 2 });
  return fc.oneof({ arbitrary: shaped, weight: 4 }, { arbitrary: fc.tuple(shaped, extra).map(([a, b]) => Object.assign(Object.create(null), a, b) as Record<string, unknown>), weight: 1 });
}

const pathValue = (op: Operation, name: string): fc.Arbitrary<string> => {
  const known =
    name === 'windowId'
      ? real.windowIds
      : op.path.startsWith('/v1/reservations')
        ? real.reservationIds
        : op.path.startsWith('/v1/pools')
          ? POOLS
          : op.path.startsWith('/v1/sites')
            ? SITES
            : ['key_nope'];
  return fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 4 }, { arbitrary: hostileString.filter((x) => x.length > 0), weight: 1 });
};

/** `fresh` sends a key never used before; `shared` one of two keys every request reuses. */
type IdempotencyChoice = { kind: 'none' | 'fresh' | 'shared'; value: string };
type Request = { key: string | null; path: string; query: [string, string][]; body: { raw: string; type: string } | null; idempotency: IdempotencyChoice };

function requestFor(op: Operation): fc.Arbitrary<Request> {
  const params = (where: Parameter['in']) => op.parameters.filter((p) => p.in === where);
  const pathArb = fc
    .tuple(...params('path').map((p) => pathValue(op, p.name).map((v) => [p.name, v] as const)))
    .map((pairs) => pairs.reduce((path, [name, v]) => path.replace(`{${name}}`, encodeURIComponent(v)), op.path));
  const queryPair = fc.oneof(
    ...params('query').map((p) => fc.tuple(fc.constant(p.name), valueFor(p.name, p.schema).map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '')))),
    fc.tuple(fc.constantFrom('after', 'limit', 'cursor', 'granularity', 'x', '__proto__'), hostileString),
  );
  const query = fc.array(queryPair, { maxLength: params('query').length + 2 });
  const bodyArb: fc.Arbitrary<Request['body']> = op.body
    ? fc.oneof(
        { arbitrary: objectFor(op.body).map((v) => ({ raw: JSON.stringify(v), type: 'application/json' })), weight: 6 },
        { arbitrary: anyJson.map((v) => ({ raw: JSON.stringify(v) ?? '', type: 'application/json' })), weight: 2 },
        { arbitrary: fc.string({ maxLength: 60 }).map((raw) => ({ raw, type: 'application/json' })), weight: 1 },
        { arbitrary: fc.record({ raw: fc.string({ maxLength: 30 }), type: fc.constantFrom('text/plain', 'application/json; charset=latin1', 'application/xml', 'application/x-www-form-urlencoded') }), weight: 1 },
      )
    : op.method === 'GET' || op.method === 'HEAD'
      ? fc.constant(null)
      : fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: anyJson.map((v) => ({ raw: JSON.stringify(v) ?? '', type: 'application/json' })), weight: 1 });
  // Mostly the role the route is for, so requests get past 403 and into the handlers.
  const intended: keyof typeof t.keys = /^\/v1\/(orgs|api-keys|pools\/\{id\}\/maintenance)/.test(op.path) ? 'operator' : 'customer';
  const key = fc
    .oneof({ arbitrary: fc.constant<keyof typeof t.keys | null>(intended), weight: 6 }, fc.constantFrom<keyof typeof t.keys | null>('customer2', 'finance', 'operator', 'meter', null))
    .map((k) => (k ? t.keys[k] : null));
  const idempotency: fc.Arbitrary<IdempotencyChoice> = fc.oneof(
    { arbitrary: fc.constant({ kind: 'none' as const, value: '' }), weight: 4 },
    { arbitrary: fc.constant({ kind: 'fresh' as const, value: '' }), weight: 2 },
    { arbitrary: fc.constantFrom('fuzz-1', 'fuzz-2').map((value) => ({ kind: 'shared' as const, value })), weight: 1 },
    { arbitrary: fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 }).map((value) => ({ kind: 'shared' as const, value })), weight: 1 },
  );
  return fc.record({ key, path: pathArb, query, body: bodyArb, idempotency });
}

let freshKeys = 0;
async function send(op: Operation, r: Request): Promise<Reply> {
  const qs = r.query.length > 0 ? `?${new URLSearchParams(r.query).toString()}` : '';
  const headers: Record<string, string> = {};
  if (r.key) headers.authorization = `Bearer ${r.key}`;
  if (r.body) headers['content-type'] = r.body.type;
  if (r.idempotency.kind === 'fresh') headers['idempotency-key'] = `fuzz-fresh-${freshKeys++}`;
  if (r.idempotency.kind === 'shared') headers['idempotency-key'] = r.idempotency.value;
  const res = await t.app.request(`${r.path}${qs}`, { method: op.method, headers, ...(r.body ? { body: r.body.raw } : {}) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body, text };
}

describe('fuzzing every route of the OpenAPI document', () => {
  it('never answers 5xx, and every 4xx is problem+json with a matching status', async () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
    const statuses = new Map<number, number>();
    let requests = 0;
    const began = performance.now();
    for (const op of operations) {
      await fc.assert(
        fc.asyncProperty(requestFor(op), async (request) => {
          const reply = await send(op, request);
          requests++;
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          const where = `${op.method} ${request.path} → ${reply.status} ${reply.text.slice(0, 300)}`;
          if (reply.status >= 500) throw new Error(`5xx: ${where}`);
          if (reply.status >= 400) {
            if (reply.contentType !== 'application/problem+json') throw new Error(`not problem+json: ${where}`);
            const problem = reply.body as { status?: unknown; type?: unknown; title?: unknown };
            if (problem.status !== reply.status || typeof problem.type !== 'string' || typeof problem.title !== 'string') throw new Error(`bad problem: ${where}`);
          }
          expect(({} as Record<string, unknown>).polluted, 'Object.prototype polluted').toBeUndefined();
        }),
        { numRuns: 60, endOnFailure: true },
      );
    }
    console.log(
      `[fuzz] operations: ${operations.length}, requests: ${requests}, answers ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}, 5xx: 0, duration: ${Math.round(performance.now() - began)} ms`,
    );
  }, 120_000);
});

describe('what the fuzzer found', () => {
  it('refuses a maintenance window longer than 365 days with 422 naming end (it used to overflow a transaction: 500)', async () => {
    for (const [from, to] of [
      [24, 24 * 365 * 300],
      [-24 * 365 * 60, 24],
      [24, 24 * 367],
    ]) {
      const res = await t.call('POST', '/v1/pools/marseille-h100/maintenance', { key: t.keys.operator, body: { start: hoursFrom(t.clock, from!), end: hoursFrom(t.clock, to!), gpus: 8, reason: 'decades' } });
      expect(res.status).toBe(422);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.errors[0].path).toBe('end');
    }
    expect((await t.call('POST', '/v1/pools/marseille-h100/maintenance', { key: t.keys.operator, body: { start: hoursFrom(t.clock, 24), end: hoursFrom(t.clock, 24 + 365 * 24), gpus: 8, reason: 'a year' } })).status).toBe(201);
  });
});
