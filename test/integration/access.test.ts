/**
 * The access suite (issue 15, "What it must do" 9), GENERATED from the route declarations: every
 * operation the OpenAPI document lists × every role (none, customer admin, member, another org's
 * admin, finance, operator, meter), each with the status its declared access implies. The document's
 * `x-access` is stamped by createApp from each route's own `security` and `requireRole(...)`, so a new
 * route is covered the moment it is registered, and a `/v1` route outside the document fails here.
 *
 * Expected, from the declaration alone:
 * - public operation: no caller gets 401 or 403;
 * - otherwise, no key: 401; a role not declared: 403; a member where org admins are declared: 403;
 * - a member where only the booking's own key (or an admin) may act, on a booking the admin made: 403;
 * - a declared role: neither 401 nor 403; another org's admin on org-owned ids (reservations, invoices,
 *   listings, webhook endpoints and deliveries, API keys): 404, never the resource.
 * Every refusal is problem+json, and nothing answers 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, putApiKey } from '../../shared/store/orgs.ts';
import { createSystemContext, type SystemContext } from '../support/system.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

type Role = 'customer' | 'finance' | 'operator' | 'meter';
type Access = { public: true } | { public: false; roles: Role[]; orgAdmin: boolean; memberOwnBookingsOnly: boolean };
type Operation = { method: string; path: string; access: Access | undefined; hasBody: boolean };
type Caller = 'none' | 'admin' | 'member' | 'otherOrg' | 'finance' | 'operator' | 'meter';
const CALLERS: Caller[] = ['none', 'meter', 'finance', 'operator', 'otherOrg', 'member', 'admin'];
const ROLE_OF: Record<Exclude<Caller, 'none'>, Role> = { admin: 'customer', member: 'customer', otherOrg: 'customer', finance: 'finance', operator: 'operator', meter: 'meter' };

/** Path prefixes whose `{id}` is a resource of one org: another org's caller must get 404. */
const ORG_OWNED = ['/v1/reservations/{id}', '/v1/invoices/{id}', '/v1/listings/{id}', '/v1/webhook-endpoints/{id}', '/v1/api-keys/{id}'];
const isOrgOwned = (path: string) => ORG_OWNED.some((p) => path === p || path.startsWith(`${p}/`));

let s: SystemContext;
let receiver: WebhookReceiver;
let operations: Operation[];
const keys = {} as Record<Exclude<Caller, 'none'>, string>;
/** Concrete values for path parameters: org A's resources and the catalog's. */
const ids: Record<string, string> = {};
/** A body that passes validation where the org-owned route takes one, so another org's 404 is not masked by a 422. */
let validBodies: Record<string, unknown>;
let appRoutes: { method: string; path: string }[];

const hoursFrom = (h: number) => new Date(Math.floor(s.clock().getTime() / 3_600_000) * 3_600_000 + h * 3_600_000).toISOString();

