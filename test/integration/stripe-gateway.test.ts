/**
 * The Stripe gateway through the real `stripe` SDK against the stand-in: exact totals, VAT cases,
 * idempotency under retries, injected crashes and reruns, credit notes, webhook signatures.
 */
import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eur } from '#domain/money.ts';
import { invoiceTotals, lineTaxes, REVERSE_CHARGE_MENTION } from '#domain/vat.ts';
import { InvalidStripeSignatureError, type CreateInvoiceInput, type CustomerInput } from '#billing/gateway.ts';
import { createStripeGateway, StripeInvoiceMismatchError, stripeIdempotencyKeys as keys, type StripeGatewayConfig } from '#billing/stripe-gateway.ts';
import { signStripeEvent, startStripeStandIn, type StripeStandIn } from '../support/stripe-stand-in.ts';

const WEBHOOK_SECRET = 'whsec_stand_in_secret';
const SECRET_KEY = 'sk_test_stand_in';

let standIn: StripeStandIn;
beforeEach(async () => {
  standIn = await startStripeStandIn();
});
afterEach(() => standIn.close());

/** A gateway as a fresh process would build it: no retries unless asked, short timeouts, quick 429 backoff. */
const gatewayFor = (target: StripeStandIn, overrides: Partial<StripeGatewayConfig> = {}) =>
  createStripeGateway({
    secretKey: SECRET_KEY,
    webhookSecret: WEBHOOK_SECRET,
    apiUrl: target.url,
    maxNetworkRetries: 0,
    timeoutMs: 2_000,
    rateLimitRetryDelayMs: 5,
    ...overrides,
  });
const gateway = (overrides: Partial<StripeGatewayConfig> = {}) => gatewayFor(standIn, overrides);

const frenchCustomer: CustomerInput = { orgId: 'org_fr', name: 'Mistral Compute SAS', country: 'FR', email: 'billing@fr.example', taxExempt: 'none' };
const germanCustomer: CustomerInput = {
  orgId: 'org_de',
  name: 'Rhein KI GmbH',
  country: 'DE',
  vatNumber: 'DE123456789',
  email: 'rechnung@de.example',
  taxExempt: 'reverse',
};

/**
 * Amounts chosen so per-line rounding (what Stripe's tax rates would do) differs from VAT on the
 * subtotal rounded once (our rule): 54 604.8 − 2 730.2 + 3 × 0.4 = 51 875.8 → 51 876, while the lines
 * rounded one by one give 51 875. Each line carries its share (`lineTaxes`): the cent goes to the
 * largest line.
 */
const AMOUNTS = [
  { description: 'H100 SXM 80GB × 16 GPUs × 72 h @ 2.37 €/GPU-h', amount: 273_024, metadata: { kind: 'reservation' } },
  { description: 'Duration discount ≥ 7 days', amount: -13_651 },
  { description: 'Adjustment: late usage 2026-10', amount: 2 },
  { description: 'Adjustment: late usage 2026-10 (B200)', amount: 2 },
  { description: 'Adjustment: late usage 2026-10 (H200)', amount: 2 },
];
const SHARES = lineTaxes(AMOUNTS.map((l) => eur(l.amount)), 2000);
const LINES = AMOUNTS.map((l, i) => ({ ...l, tax: SHARES[i]!.amount }));
const UNTAXED = LINES.map((l) => ({ ...l, tax: 0 }));

const invoiceInput = (customerId: string, overrides: Partial<CreateInvoiceInput> = {}): CreateInvoiceInput => ({
  invoiceId: 'inv_01JD0000000000000000000001',
  customerId,
  currency: 'eur',
  lines: overrides.taxRateBps === 0 ? UNTAXED : LINES,
  taxRateBps: 2000,
  footer: null,
  metadata: { orgId: 'org_fr', reservationId: 'res_42' },
  description: 'Reservation res_42',
  ...overrides,
});

const posts = (target: StripeStandIn = standIn) => target.requests.filter((r) => r.method === 'POST');
const keysSent = (target: StripeStandIn = standIn) => posts(target).map((r) => r.idempotencyKey);
const invoiceStepKeys = (invoiceId: string, lineCount: number, taxed = true) => [
  keys.invoiceCreate(invoiceId),
  ...Array.from({ length: lineCount }, (_, i) => keys.invoiceItem(invoiceId, i)),
  ...(taxed ? [keys.invoiceTaxes(invoiceId)] : []),
  keys.invoiceFinalize(invoiceId),
];

