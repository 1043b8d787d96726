/**
 * Resale money, end to end as the system wires it with Stripe (the stand-in): a seller's hours are
 * bought by two other orgs; the scheduled tick credits each fill's earnings (buyers' price − fee, to
 * the cent) on the seller's own invoice as a credit note that reaches Stripe; a second pass, or two
 * passes racing, credit nothing twice; reconciliation balances with resale.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeGateway } from '../../shared/billing/stripe-gateway.ts';
import { parseConfig } from '../../shared/config.ts';
import { createSystem, type System } from '../../shared/compose/system.ts';
import { seedDemo, type DemoKeys } from '../../shared/store/seed.ts';
import { manualClock } from '../support/clock.ts';
import { createTestDb } from '../support/db.ts';
import { addCustomerOrgs } from '../support/invariants.ts';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe-stand-in.ts';

let db: Awaited<ReturnType<typeof createTestDb>>;
let standIn: StripeStandIn;
let keys: DemoKeys;
let system: System;
let buyers: { orgId: string; key: string }[];
const clock = manualClock('2026-11-24T10:00:00Z');
const POOL = { site: 'marseille', gpuType: 'b200-sxm-192gb' };
const at = (hoursFromNow: number) => new Date(Date.parse('2026-11-24T10:00:00Z') + hoursFromNow * 3_600_000).toISOString();

beforeAll(async () => {
  db = await createTestDb('resale-payouts');
  standIn = await startStripeStandIn();
  keys = await seedDemo(db, clock());
  buyers = await addCustomerOrgs(db, 2, clock());
  const gateway = createStripeGateway({ secretKey: 'sk_test_resale', apiUrl: standIn.url, maxNetworkRetries: 0, timeoutMs: 2000, now: clock });
  system = createSystem({ config: parseConfig({ LOG_LEVEL: 'SILENT', STRIPE_SECRET_KEY: 'sk_test_resale', RATE_LIMIT_SCALE: '1000' }), db, clock, billingGateway: gateway });
});
afterAll(async () => {
  await standIn.close();
  await db.drop();
});

async function call(method: string, path: string, key: string, body?: unknown) {
  const res = await system.app.request(path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

async function book(key: string, gpus: number, from: number, hours: number) {
  const q = await call('POST', '/v1/quotes', key, { ...POOL, gpus, start: at(from), end: at(from + hours) });
  expect(q.status, JSON.stringify(q.body)).toBe(201);
  const held = await call('POST', '/v1/reservations', key, { quoteId: q.body.id });
  expect(held.status, JSON.stringify(held.body)).toBe(201);
  const confirmed = await call('POST', `/v1/reservations/${held.body.id}/confirm`, key);
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
  return confirmed.body as { id: string; invoiceId: string; price: { amount: number }; gpus: number; start: string; end: string };
}

describe('resale payouts', () => {
  it('credits each fill’s earnings on the seller’s invoice and in Stripe, once, and reconciliation balances', async () => {
    const S = 24 * 10;
    const seller = await book(keys.customer, 64, S, 48);
    await book(keys.customer2, 64, S, 48); // the pool (128 GPUs) is full in those hours: buyers can only take listed hours
    const listing = await call('POST', `/v1/reservations/${seller.id}/listings`, keys.customer, { start: at(S + 12), end: at(S + 36), gpus: 32 });
    expect(listing.status, JSON.stringify(listing.body)).toBe(201);

    const b1 = await book(buyers[0]!.key, 16, S + 12, 12);
    const b2 = await book(buyers[1]!.key, 8, S + 20, 10);
    const sold = await call('GET', `/v1/listings/${listing.body.id}`, keys.customer);
    expect(sold.body.soldGpuHours).toBe(16 * 12 + 8 * 10);
    // gross = the buyer's whole price (every GPU-hour came from the listing); fee 10 % half up.
    const split = (total: number) => {
      const fee = Math.floor((total * 1000 + 5000) / 10000);
      return { gross: total, fee, earnings: total - fee };
    };
    const expected = [split(b1.price.amount), split(b2.price.amount)];
    const earnings = expected[0]!.earnings + expected[1]!.earnings;

    const before = await call('GET', `/v1/invoices/${seller.invoiceId}`, keys.customer);
    expect(before.status).toBe(200);
    expect(before.body.creditNotes ?? []).toHaveLength(0);

    // Two passes racing (two sweepers) and a third after them: two fills paid out, once each.
    const [p1, p2] = await Promise.all([system.billing.payPendingResaleEarnings(), system.billing.payPendingResaleEarnings()]);
    expect(p1.paid + p2.paid).toBeGreaterThanOrEqual(2);
    expect(p1.waiting + p2.waiting).toBe(0);
    const tick = await system.runScheduledTick();
    expect(tick.resalePayouts).toEqual({ paid: 0, waiting: 0 });

    const after = await call('GET', `/v1/invoices/${seller.invoiceId}`, keys.customer);
    const notes = (after.body.creditNotes as { subtotal: { amount: number }; tax: { amount: number }; total: { amount: number }; reason: string; reservationId: string }[]) ?? [];
    expect(notes).toHaveLength(2);
    expect(notes.map((n) => n.subtotal.amount).sort((a, b) => a - b)).toEqual(expected.map((e) => e.earnings).sort((a, b) => a - b));
    for (const n of notes) {
      expect(n.reason).toMatch(/^Resale earnings: \d+ GPU-hours of /);
      expect(n.total.amount).toBe(n.subtotal.amount + n.tax.amount);
    }
    expect(after.body.creditedSubtotal?.amount ?? notes.reduce((s, n) => s + n.subtotal.amount, 0)).toBe(earnings);

    // Stripe got each credit note once, on the seller's Stripe invoice, for earnings + VAT.
    const stripeNotes = standIn.creditNotes();
    expect(stripeNotes).toHaveLength(2);
    expect(stripeNotes.map((n) => n.total as number).sort((a, b) => a - b)).toEqual(notes.map((n) => n.total.amount).sort((a, b) => a - b));

    // Each sale's record is paid out with its credit note; reconciliation balances with resale.
    const rec = await call('GET', '/v1/billing/reconciliation?period=2026-11', keys.finance);
    expect(rec.status, JSON.stringify(rec.body)).toBe(200);
    expect(rec.body.resale).toEqual({
      fills: 2,
      gpuHours: 16 * 12 + 8 * 10,
      buyersPrice: { amount: expected[0]!.gross + expected[1]!.gross, currency: 'EUR' },
      sellerEarnings: { amount: earnings, currency: 'EUR' },
      fees: { amount: expected[0]!.fee + expected[1]!.fee, currency: 'EUR' },
      paidOutByCreditNotes: { amount: earnings, currency: 'EUR' },
    });
    expect(rec.body.checks).toEqual({ invoicesMatchPricedReservationsAndUsage: true, creditNotesMatchPolicyRefunds: true, resaleBuyersPriceMatchesEarningsAndFees: true });
    expect(rec.body.difference.amount).toBe(0);
    expect(rec.body.balanced).toBe(true);

    // The seller's events say so, once per note.
    const events = (await call('GET', '/v1/events?limit=200', keys.customer)).body.data as { type: string; data: { invoiceId?: string } }[];
    expect(events.filter((e) => e.type === 'credit_note.created' && e.data.invoiceId === seller.invoiceId)).toHaveLength(2);
  });
});
