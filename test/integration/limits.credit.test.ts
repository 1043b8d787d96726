/**
 * Issue 15, finding 1 (OWASP API6): a confirmed but unpaid booking is a commitment. Finance sets a
 * per-org credit limit on unpaid invoices (VAT included); a confirmation or extension whose invoice
 * would take the org's unpaid total over it answers `402 …/credit-limit` (the booking stays held, its
 * capacity is not taken for good) until invoices are paid. Through Stripe's stand-in and a signed
 * `invoice.paid`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addOrg, book, createBillingTest, invoice, postStripeEvent, stripeEvent, stripeInvoicesFor, type BillingTest } from './billing.fixtures.ts';

let b: BillingTest;
beforeAll(async () => {
  b = await createBillingTest();
});
afterAll(() => b.close());

const setLimit = (orgId: string, amount: number | null, key = b.t.keys.finance) =>
  b.t.call('PUT', `/v1/orgs/${orgId}/credit-limit`, { key, body: { creditLimit: amount === null ? null : { amount, currency: 'EUR' } } });

describe('credit limit on unpaid commitments (issue 15, finding 1)', () => {
  it('refuses a confirmation over the limit with 402 credit-limit until the open invoice is paid', async () => {
    const { t, standIn } = b;
    const { org, key } = await addOrg(t, { country: 'FR' });
    // No limit: nothing checked.
    const first = await book(t, key, { startIn: 48 });
    const firstInvoice = await invoice(t, first.invoiceId!);
    expect(firstInvoice.status).toBe('open');
    const owed = firstInvoice.total.amount;

    // Finance allows a bit more than one such booking unpaid.
    const set = await setLimit(org.id, owed + 100);
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toMatchObject({ orgId: org.id, creditLimit: { amount: owed + 100, currency: 'EUR' }, unpaid: { amount: owed, currency: 'EUR' } });
    expect((await t.call('GET', `/v1/orgs/${org.id}/credit-limit`, { key: t.keys.finance })).body.unpaid.amount).toBe(owed);
    const limits = (await t.call('GET', '/v1/limits', { key })).body.data as { name: string; limit: number; used: number }[];
    expect(limits.find((l) => l.name === 'credit-limit-cents')).toEqual({ name: 'credit-limit-cents', limit: owed + 100, used: owed, resetsAt: null });

    // A second booking of the same size would owe twice that: refused, and it stays held.
    const second = await book(t, key, { startIn: 72, expectConfirm: 402 });
    expect(second.status).toBe('held');
    const refused = await t.call('POST', `/v1/reservations/${second.id}/confirm`, { key });
    expect(refused.status).toBe(402);
    expect(refused.body.type).toMatch(/\/credit-limit$/);
    expect(refused.body.creditLimit).toEqual({ amount: owed + 100, currency: 'EUR' });
    expect(refused.body.unpaid).toEqual({ amount: owed, currency: 'EUR' });
    expect(refused.body.errors[0].path).toBe('creditLimit');
    expect(refused.body.detail).toContain('pay open invoices first');
    expect((await t.call('GET', '/v1/invoices?limit=50', { key })).body.data).toHaveLength(1);

    // The first invoice is paid in Stripe; its signed invoice.paid lands; now the confirmation goes through.
    const [stripe] = stripeInvoicesFor(standIn!, firstInvoice.id);
    const paid = standIn!.markPaid(stripe!.id);
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.paid', paid))).body.outcome).toBe('processed');
    const confirmed = await t.call('POST', `/v1/reservations/${second.id}/confirm`, { key });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    expect(confirmed.body.status).toBe('confirmed');

    // Finance removes the limit: nothing is checked again.
    expect((await setLimit(org.id, null)).body.creditLimit).toBeNull();
    expect((await book(t, key, { startIn: 96 })).status).toBe('confirmed');
  });

  it('is finance’s to set: customers and operators get 403, an unknown org 404, a negative limit 400', async () => {
    const { t } = b;
    expect((await setLimit('org_lumiere', 1000, t.keys.customer)).status).toBe(403);
    expect((await setLimit('org_lumiere', 1000, t.keys.operator)).status).toBe(403);
    expect((await t.call('GET', '/v1/orgs/org_lumiere/credit-limit', { key: t.keys.customer })).status).toBe(403);
    expect((await setLimit('org_nobody', 1000)).status).toBe(404);
    const negative = await setLimit('org_lumiere', -1);
    expect(negative.status).toBe(400);
    expect(negative.body.errors[0].path).toBe('creditLimit.amount');
  });
});