/** One invoice in the stand-in, holding exactly our lines once each. */
function expectExactlyOneInvoiceWith(target: StripeStandIn, lines: { amount: number; description: string }[]) {
  const invoices = target.invoices();
  expect(invoices).toHaveLength(1);
  const [invoice] = invoices as unknown as [Stripe.Invoice];
  expect(target.invoiceItems()).toHaveLength(lines.length);
  expect(invoice.lines.data.map((l) => [l.description, l.amount])).toEqual(lines.map((l) => [l.description, l.amount]));
  return invoice;
}

describe('customers', () => {
  it('creates one customer per org, with country, VAT number and reverse charge, under the key customer-<orgId>', async () => {
    const first = await gateway().ensureCustomer(germanCustomer);
    const again = await gateway().ensureCustomer(germanCustomer);
    expect(again.customerId).toBe(first.customerId);
    expect(first.customerId).toMatch(/^cus_/);
    expect(standIn.customers()).toHaveLength(1);
    expect(standIn.customers()[0]).toMatchObject({
      id: first.customerId,
      name: 'Rhein KI GmbH',
      email: 'rechnung@de.example',
      address: { country: 'DE' },
      tax_exempt: 'reverse',
      tax_ids: [{ type: 'eu_vat', value: 'DE123456789' }],
      metadata: { orgId: 'org_de', vatNumber: 'DE123456789' },
    });
    expect(keysSent()).toEqual(['customer-org_de']);
    expect(standIn.requests.filter((r) => r.method === 'GET').map((r) => r.query)).toEqual([
      { email: 'rechnung@de.example', limit: '100' },
      { email: 'rechnung@de.example', limit: '100' },
    ]);
  });

  it('crash after Stripe created the customer: the rerun finds it; a lost answer is replayed under the same key', async () => {
    standIn.failNext({ count: 1, mode: 'commit_then_fail', match: (r) => r.idempotencyKey === 'customer-org_de' });
    await expect(gateway().ensureCustomer(germanCustomer)).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    const rerun = await gateway().ensureCustomer(germanCustomer);
    expect(standIn.customers().map((c) => c.id)).toEqual([rerun.customerId]);

    standIn.failNext({ count: 1, mode: 'commit_then_fail', match: (r) => r.idempotencyKey === 'customer-org_fr' });
    const retried = await gateway({ maxNetworkRetries: 1 }).ensureCustomer(frenchCustomer);
    expect(standIn.customers().map((c) => c.id)).toEqual([rerun.customerId, retried.customerId]);
    expect(posts().filter((r) => r.idempotencyKey === 'customer-org_fr').map((r) => r.replayed)).toEqual([false, true]);
  });

  it('another org with the same billing email gets its own customer', async () => {
    const first = await gateway().ensureCustomer(frenchCustomer);
    const sibling = await gateway().ensureCustomer({ ...frenchCustomer, orgId: 'org_fr_lab' });
    expect(sibling.customerId).not.toBe(first.customerId);
    expect(standIn.customers()).toHaveLength(2);
  });

  it('sends no tax id for a customer without a VAT number', async () => {
    await gateway().ensureCustomer(frenchCustomer);
    expect(standIn.customers()[0]).toMatchObject({ tax_exempt: 'none', tax_ids: [], address: { country: 'FR' } });
  });
});

