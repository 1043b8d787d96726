/**
 * Billing as the whole system wires it (shared/compose/system.ts): the routes and the booking hooks are in
 * place, the scheduled tick finishes Stripe work left pending, the portal reads invoices, and without
 * STRIPE_SECRET_KEY nothing is sent anywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeGateway } from '../../shared/billing/stripe-gateway.ts';
import { parseConfig } from '../../shared/config.ts';
import { seedDemo, type DemoKeys } from '../../shared/store/seed.ts';
import { createSystem, type System } from '../../shared/compose/system.ts';
import { manualClock } from '../support/clock.ts';
import { createTestDb } from '../support/db.ts';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe-stand-in.ts';
import { H100, VALENCE } from './billing.fixtures.ts';

let db: Awaited<ReturnType<typeof createTestDb>>;
let standIn: StripeStandIn;
let keys: DemoKeys;
const clock = manualClock('2026-11-24T10:00:00Z');
beforeAll(async () => {
  db = await createTestDb('billing-system');
  standIn = await startStripeStandIn();
  keys = await seedDemo(db, clock());
});
afterAll(async () => {
  await standIn.close();
  await db.drop();
});

async function call(system: System, method: string, path: string, key: string, body?: unknown) {
  const res = await system.app.request(path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

async function confirmBooking(system: System) {
  const quote = await call(system, 'POST', '/v1/quotes', keys.customer, { site: VALENCE, gpuType: H100, gpus: 8, start: '2026-11-26T00:00:00Z', end: '2026-11-26T04:00:00Z' });
  expect(quote.status).toBe(201);
  const held = await call(system, 'POST', '/v1/reservations', keys.customer, { quoteId: quote.body.id });
  const confirmed = await call(system, 'POST', `/v1/reservations/${held.body.id}/confirm`, keys.customer);
  expect(confirmed.status).toBe(200);
  return confirmed.body as { id: string; invoiceId: string; price: { amount: number } };
}

describe('the system with Stripe', () => {
  it('invoices a confirmation; what Stripe refused is finished by the scheduled tick', async () => {
    const gateway = createStripeGateway({ secretKey: 'sk_test_system', apiUrl: standIn.url, maxNetworkRetries: 0, timeoutMs: 1000, now: clock });
    const system = createSystem({ config: parseConfig({ LOG_LEVEL: 'SILENT', STRIPE_SECRET_KEY: 'sk_test_system', RATE_LIMIT_SCALE: '1000' }), db, clock, billingGateway: gateway });
    expect(system.billing.stripeConfigured).toBe(true);
    standIn.failNext({ count: 1, status: 500, match: (r) => r.method === 'POST' && r.path === '/v1/invoices' });
    const r = await confirmBooking(system);
    const pending = await call(system, 'GET', `/v1/invoices/${r.invoiceId}`, keys.customer);
    expect(pending.body).toMatchObject({ status: 'draft', stripeSync: 'pending', subtotal: r.price });
    const tick = await system.runScheduledTick();
    expect(tick.billing).toEqual({ synced: 1, failed: 0 });
    const open = await call(system, 'GET', `/v1/invoices/${r.invoiceId}`, keys.customer);
    expect(open.body).toMatchObject({ status: 'open', stripeSync: 'synced' });
    expect(standIn.invoices()).toHaveLength(1);
    const portal = await system.portalInvoices.list('org_lumiere', {});
    expect(portal.map((i) => i.id)).toContain(r.invoiceId);
    expect((await system.portalInvoices.list(null, { status: 'paid' })).map((i) => i.id)).not.toContain(r.invoiceId);
    const doc = (await (await system.app.request('/openapi.json')).json()) as { paths: Record<string, unknown> };
    for (const path of ['/v1/invoices', '/v1/invoices/{id}', '/v1/invoices/export.csv', '/v1/billing/close', '/v1/billing/reconciliation', '/v1/stripe/webhook']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });
});

describe('the system without Stripe', () => {
  it('keeps invoices here as drafts and refuses Stripe webhooks', async () => {
    const system = createSystem({ config: parseConfig({ LOG_LEVEL: 'SILENT', RATE_LIMIT_SCALE: '1000' }), db, clock });
    expect(system.billing.stripeConfigured).toBe(false);
    const before = standIn.requests.length;
    const r = await confirmBooking(system);
    const inv = await call(system, 'GET', `/v1/invoices/${r.invoiceId}`, keys.customer);
    expect(inv.body).toMatchObject({ status: 'draft', stripeSync: 'not_configured', note: 'Stripe is not configured: this invoice was not sent' });
    expect(standIn.requests.length).toBe(before);
    const hook = await system.app.request('/v1/stripe/webhook', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=ab' } });
    expect(hook.status).toBe(400);
  });
});
