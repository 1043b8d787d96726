/**
 * Stripe webhooks at POST /v1/stripe/webhook, signed by the SDK's own generateTestHeaderString:
 * signatures (good, wrong secret, altered body, missing, stale), each event id handled once (even
 * concurrently), out-of-order events never moving an invoice backwards, our invoice.* events, and
 * credit notes for cancellations (unpaid invoice: credited; paid: refunded to the payment).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signStripeEvent } from '../support/stripe-stand-in.ts';
import { book, createBillingTest, eventsOfType, invoice, postStripeEvent, stripeEvent, stripeInvoicesFor, WEBHOOK_SECRET, type BillingTest } from './billing.fixtures.ts';

let b: BillingTest;
beforeAll(async () => {
  b = await createBillingTest({ stripe: { maxNetworkRetries: 0 } });
});
afterAll(() => b.close());

/** A confirmed booking of the French demo org whose invoice is open in Stripe; returns our invoice and Stripe's. */
async function openInvoice(options: { startIn?: number; key?: string } = {}) {
  const { t, standIn } = b;
  const r = await book(t, options.key ?? t.keys.customer, { startIn: options.startIn ?? 24 });
  const inv = await invoice(t, r.invoiceId!);
  expect(inv.status).toBe('open');
  const [stripe] = stripeInvoicesFor(standIn!, inv.id);
  return { r, inv, stripe: stripe as unknown as Record<string, unknown> & { id: string } };
}

const invoiceEventsFor = async (type: string, invoiceId: string, key = b.t.keys.customer) =>
  (await eventsOfType(b.t, key, type)).filter((e) => (e.data.id ?? e.data.invoiceId) === invoiceId);

describe('signatures', () => {
  it('a signed event is accepted and applied', async () => {
    const { t, standIn } = b;
    const { inv, stripe } = await openInvoice();
    const paid = standIn!.markPaid(stripe.id);
    const res = await postStripeEvent(t, stripeEvent(t, 'invoice.paid', paid));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: true, type: 'invoice.paid', outcome: 'processed', invoiceId: inv.id });
    expect(await invoice(t, inv.id)).toMatchObject({ status: 'paid', paidAt: t.clock().toISOString() });
    const events = await invoiceEventsFor('invoice.paid', inv.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ status: 'paid', total: inv.total });
  });

  it('a wrong secret, an altered body, a missing header or a stale timestamp answer 400 without the library’s reason, and change nothing', async () => {
    const { t, standIn } = b;
    const { inv, stripe } = await openInvoice();
    const paid = standIn!.markPaid(stripe.id);
    const good = stripeEvent(t, 'invoice.paid', paid);
    const attempts = [
      postStripeEvent(t, stripeEvent(t, 'invoice.paid', paid, { id: good.id, secret: 'whsec_someone_else' })),
      postStripeEvent(t, { body: good.body.replace('"invoice.paid"', '"invoice.voided"'), header: good.header }),
      t.call('POST', '/v1/stripe/webhook', { key: null, rawBody: good.body }),
      postStripeEvent(t, { body: good.body, header: 'garbage' }),
      postStripeEvent(t, stripeEvent(t, 'invoice.paid', paid, { id: good.id, timestamp: Math.floor(t.clock().getTime() / 1000) - 301 })),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.errors).toEqual([{ path: 'stripe-signature', message: 'invalid or expired signature' }]);
      expect(res.text).not.toMatch(/No signatures found|Unable to extract|Timestamp outside|tolerance zone|expected signature/i);
    }
    expect((await invoice(t, inv.id)).status).toBe('open');
    expect(await invoiceEventsFor('invoice.paid', inv.id)).toHaveLength(0);
    // The genuine delivery, 299 s old, still goes through: the refused copies did not claim its id.
    const late = stripeEvent(t, 'invoice.paid', paid, { id: good.id, timestamp: Math.floor(t.clock().getTime() / 1000) - 299 });
    expect((await postStripeEvent(t, late)).body.outcome).toBe('processed');
    expect((await invoice(t, inv.id)).status).toBe('paid');
  });

  it('a correctly signed body that is not an event answers 400', async () => {
    const { t } = b;
    const res = await postStripeEvent(t, signStripeEvent([], WEBHOOK_SECRET, { timestamp: Math.floor(t.clock().getTime() / 1000) }));
    expect(res.status).toBe(400);
  });
});