describe('invoices', () => {
  it('invoices French VAT 20 % exactly: VAT on the subtotal rounded once, each line sent its share as its tax amount, total = subtotal + tax, as the domain computes it', async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    standIn.requests.length = 0;
    const result = await gateway().createFinalizedInvoice(invoiceInput(customerId));

    // 259 379 × 20 % = 51 875.8 → 51 876 (Stripe's tax rates, rounding each line, would give 51 875).
    const expected = invoiceTotals(LINES.map((l) => eur(l.amount)), 2000);
    expect(expected).toEqual({ subtotal: eur(259_379), tax: eur(51_876), total: eur(311_255) });
    expect(result).toEqual({
      stripeInvoiceId: expect.stringMatching(/^in_/),
      status: 'open',
      hostedInvoiceUrl: expect.stringContaining(result.stripeInvoiceId),
      pdfUrl: expect.stringContaining(result.stripeInvoiceId),
      subtotal: 259_379,
      tax: 51_876,
      total: 311_255,
    });

    const invoice = expectExactlyOneInvoiceWith(standIn, LINES);
    expect(invoice).toMatchObject({
      id: result.stripeInvoiceId,
      customer: customerId,
      currency: 'eur',
      collection_method: 'send_invoice',
      days_until_due: 30,
      auto_advance: true,
      description: 'Reservation res_42',
      metadata: { orgId: 'org_fr', reservationId: 'res_42', invoiceId: 'inv_01JD0000000000000000000001' },
      amount_due: 311_255,
    });
    // 54 604.8 → 54 605, −2 730.2 → −2 730, 0.4 → 0 (three times): 51 875, one cent short, given to the largest line.
    expect(invoice.lines.data.map((line) => line.taxes?.[0]?.amount)).toEqual([54_606, -2_730, 0, 0, 0]);
    expect(invoice.lines.data[0]?.metadata).toEqual({ kind: 'reservation', invoiceId: 'inv_01JD0000000000000000000001', lineIndex: '0' });

    // Stripe keeps the tax amounts' rate as an archived tax rate; no tax rate is set on the invoice.
    const [rate] = standIn.taxRates() as unknown as [Stripe.TaxRate];
    expect(rate).toMatchObject({ percentage: 20, inclusive: false, country: 'FR', tax_type: 'vat', active: false });
    expect(invoice.default_tax_rates).toEqual([]);

    expect(keysSent()).toEqual(invoiceStepKeys('inv_01JD0000000000000000000001', LINES.length));
    const [create, ...rest] = posts();
    expect(create?.body).toMatchObject({ pending_invoice_items_behavior: 'exclude', auto_advance: 'false' });
    expect(create?.body.default_tax_rates).toBeUndefined();
    expect(rest.slice(0, LINES.length).every((r) => r.body.invoice === result.stripeInvoiceId)).toBe(true);
    const taxes = rest.at(-2);
    expect(taxes).toMatchObject({ path: `/v1/invoices/${result.stripeInvoiceId}/update_lines`, idempotencyKey: keys.invoiceTaxes('inv_01JD0000000000000000000001') });
    expect((taxes!.body.lines as { tax_amounts: { amount: string; taxable_amount: string }[] }[]).map((l) => [l.tax_amounts[0]!.amount, l.tax_amounts[0]!.taxable_amount])).toEqual(
      LINES.map((l) => [String(l.tax), String(l.amount)]),
    );
    expect(rest.at(-1)).toMatchObject({ path: `/v1/invoices/${result.stripeInvoiceId}/finalize`, body: { auto_advance: 'true' } });
  });

  it('sends the same tax rate data every time: Stripe reuses one archived rate, also from a freshly started process', async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    const warm = gateway();
    await warm.createFinalizedInvoice(invoiceInput(customerId, { invoiceId: 'inv_a' }));
    await warm.createFinalizedInvoice(invoiceInput(customerId, { invoiceId: 'inv_b' }));
    await gateway().createFinalizedInvoice(invoiceInput(customerId, { invoiceId: 'inv_c' }));
    expect(standIn.taxRates()).toHaveLength(1);
    expect(standIn.requests.some((r) => r.path === '/v1/tax_rates')).toBe(false);
  });

  it('reverse charge: no tax rate, no tax, the legal mention as footer', async () => {
    const { customerId } = await gateway().ensureCustomer(germanCustomer);
    const result = await gateway().createFinalizedInvoice(
      invoiceInput(customerId, { taxRateBps: 0, footer: REVERSE_CHARGE_MENTION, metadata: { orgId: 'org_de' } }),
    );
    expect(result).toMatchObject({ status: 'open', subtotal: 259_379, tax: 0, total: 259_379 });
    const invoice = expectExactlyOneInvoiceWith(standIn, LINES);
    expect(invoice).toMatchObject({ footer: REVERSE_CHARGE_MENTION, customer_tax_exempt: 'reverse', default_tax_rates: [], total_taxes: [] });
    expect(standIn.taxRates()).toHaveLength(0);
    expect(standIn.requests.some((r) => r.path === '/v1/tax_rates')).toBe(false);
  });

  it("never sweeps the customer's other pending invoice items into our invoice", async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    const other = new Stripe(SECRET_KEY, { host: standIn.host, port: standIn.port, protocol: 'http' });
    await other.invoiceItems.create({ customer: customerId, amount: 99_999, currency: 'eur', description: 'someone else’s pending item' });
    const result = await gateway().createFinalizedInvoice(invoiceInput(customerId, { taxRateBps: 0 }));
    expect(result.subtotal).toBe(259_379);
    expect(standIn.invoices()[0]).toMatchObject({ subtotal: 259_379 });
    expect(standIn.invoiceItems().filter((item) => item.invoice === null)).toHaveLength(1);
  });

  it('refuses to reuse an invoice id with other lines: Stripe rejects the key, nothing is billed twice', async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    await gateway().createFinalizedInvoice(invoiceInput(customerId));
    const changed = LINES.map((line, i) => (i === 0 ? { ...line, amount: line.amount + 1 } : line));
    await expect(gateway().createFinalizedInvoice(invoiceInput(customerId, { lines: changed }))).rejects.toBeInstanceOf(
      Stripe.errors.StripeIdempotencyError,
    );
    // Fewer lines under the same id meet the invoice finalized with all of them: it does not add up, so it is voided.
    const mismatch = await gateway()
      .createFinalizedInvoice(invoiceInput(customerId, { lines: LINES.slice(0, 2) }))
      .then(() => null, (error: unknown) => error);
    expect(mismatch).toBeInstanceOf(StripeInvoiceMismatchError);
    const voided = expectExactlyOneInvoiceWith(standIn, LINES);
    expect(mismatch).toMatchObject({ stripeInvoiceId: voided.id, action: 'voided' });
    expect(voided).toMatchObject({ status: 'void', amount_remaining: 0 });
    expect(posts().filter((r) => r.path === `/v1/invoices/${voided.id}/void`).map((r) => r.idempotencyKey)).toEqual([keys.invoiceVoid('inv_01JD0000000000000000000001')]);
  });

  it('checks the totals before finalizing: a draft whose VAT differs from ours is deleted, never finalized or sent (issue 15, finding 4)', async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    // The lines' tax amounts as Stripe ends up with them add up to other VAT than our invoice's (here one cent off on a line).
    const totals = invoiceTotals(LINES.map((l) => eur(l.amount)), 2000);
    const expected = { subtotal: totals.subtotal.amount, tax: totals.tax.amount, total: totals.total.amount };
    const off = LINES.map((l, i) => (i === 1 ? { ...l, tax: l.tax + 1 } : l));
    const error = await gateway()
      .createFinalizedInvoice(invoiceInput(customerId, { lines: off, expected }))
      .then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(StripeInvoiceMismatchError);
    expect(error).toMatchObject({ action: 'draft_deleted' });
    expect((error as Error).message).toMatch(new RegExp(`tax \\d+, expected ${expected.tax}`));
    expect(standIn.invoices()).toHaveLength(0);
    expect(standIn.invoiceItems()).toHaveLength(0);
    expect(standIn.requests.some((r) => /\/finalize$/.test(r.path))).toBe(false);
    expect(standIn.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([`/v1/invoices/${(error as StripeInvoiceMismatchError).stripeInvoiceId}`]);
    // The same invoice with our totals right is finalized as usual.
    const fine = await gateway().createFinalizedInvoice(invoiceInput(customerId, { invoiceId: 'inv_ok', taxRateBps: 0, expected: { subtotal: expected.subtotal, tax: 0, total: expected.subtotal } }));
    expect(fine).toMatchObject({ status: 'open', subtotal: expected.subtotal, tax: 0, total: expected.subtotal });
  });
});