async function call(method: string, path: string, key: string | null, body?: unknown) {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (method !== 'GET') headers['idempotency-key'] = `access-${Math.random().toString(36).slice(2)}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await s.system.app.request(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), text };
}

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  s = await createSystemContext();
  keys.admin = s.keys.customer;
  keys.otherOrg = s.keys.customer2;
  keys.finance = s.keys.finance;
  keys.operator = s.keys.operator;
  keys.meter = s.keys.meter;
  keys.member = generateApiKey('customer');
  ids.memberKey = 'key_access_member';
  await putApiKey(s.system.services.db, keys.member, { keyId: ids.memberKey, role: 'customer', orgId: 'org_lumiere', orgRole: 'member', siteId: null }, s.clock());
  // The key the /v1/api-keys/{id} operations act on (revoking it must not revoke the member's own key mid-run).
  ids.targetKey = 'key_access_target';
  await putApiKey(s.system.services.db, generateApiKey('customer'), { keyId: ids.targetKey, role: 'customer', orgId: 'org_lumiere', orgRole: 'member', siteId: null }, s.clock());

  const json = async (method: string, path: string, key: string, body?: unknown) => {
    const r = await call(method, path, key, body);
    expect(r.status, `${method} ${path}: ${r.text}`).toBeLessThan(300);
    return JSON.parse(r.text);
  };
  // Org A's resources: a confirmed reservation (and its invoice), a listing of part of it, a webhook endpoint and a delivery.
  const quote = await json('POST', '/v1/quotes', keys.admin, { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: hoursFrom(24 * 10), end: hoursFrom(24 * 12) });
  const held = await json('POST', '/v1/reservations', keys.admin, { quoteId: quote.id });
  const confirmed = await json('POST', `/v1/reservations/${held.id}/confirm`, keys.admin);
  ids.reservation = held.id;
  ids.invoice = confirmed.invoiceId;
  ids.listing = (await json('POST', `/v1/reservations/${held.id}/listings`, keys.admin, { start: hoursFrom(24 * 11), end: hoursFrom(24 * 12), gpus: 8 })).id;
  const endpoint = await json('POST', '/v1/webhook-endpoints', keys.admin, { url: receiver.url, events: ['*'] });
  ids.endpoint = endpoint.id;
  await json('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, keys.admin);
  const deliveries = await json('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, keys.admin);
  ids.delivery = deliveries.data[0].id;
  ids.window = (await json('POST', '/v1/pools/marseille-b200/maintenance', keys.operator, { start: hoursFrom(300), end: hoursFrom(304), gpus: 8, reason: 'access suite' })).id;
  validBodies = {
    'POST /v1/reservations/{id}/extend': { end: hoursFrom(24 * 13) },
    'POST /v1/reservations/{id}/listings': { start: hoursFrom(24 * 10 + 2), end: hoursFrom(24 * 10 + 4), gpus: 8 },
    'PATCH /v1/api-keys/{id}': { monthlySpendLimit: null },
    'POST /v1/invoices/{id}/credit-notes': { amount: { amount: 100, currency: 'EUR' }, reason: 'access suite' },
  };

  const doc = JSON.parse((await call('GET', '/openapi.json', null)).text) as {
    paths: Record<string, Record<string, { 'x-access'?: Access; requestBody?: unknown }>>;
  };
  operations = Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, access: op['x-access'], hasBody: op.requestBody !== undefined })))
    // Destructive operations last, so the others meet org A's resources as they were made.
    .sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
  appRoutes = s.system.app.routes.filter((r) => r.method !== 'ALL' && r.path.startsWith('/v1/')).map((r) => ({ method: r.method, path: r.path }));
}, 120_000);
afterAll(async () => {
  await s?.close();
  await receiver?.close();
});

/** The concrete path of an operation: org A's ids, the catalog's ids; an unknown parameter fails loudly. */
function concrete(op: Operation): string {
  return op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value =
      name === 'deliveryId'
        ? ids.delivery
        : name === 'windowId'
          ? ids.window
          : name !== 'id'
            ? undefined
            : op.path.startsWith('/v1/reservations/')
              ? ids.reservation
              : op.path.startsWith('/v1/invoices/')
                ? ids.invoice
                : op.path.startsWith('/v1/listings/')
                  ? ids.listing
                  : op.path.startsWith('/v1/webhook-endpoints/')
                    ? ids.endpoint
                    : op.path.startsWith('/v1/api-keys/')
                      ? ids.targetKey
                      : op.path.startsWith('/v1/sites/')
                        ? 'valence-rovaltain'
                        : op.path.startsWith('/v1/gpu-types/')
                          ? 'h100-sxm-80gb'
                          : op.path.startsWith('/v1/pools/')
                            ? 'marseille-b200'
                            : op.path.startsWith('/v1/orgs/')
                              ? 'org_lumiere'
                              : undefined;
    if (value === undefined) throw new Error(`the access suite has no value for {${name}} of ${op.method} ${op.path}: add one to concrete()`);
    return encodeURIComponent(value);
  });
}

/** What the declaration says this caller gets: an exact status, or "past authorization" (neither 401 nor 403). */
function expected(op: Operation, caller: Caller): number | 'allowed' {
  const access = op.access!;
  if (access.public) return 'allowed';
  if (caller === 'none') return 401;
  const role = ROLE_OF[caller];
  if (!access.roles.includes(role)) return 403;
  if (access.orgAdmin && caller === 'member') return 403;
  if (access.memberOwnBookingsOnly && caller === 'member') return 403;
  if (caller === 'otherOrg' && isOrgOwned(op.path)) return 404;
  return 'allowed';
}

describe('access suite: every route × every role, from the route declarations (issue 15)', () => {
  it('every operation declares its access, and every /v1 route the app serves is in the document', () => {
    expect(operations.length).toBeGreaterThan(60);
    expect(operations.filter((op) => op.access === undefined).map((op) => `${op.method} ${op.path}`)).toEqual([]);
    const documented = new Set(operations.map((op) => `${op.method} ${op.path.replace(/\{(\w+)\}/g, ':$1')}`));
    expect(appRoutes.filter((r) => !documented.has(`${r.method} ${r.path}`)).map((r) => `${r.method} ${r.path}`)).toEqual([]);
    // The declarations are meaningful: the SPEC's roles appear where it puts them.
    const access = (m: string, p: string) => operations.find((op) => op.method === m && op.path === p)?.access;
    expect(access('POST', '/v1/usage')).toEqual({ public: false, roles: ['meter'], orgAdmin: false, memberOwnBookingsOnly: false });
    expect(access('POST', '/v1/webhook-endpoints')).toEqual({ public: false, roles: ['customer'], orgAdmin: true, memberOwnBookingsOnly: false });
    expect(access('GET', '/v1/invoices/export.csv')).toEqual({ public: false, roles: ['finance'], orgAdmin: false, memberOwnBookingsOnly: false });
    expect(access('DELETE', '/v1/listings/{id}')).toEqual({ public: false, roles: ['customer'], orgAdmin: false, memberOwnBookingsOnly: true });
    expect(access('POST', '/v1/stripe/webhook')).toEqual({ public: true });
  });

  it('each caller gets the status the declaration implies, refusals as problem+json, never a 5xx', { timeout: 300_000 }, async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const op of operations) {
      const path = concrete(op);
      const key = `${op.method} ${op.path}`;
      for (const caller of CALLERS) {
        const want = expected(op, caller);
        // Another org's caller must reach the lookup: send a body that validates where the route takes one.
        // So must a member refused by the service (it looks at the booking), not by the middleware.
        const resourceCheck = want === 404 || (want === 403 && caller === 'member' && !op.access!.public && op.access!.memberOwnBookingsOnly && !op.access!.orgAdmin);
        const needsValid = resourceCheck && op.hasBody;
        if (needsValid && !(key in validBodies)) {
          failures.push(`${key}: org-owned with a body, add a valid body to validBodies so the resource check is reached`);
          continue;
        }
        const body = needsValid ? validBodies[key] : op.hasBody ? {} : undefined;
        const res = await call(op.method, path, caller === 'none' ? null : keys[caller], body);
        checked++;
        const ok = want === 'allowed' ? res.status !== 401 && res.status !== 403 && res.status < 500 : res.status === want;
        if (!ok) failures.push(`${key} as ${caller}: ${res.status}, expected ${want} (${res.text.slice(0, 160)})`);
        if (res.status >= 400 && !(res.contentType ?? '').startsWith('application/problem+json') && !op.path.startsWith('/v1/stripe')) {
          failures.push(`${key} as ${caller}: ${res.status} is not problem+json (${res.contentType})`);
        }
        if (caller === 'otherOrg' && want === 404) {
          for (const id of [ids.reservation, ids.invoice, ids.listing, ids.endpoint, ids.delivery]) {
            if (res.text.includes(`"id":"${id}"`)) failures.push(`${key} as otherOrg: answered org A's resource ${id}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(operations.length * CALLERS.length);
  });
});