describe('each event once, never backwards', () => {
  it('a repeated event id is a duplicate, even when deliveries race', async () => {
    const { t, standIn } = b;
    const { inv, stripe } = await openInvoice();
    const event = stripeEvent(t, 'invoice.paid', standIn!.markPaid(stripe.id));
    const results = await Promise.all(Array.from({ length: 6 }, () => postStripeEvent(t, event)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(results.filter((r) => r.body.outcome === 'processed')).toHaveLength(1);
    expect(results.filter((r) => r.body.outcome === 'duplicate')).toHaveLength(5);
    expect((await postStripeEvent(t, event)).body.outcome).toBe('duplicate');
    expect(await invoiceEventsFor('invoice.paid', inv.id)).toHaveLength(1);
  });

  it('finalized after paid is ignored: a paid invoice never becomes open again', async () => {
    const { t, standIn } = b;
    const { inv, stripe } = await openInvoice();
    expect(await invoiceEventsFor('invoice.finalized', inv.id)).toHaveLength(1);
    const paid = standIn!.markPaid(stripe.id);
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.paid', paid))).body.outcome).toBe('processed');
    for (const type of ['invoice.finalized', 'invoice.payment_failed', 'invoice.marked_uncollectible', 'invoice.voided']) {
      const res = await postStripeEvent(t, stripeEvent(t, type, { ...stripe, status: type === 'invoice.finalized' ? 'open' : 'void' }));
      expect(res.body, type).toMatchObject({ outcome: 'ignored', invoiceId: inv.id });
    }
    expect(await invoice(t, inv.id)).toMatchObject({ status: 'paid' });
    expect(await invoiceEventsFor('invoice.finalized', inv.id)).toHaveLength(1);
    expect(await invoiceEventsFor('invoice.payment_failed', inv.id)).toHaveLength(0);
  });

  it('payment failures are announced while open; uncollectible can still be paid; void is final', async () => {
    const { t } = b;
    const { inv, stripe } = await openInvoice();
    const failed = await postStripeEvent(t, stripeEvent(t, 'invoice.payment_failed', { ...stripe, attempt_count: 2 }));
    expect(failed.body.outcome).toBe('processed');
    const [announced] = await invoiceEventsFor('invoice.payment_failed', inv.id);
    expect(announced!.data).toMatchObject({ status: 'open', attemptCount: 2 });
    expect(await invoice(t, inv.id)).toMatchObject({ status: 'open' });
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.marked_uncollectible', { ...stripe, status: 'uncollectible' }))).body.outcome).toBe('processed');
    const receivables = await t.call('GET', '/v1/billing/receivables', { key: t.keys.finance });
    expect(receivables.body.invoices.map((i: { invoiceId: string }) => i.invoiceId)).not.toContain(inv.id);
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.paid', b.standIn!.markPaid(stripe.id)))).body.outcome).toBe('processed');
    expect((await invoice(t, inv.id)).status).toBe('paid');

    const other = await openInvoice();
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.voided', { ...other.stripe, status: 'void' }))).body.outcome).toBe('processed');
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.paid', { ...other.stripe, status: 'paid' }))).body.outcome).toBe('ignored');
    expect(await invoice(t, other.inv.id)).toMatchObject({ status: 'void' });
    expect(await invoiceEventsFor('invoice.voided', other.inv.id)).toHaveLength(1);
  });

  it('invoice.paid pays only in full, in our currency, with the Stripe id of this invoice (issue 15, finding 4)', async () => {
    const { t, standIn } = b;
    const { inv, stripe } = await openInvoice();
    const paid = standIn!.markPaid(stripe.id) as Record<string, unknown>;
    expect(paid.amount_paid).toBe(inv.total.amount);
    for (const forged of [
      { ...paid, amount_paid: 1 },
      { ...paid, amount_paid: inv.total.amount - 1 },
      { ...paid, currency: 'usd' },
      { ...paid, amount_paid: undefined },
    ]) {
      const res = await postStripeEvent(t, stripeEvent(t, 'invoice.paid', forged));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ outcome: 'ignored', invoiceId: inv.id });
    }
    // Another invoice's Stripe id with this invoice named in the metadata.
    const other = await openInvoice();
    const crossed = { ...(standIn!.markPaid(other.stripe.id) as Record<string, unknown>), metadata: { invoiceId: inv.id } };
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.paid', crossed))).body.outcome).toBe('ignored');
    expect((await invoice(t, inv.id)).status).toBe('open');
    expect(await invoiceEventsFor('invoice.paid', inv.id)).toHaveLength(0);
    // The genuine event still pays it.
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.paid', paid))).body).toMatchObject({ outcome: 'processed', invoiceId: inv.id });
    expect((await invoice(t, inv.id)).status).toBe('paid');
  });

  it('events about invoices that are not ours, or of other types, are acknowledged and ignored', async () => {
    const { t } = b;
    const foreign = await postStripeEvent(t, stripeEvent(t, 'invoice.paid', { id: 'in_elsewhere', object: 'invoice', metadata: {} }));
    expect(foreign.body).toMatchObject({ outcome: 'ignored' });
    const other = await postStripeEvent(t, stripeEvent(t, 'customer.updated', { id: 'cus_x', object: 'customer' }));
    expect(other.body).toMatchObject({ outcome: 'ignored', type: 'customer.updated' });
  });

  it('a finalized event completes a sync whose answer from Stripe was lost', async () => {
    const { t, standIn, service } = b;
    standIn!.failNext({ count: 1, mode: 'commit_then_fail', match: (r) => r.method === 'POST' && /\/finalize$/.test(r.path) });
    const r = await book(t, t.keys.customer);
    const pending = await invoice(t, r.invoiceId!);
    expect(pending).toMatchObject({ status: 'draft', stripeSync: 'pending', stripeInvoiceId: null });
    const [stripe] = stripeInvoicesFor(standIn!, pending.id);
    expect(stripe!.status).toBe('open');
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.finalized', stripe!))).body.outcome).toBe('processed');
    expect(await invoice(t, pending.id)).toMatchObject({ status: 'open', stripeSync: 'synced', stripeInvoiceId: stripe!.id });
    const posts = standIn!.requests.filter((q) => q.method === 'POST').length;
    expect(await service.syncPending()).toEqual({ synced: 0, failed: 0 });
    expect(standIn!.requests.filter((q) => q.method === 'POST').length).toBe(posts);
  });
});