describe('retries: the SDK and the gateway retry with the same idempotency keys and create nothing twice', () => {
  it('retries 500s and a timeout with backoff; every retry carries the same key', async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    const id = 'inv_retry_500';
    standIn.failNext({ count: 2, status: 500, match: (r) => r.idempotencyKey === keys.invoiceCreate(id) });
    standIn.failNext({ count: 1, mode: 'timeout', match: (r) => r.idempotencyKey === keys.invoiceItem(id, 1) });
    const result = await gateway({ maxNetworkRetries: 3, timeoutMs: 300 }).createFinalizedInvoice(
      invoiceInput(customerId, { invoiceId: id, taxRateBps: 0 }),
    );
    expect(result).toMatchObject({ status: 'open', subtotal: 259_379, total: 259_379 });
    expectExactlyOneInvoiceWith(standIn, LINES);
    const sent = keysSent().slice(1);
    expect(sent.filter((k) => k === keys.invoiceCreate(id))).toHaveLength(3);
    expect(sent.filter((k) => k === keys.invoiceItem(id, 1))).toHaveLength(2);
    expect([...new Set(sent)]).toEqual(invoiceStepKeys(id, LINES.length, false));
    const itemRetry = posts().filter((r) => r.idempotencyKey === keys.invoiceItem(id, 1));
    expect(itemRetry.map((r) => [r.fault, r.replayed])).toEqual([
      ['timeout', false],
      [null, true],
    ]);
  });

  it('retries rate-limited (429) calls itself, since the SDK leaves them to the caller', async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    const id = 'inv_retry_429';
    standIn.failNext({ count: 2, status: 429, match: (r) => r.idempotencyKey === keys.invoiceFinalize(id) });
    standIn.failNext({ count: 1, status: 429, match: (r) => r.idempotencyKey === keys.invoiceTaxes(id) });
    const result = await gateway({ maxNetworkRetries: 3 }).createFinalizedInvoice(invoiceInput(customerId, { invoiceId: id }));
    expect(result).toMatchObject({ status: 'open', total: 311_255 });
    expectExactlyOneInvoiceWith(standIn, LINES);
    expect(standIn.taxRates()).toHaveLength(1);
    expect(keysSent().filter((k) => k === keys.invoiceFinalize(id))).toHaveLength(3);
    expect(keysSent().filter((k) => k === keys.invoiceTaxes(id))).toHaveLength(2);
  });

  it('gives up after maxNetworkRetries rate-limited attempts; the rerun finishes the same invoice', async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    standIn.failNext({ count: 3, status: 429, match: (r) => r.idempotencyKey === keys.invoiceItem('inv_429', 2) });
    const input = invoiceInput(customerId, { invoiceId: 'inv_429' });
    await expect(gateway({ maxNetworkRetries: 2 }).createFinalizedInvoice(input)).rejects.toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(standIn.invoices()[0]).toMatchObject({ status: 'draft' });
    const result = await gateway({ maxNetworkRetries: 2 }).createFinalizedInvoice(input);
    expect(result).toMatchObject({ status: 'open', total: 311_255 });
    expectExactlyOneInvoiceWith(standIn, LINES);
  });

  it('a lost answer (commit then 500) is retried by the SDK and replayed, not performed again', async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    const id = 'inv_lost_answer';
    standIn.failNext({ count: 1, mode: 'commit_then_fail', match: (r) => r.idempotencyKey === keys.invoiceItem(id, 0) });
    const result = await gateway({ maxNetworkRetries: 1 }).createFinalizedInvoice(invoiceInput(customerId, { invoiceId: id }));
    expect(result.total).toBe(311_255);
    expectExactlyOneInvoiceWith(standIn, LINES);
    expect(posts().filter((r) => r.idempotencyKey === keys.invoiceItem(id, 0)).map((r) => [r.fault, r.replayed])).toEqual([
      ['commit_then_fail', false],
      [null, true],
    ]);
  });
});

describe('crash between Stripe’s write and our reading of its answer, then a rerun of the job', () => {
  const id = 'inv_01JD_CRASH';
  const steps = invoiceStepKeys(id, LINES.length);

  it.each(steps)('at %s: the rerun ends with one invoice, one tax rate, each line once with its tax', async (step) => {
    const target = await startStripeStandIn();
    try {
      const { customerId } = await gatewayFor(target).ensureCustomer(frenchCustomer);
      const input = invoiceInput(customerId, { invoiceId: id });
      target.failNext({ count: 1, mode: 'commit_then_fail', match: (r) => r.idempotencyKey === step });
      await expect(gatewayFor(target).createFinalizedInvoice(input)).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);

      const result = await gatewayFor(target).createFinalizedInvoice(input);
      expect(result).toMatchObject({ status: 'open', subtotal: 259_379, tax: 51_876, total: 311_255 });
      const invoice = expectExactlyOneInvoiceWith(target, LINES);
      expect(invoice.id).toBe(result.stripeInvoiceId);
      expect(invoice.lines.data.map((line) => line.taxes?.[0]?.amount)).toEqual(LINES.map((l) => l.tax));
      expect(target.taxRates()).toHaveLength(1);
      const crashed = posts(target).filter((r) => r.idempotencyKey === step);
      // The rerun replays Stripe's saved answer.
      expect(crashed.map((r) => [r.fault, r.replayed])).toEqual([
        ['commit_then_fail', false],
        [null, true],
      ]);
    } finally {
      await target.close();
    }
  });

  it('a timeout with no retries left: the rerun replays and still creates one invoice', async () => {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    const input = invoiceInput(customerId, { invoiceId: id, taxRateBps: 0 });
    standIn.failNext({ count: 1, mode: 'timeout', match: (r) => r.idempotencyKey === keys.invoiceFinalize(id) });
    await expect(gateway({ timeoutMs: 200 }).createFinalizedInvoice(input)).rejects.toBeInstanceOf(Stripe.errors.StripeConnectionError);
    const result = await gateway().createFinalizedInvoice(input);
    expect(result.status).toBe('open');
    expectExactlyOneInvoiceWith(standIn, LINES);
  });
});