describe('credit notes for cancellations', () => {
  it('an unpaid invoice is credited in full (7 days’ notice): nothing refunded, nothing left to pay', async () => {
    const { t, standIn } = b;
    const { r, inv, stripe } = await openInvoice({ startIn: 10 * 24 });
    const cancelled = await t.call('POST', `/v1/reservations/${r.id}/cancel`);
    expect(cancelled.body.refund).toMatchObject({ percent: 100, amount: { amount: inv.subtotal.amount } });
    const after = await invoice(t, inv.id);
    expect(after.creditNotes).toHaveLength(1);
    const [note] = after.creditNotes;
    expect(note).toMatchObject({ subtotal: inv.subtotal, tax: inv.tax, total: inv.total, status: 'issued', stripeSync: 'synced', stripeRefundId: null });
    expect(after.creditedTotal).toEqual(inv.total);
    const stripeNotes = standIn!.creditNotes().filter((n) => n.invoice === stripe.id);
    expect(stripeNotes).toHaveLength(1);
    expect(stripeNotes[0]).toMatchObject({ id: note.stripeCreditNoteId, amount: inv.total.amount, pre_payment_amount: inv.total.amount, refunds: [] });
    const receivables = await t.call('GET', '/v1/billing/receivables', { key: t.keys.finance });
    expect(receivables.body.invoices.map((i: { invoiceId: string }) => i.invoiceId)).not.toContain(inv.id);
    expect(await eventsOfType(t, t.keys.customer, 'credit_note.created')).toContainEqual(expect.objectContaining({ data: expect.objectContaining({ id: note.id }) }));
  });

  it('a paid invoice is refunded to the payment (50 % with 4 days’ notice), VAT included', async () => {
    const { t, standIn } = b;
    const { r, inv, stripe } = await openInvoice({ startIn: 4 * 24 });
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.paid', standIn!.markPaid(stripe.id)))).body.outcome).toBe('processed');
    const cancelled = await t.call('POST', `/v1/reservations/${r.id}/cancel`);
    expect(cancelled.body.refund.percent).toBe(50);
    // 4298 × 50 % = 2149; VAT 2149 × 20 % = 429.8 → 430; 2579 back to the card.
    expect(cancelled.body.refund.amount.amount).toBe(2149);
    const after = await invoice(t, inv.id);
    const [note] = after.creditNotes;
    expect(note).toMatchObject({ subtotal: { amount: 2149 }, tax: { amount: 430 }, total: { amount: 2579 }, status: 'issued' });
    const refunds = standIn!.refunds();
    const refund = refunds.find((x) => x.id === note.stripeRefundId);
    expect(refund).toMatchObject({ amount: 2579 });
    expect(after.status).toBe('paid');
    // Stripe's own credit_note.created for it changes nothing more.
    const stripeNote = standIn!.creditNotes().find((n) => n.id === note.stripeCreditNoteId)!;
    expect((await postStripeEvent(t, stripeEvent(t, 'credit_note.created', stripeNote))).body).toMatchObject({ outcome: 'ignored', creditNoteId: note.id });
    expect((await invoice(t, inv.id)).creditNotes).toHaveLength(1);
  });

  it('less than 48 hours’ notice: no refund, no credit note', async () => {
    const { t } = b;
    const { r, inv } = await openInvoice({ startIn: 30 });
    const cancelled = await t.call('POST', `/v1/reservations/${r.id}/cancel`);
    expect(cancelled.body.refund.percent).toBe(0);
    expect((await invoice(t, inv.id)).creditNotes).toHaveLength(0);
  });

  it('a credit note issued by hand in Stripe is recorded, and the reconciliation shows it does not follow the policy', async () => {
    const { t } = b;
    const before = await t.call('GET', '/v1/billing/reconciliation?period=2026-11', { key: t.keys.finance });
    expect(before.body.balanced).toBe(true);
    const { inv, stripe } = await openInvoice();
    const manual = { id: 'cn_by_hand_1', object: 'credit_note', invoice: stripe.id, amount: 1200, total: 1200, subtotal: 1000, memo: 'Goodwill', metadata: {}, refunds: [] };
    const res = await postStripeEvent(t, stripeEvent(t, 'credit_note.created', manual));
    expect(res.body).toMatchObject({ outcome: 'processed', creditNoteId: 'cn_stripe_cn_by_hand_1' });
    const after = await invoice(t, inv.id);
    expect(after.creditNotes).toEqual([expect.objectContaining({ id: 'cn_stripe_cn_by_hand_1', subtotal: { amount: 1000, currency: 'EUR' }, tax: { amount: 200, currency: 'EUR' }, reason: 'Goodwill' })]);
    expect(after.creditedTotal.amount).toBe(1200);
    const rec = await t.call('GET', '/v1/billing/reconciliation?period=2026-11', { key: t.keys.finance });
    expect(rec.body).toMatchObject({ balanced: false, checks: { invoicesMatchPricedReservationsAndUsage: true, creditNotesMatchPolicyRefunds: false } });
    expect(rec.body.creditNotes.subtotal.amount - rec.body.refundsByPolicy.amount).toBe(1000);
  });
});