describe('credit notes', () => {
  async function openInvoice(invoiceId = 'inv_cn') {
    const { customerId } = await gateway().ensureCustomer(frenchCustomer);
    return gateway().createFinalizedInvoice(invoiceInput(customerId, { invoiceId }));
  }

  it('on an open invoice: reduces what is due, refunds nothing', async () => {
    const invoice = await openInvoice();
    const result = await gateway().createCreditNote({
      creditNoteId: 'cn_ours_1',
      stripeInvoiceId: invoice.stripeInvoiceId,
      amount: 155_627,
      reason: 'Cancelled ≥ 48 h before start: 50 % refund',
      refundIfPaid: true,
    });
    expect(result).toEqual({ stripeCreditNoteId: expect.stringMatching(/^cn_/), refundId: null });
    expect(standIn.creditNotes()).toEqual([
      expect.objectContaining({ amount: 155_627, pre_payment_amount: 155_627, post_payment_amount: 0, type: 'pre_payment', refunds: [] }),
    ]);
    expect(standIn.invoices()[0]).toMatchObject({ amount_remaining: 311_255 - 155_627, pre_payment_credit_notes_amount: 155_627 });
    const create = posts().find((r) => r.path === '/v1/credit_notes');
    expect(create).toMatchObject({
      idempotencyKey: 'cn-cn_ours_1',
      body: { invoice: invoice.stripeInvoiceId, amount: '155627', memo: 'Cancelled ≥ 48 h before start: 50 % refund', metadata: { creditNoteId: 'cn_ours_1' } },
    });
    expect(create?.body).not.toHaveProperty('refund_amount');
    expect(standIn.refunds()).toHaveLength(0);
  });

  it('on a paid invoice: refunds the amount to the payment', async () => {
    const invoice = await openInvoice();
    standIn.markPaid(invoice.stripeInvoiceId);
    const result = await gateway().createCreditNote({
      creditNoteId: 'cn_ours_2',
      stripeInvoiceId: invoice.stripeInvoiceId,
      amount: 311_255,
      reason: 'Cancelled ≥ 7 days before start: full refund',
      refundIfPaid: true,
    });
    expect(result.refundId).toMatch(/^re_/);
    expect(standIn.refunds()).toEqual([expect.objectContaining({ id: result.refundId, amount: 311_255 })]);
    expect(standIn.creditNotes()).toEqual([
      expect.objectContaining({ id: result.stripeCreditNoteId, type: 'post_payment', post_payment_amount: 311_255, refunds: [expect.objectContaining({ refund: result.refundId, amount_refunded: 311_255 })] }),
    ]);
    expect(posts().find((r) => r.path === '/v1/credit_notes')?.body).toMatchObject({ amount: '311255', refund_amount: '311255' });
  });

  it('on a paid invoice without refundIfPaid: credits the customer balance instead', async () => {
    const invoice = await openInvoice();
    standIn.markPaid(invoice.stripeInvoiceId);
    const result = await gateway().createCreditNote({
      creditNoteId: 'cn_ours_3',
      stripeInvoiceId: invoice.stripeInvoiceId,
      amount: 10_000,
      reason: 'Goodwill credit',
      refundIfPaid: false,
    });
    expect(result.refundId).toBeNull();
    expect(standIn.refunds()).toHaveLength(0);
    expect(standIn.customers()[0]).toMatchObject({ balance: -10_000 });
    expect(posts().find((r) => r.path === '/v1/credit_notes')?.body).toMatchObject({ credit_amount: '10000' });
  });

  it('crash after Stripe issued it: the rerun finds it, one credit note and one refund', async () => {
    const invoice = await openInvoice();
    standIn.markPaid(invoice.stripeInvoiceId);
    const input = { creditNoteId: 'cn_ours_4', stripeInvoiceId: invoice.stripeInvoiceId, amount: 155_627, reason: '50 %', refundIfPaid: true };
    standIn.failNext({ count: 1, mode: 'commit_then_fail', match: (r) => r.idempotencyKey === 'cn-cn_ours_4' });
    await expect(gateway().createCreditNote(input)).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    const result = await gateway().createCreditNote(input);
    const again = await gateway().createCreditNote(input);
    expect(again).toEqual(result);
    expect(standIn.creditNotes()).toHaveLength(1);
    expect(standIn.refunds()).toEqual([expect.objectContaining({ id: result.refundId, amount: 155_627 })]);
    expect(keysSent().filter((k) => k === 'cn-cn_ours_4')).toHaveLength(1);
  });

  it('500s on the credit note are retried with the same key', async () => {
    const invoice = await openInvoice();
    standIn.failNext({ count: 1, status: 500, match: (r) => r.path === '/v1/credit_notes' && r.method === 'POST' });
    const result = await gateway({ maxNetworkRetries: 2 }).createCreditNote({
      creditNoteId: 'cn_ours_5',
      stripeInvoiceId: invoice.stripeInvoiceId,
      amount: 1,
      reason: 'rounding',
      refundIfPaid: true,
    });
    expect(result.stripeCreditNoteId).toMatch(/^cn_/);
    expect(standIn.creditNotes()).toHaveLength(1);
    expect(keysSent().filter((k) => k === 'cn-cn_ours_5')).toEqual(['cn-cn_ours_5', 'cn-cn_ours_5']);
  });

  it('more than the invoice total is refused by Stripe and nothing is issued', async () => {
    const invoice = await openInvoice();
    await expect(
      gateway().createCreditNote({ creditNoteId: 'cn_too_much', stripeInvoiceId: invoice.stripeInvoiceId, amount: 311_256, reason: 'x', refundIfPaid: true }),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(standIn.creditNotes()).toHaveLength(0);
  });
});

describe('the stand-in holds to Stripe’s rules', () => {
  const client = () => new Stripe(SECRET_KEY, { host: standIn.host, port: standIn.port, protocol: 'http', maxNetworkRetries: 0 });

  it('refuses an unknown parameter before running anything, so the key stays free for the corrected request', async () => {
    const stripe = client();
    const params = { name: 'Typo SAS', emial: 'x@example.com' } as Stripe.CustomerCreateParams;
    await expect(stripe.customers.create(params, { idempotencyKey: 'k1' })).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      message: 'Received unknown parameter: emial',
    });
    const created = await stripe.customers.create({ name: 'Typo SAS', email: 'x@example.com' }, { idempotencyKey: 'k1' });
    expect(standIn.customers().map((c) => c.id)).toEqual([created.id]);
  });

  it('replays a key with the same parameters and refuses it with others, or on another endpoint', async () => {
    const stripe = client();
    const first = await stripe.customers.create({ name: 'A', metadata: { a: '1', b: '2' } }, { idempotencyKey: 'k2' });
    const replay = await stripe.customers.create({ metadata: { b: '2', a: '1' }, name: 'A' }, { idempotencyKey: 'k2' });
    expect(replay.id).toBe(first.id);
    await expect(stripe.customers.create({ name: 'B' }, { idempotencyKey: 'k2' })).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    await expect(
      stripe.taxRates.create({ display_name: 'A', inclusive: false, percentage: 20 }, { idempotencyKey: 'k2' }),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(standIn.customers()).toHaveLength(1);
    expect(standIn.taxRates()).toHaveLength(0);
  });

  it('adds items only to draft invoices, and a paid invoice cannot be refunded more than was paid', async () => {
    const stripe = client();
    const customer = await stripe.customers.create({ name: 'A' });
    const draft = await stripe.invoices.create({ customer: customer.id, currency: 'eur', pending_invoice_items_behavior: 'exclude' });
    await stripe.invoiceItems.create({ customer: customer.id, invoice: draft.id, amount: 1_000, currency: 'eur' });
    const open = await stripe.invoices.finalizeInvoice(draft.id);
    expect(open).toMatchObject({ status: 'open', total: 1_000, amount_due: 1_000 });
    await expect(stripe.invoiceItems.create({ customer: customer.id, invoice: draft.id, amount: 1, currency: 'eur' })).rejects.toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );
    standIn.markPaid(draft.id);
    await expect(stripe.creditNotes.create({ invoice: draft.id, amount: 600, refund_amount: 500 })).rejects.toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );
    await stripe.creditNotes.create({ invoice: draft.id, amount: 600, refund_amount: 600 });
    await expect(stripe.creditNotes.create({ invoice: draft.id, amount: 500, refund_amount: 500 })).rejects.toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );
    expect(standIn.refunds().map((r) => r.amount)).toEqual([600]);
  });
});

describe('webhooks', () => {
  const event = {
    id: 'evt_1',
    object: 'event',
    type: 'invoice.paid',
    created: 1_795_000_000,
    api_version: Stripe.API_VERSION,
    data: { object: { id: 'in_123', object: 'invoice', status: 'paid', metadata: { invoiceId: 'inv_ours' } } },
  };
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  it('accepts a correctly signed event and returns its id, type, time and object', () => {
    const { body, header } = signStripeEvent(event, WEBHOOK_SECRET);
    expect(gateway().parseWebhook(body, header)).toEqual({
      id: 'evt_1',
      type: 'invoice.paid',
      created: 1_795_000_000,
      object: { id: 'in_123', object: 'invoice', status: 'paid', metadata: { invoiceId: 'inv_ours' } },
    });
  });

  const refusals: [string, () => [string, string | undefined], string][] = [
    ['another secret', () => Object.values(signStripeEvent(event, 'whsec_someone_else')) as [string, string], 'verification_failed'],
    ['an altered body', () => [signStripeEvent(event, WEBHOOK_SECRET).body.replace('paid', 'open'), signStripeEvent(event, WEBHOOK_SECRET).header], 'verification_failed'],
    ['no header', () => [signStripeEvent(event, WEBHOOK_SECRET).body, undefined], 'missing_header'],
    ['a garbage header', () => [signStripeEvent(event, WEBHOOK_SECRET).body, 't=abc,v1=zzz'], 'verification_failed'],
    ['a signature older than 300 s', () => Object.values(signStripeEvent(event, WEBHOOK_SECRET, { timestamp: nowSeconds() - 301 })) as [string, string], 'verification_failed'],
    // Issue 15, finding 8: a signature dated 1 h (or 301 s) in the future was accepted.
    ['a signature dated 1 h in the future', () => Object.values(signStripeEvent(event, WEBHOOK_SECRET, { timestamp: nowSeconds() + 3600 })) as [string, string], 'verification_failed'],
    ['a signature dated 301 s in the future', () => Object.values(signStripeEvent(event, WEBHOOK_SECRET, { timestamp: nowSeconds() + 301 })) as [string, string], 'verification_failed'],
  ];

  it.each(refusals)('refuses %s with InvalidStripeSignatureError and a fixed message', (_, make, reason) => {
    const [body, header] = make();
    let thrown: unknown;
    try {
      gateway().parseWebhook(body, header);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidStripeSignatureError);
    expect(thrown).toMatchObject({ message: 'Invalid Stripe signature', reason });
  });

  it('accepts a signature 299 s old, and judges age by the injected clock', () => {
    const signedAt = nowSeconds() - 299;
    const { body, header } = signStripeEvent(event, WEBHOOK_SECRET, { timestamp: signedAt });
    expect(gateway().parseWebhook(body, header).id).toBe('evt_1');
    const later = gateway({ now: () => new Date((signedAt + 301) * 1000) });
    expect(() => later.parseWebhook(body, header)).toThrow(InvalidStripeSignatureError);
  });

  it('refuses every webhook when no webhook secret is configured', () => {
    const { body, header } = signStripeEvent(event, WEBHOOK_SECRET);
    expect(() => gateway({ webhookSecret: undefined }).parseWebhook(body, header)).toThrow(
      expect.objectContaining({ reason: 'not_configured' }),
    );
  });
});
