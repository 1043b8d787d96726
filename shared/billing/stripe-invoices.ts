/**
 * A finalized Stripe invoice from ours: a draft keyed by our invoice id, one item per line, each
 * line's VAT set as we computed it, checked against our figures before finalizing (a draft that does
 * not add up is deleted) and after (a finalized one that does not is voided). See docs/stripe.md.
 */
import type Stripe from 'stripe';
import { StripeInvoiceMismatchError, type CreateInvoiceInput, type StripeInvoiceResult, type StripeInvoiceStatus } from './gateway.ts';
import { assertCents, stripeIdempotencyKeys, type StripeClient } from './stripe-client.ts';

const INVOICE_STATUSES: readonly StripeInvoiceStatus[] = ['draft', 'open', 'paid', 'void', 'uncollectible'];

function invoiceResult(invoice: Stripe.Invoice): StripeInvoiceResult {
  const status = INVOICE_STATUSES.find((known) => known === invoice.status);
  if (status === undefined) throw new StripeInvoiceMismatchError(`Stripe invoice ${invoice.id} has unexpected status ${String(invoice.status)}`);
  const tax = (invoice.total_taxes ?? []).reduce((sum, line) => sum + line.amount, 0);
  return {
    stripeInvoiceId: invoice.id,
    status,
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
    pdfUrl: invoice.invoice_pdf ?? null,
    subtotal: invoice.subtotal,
    tax,
    total: invoice.total,
  };
}

export function createStripeInvoices(client: StripeClient, daysUntilDue: number) {
  const { stripe, withRateLimitRetry } = client;

  /** Sets each line's tax amount (French VAT at `taxRateBps`) on the draft, in one call keyed by our invoice id. */
  async function setLineTaxes(draftId: string, input: CreateInvoiceInput): Promise<Stripe.Invoice> {
    const lineIds = new Map<string, string>();
    await withRateLimitRetry(async () => {
      for await (const line of stripe.invoices.listLineItems(draftId, { limit: 100 })) {
        if (line.metadata?.invoiceId === input.invoiceId && line.metadata.lineIndex !== undefined) lineIds.set(line.metadata.lineIndex, line.id);
      }
    });
    const lines = input.lines.map((line, index) => {
      const id = lineIds.get(String(index));
      if (id === undefined) throw new StripeInvoiceMismatchError(`Stripe draft ${draftId} for ${input.invoiceId} has no line ${index}`, draftId, 'none');
      return {
        id,
        tax_amounts: [
          {
            amount: line.tax,
            taxable_amount: line.amount,
            tax_rate_data: { display_name: 'TVA', description: `French VAT ${input.taxRateBps / 100} %`, percentage: input.taxRateBps / 100, inclusive: false, country: 'FR', jurisdiction: 'FR', tax_type: 'vat' as const },
          },
        ],
      };
    });
    return withRateLimitRetry(() => stripe.invoices.updateLines(draftId, { lines }, { idempotencyKey: stripeIdempotencyKeys.invoiceTaxes(input.invoiceId) }));
  }

  async function createFinalizedInvoice(input: CreateInvoiceInput): Promise<StripeInvoiceResult> {
    if (input.lines.length === 0) throw new RangeError('An invoice needs at least one line');
    input.lines.forEach((line, index) => assertCents(line.amount, `lines[${index}].amount`));
    if (!Number.isSafeInteger(input.taxRateBps) || input.taxRateBps < 0) {
      throw new RangeError(`taxRateBps must be a non-negative integer, got ${input.taxRateBps}`);
    }
    input.lines.forEach((line, index) => assertCents(line.tax, `lines[${index}].tax`));
    if (input.taxRateBps === 0 && input.lines.some((line) => line.tax !== 0)) throw new RangeError('Lines carry tax at a 0 % rate');
    const draft = await withRateLimitRetry(() =>
      stripe.invoices.create(
        {
          customer: input.customerId,
          currency: input.currency,
          collection_method: 'send_invoice',
          days_until_due: daysUntilDue,
          // Stripe must not finalize a draft we are still filling; finalize turns auto-advance on.
          auto_advance: false,
          pending_invoice_items_behavior: 'exclude',
          ...(input.footer ? { footer: input.footer } : {}),
          ...(input.description ? { description: input.description } : {}),
          metadata: { ...input.metadata, invoiceId: input.invoiceId },
        },
        { idempotencyKey: stripeIdempotencyKeys.invoiceCreate(input.invoiceId) },
      ),
    );
    for (const [index, line] of input.lines.entries()) {
      await withRateLimitRetry(() =>
        stripe.invoiceItems.create(
          {
            customer: input.customerId,
            invoice: draft.id,
            currency: input.currency,
            amount: line.amount,
            description: line.description,
            metadata: { ...line.metadata, invoiceId: input.invoiceId, lineIndex: String(index) },
          },
          { idempotencyKey: stripeIdempotencyKeys.invoiceItem(input.invoiceId, index) },
        ),
      );
    }
    const expectedSubtotal = input.lines.reduce((sum, line) => sum + line.amount, 0);
    const expected: { subtotal: number; tax: number | null; total: number | null } = input.expected ?? { subtotal: expectedSubtotal, tax: null, total: null };
    /** What differs between Stripe's invoice and ours, or null when it adds up. */
    const differences = (invoice: Stripe.Invoice): string | null => {
      const got = invoiceResult(invoice);
      const wrong = [
        got.subtotal !== expectedSubtotal || got.subtotal !== expected.subtotal ? `subtotal ${got.subtotal}, expected ${expected.subtotal}` : null,
        expected.tax !== null && got.tax !== expected.tax ? `tax ${got.tax}, expected ${expected.tax}` : null,
        expected.total !== null && got.total !== expected.total ? `total ${got.total}, expected ${expected.total}` : null,
      ].filter((d): d is string => d !== null);
      return wrong.length === 0 ? null : `Stripe invoice ${invoice.id} for ${input.invoiceId} has ${wrong.join(', ')}`;
    };
    // VAT as we computed it (once, on the subtotal; docs/pricing.md), each line's share set as its tax
    // amount: Stripe adds them up instead of rounding a tax rate per line, so its VAT is ours.
    // (A rerun that meets the invoice already finalized leaves it as it is and checks it below.)
    let filled: Stripe.Invoice = await withRateLimitRetry(() => stripe.invoices.retrieve(draft.id));
    if (filled.status === 'draft' && input.taxRateBps > 0) filled = await setLineTaxes(draft.id, input);
    // Checked before finalizing: a draft that does not add up is deleted, never sent to the customer.
    if (filled.status === 'draft') {
      const wrong = differences(filled);
      if (wrong !== null) {
        await withRateLimitRetry(() => stripe.invoices.del(draft.id));
        throw new StripeInvoiceMismatchError(`${wrong}; the draft was deleted`, draft.id, 'draft_deleted');
      }
    }
    const finalized = await withRateLimitRetry(() =>
      stripe.invoices.finalizeInvoice(
        draft.id,
        { auto_advance: true },
        { idempotencyKey: stripeIdempotencyKeys.invoiceFinalize(input.invoiceId) },
      ),
    );
    // And after: an invoice finalized for the wrong amount (a rerun that met an earlier one) is voided.
    const wrong = differences(finalized);
    if (wrong !== null) {
      if (finalized.status === 'open' || finalized.status === 'uncollectible') {
        await withRateLimitRetry(() => stripe.invoices.voidInvoice(finalized.id, {}, { idempotencyKey: stripeIdempotencyKeys.invoiceVoid(input.invoiceId) }));
        throw new StripeInvoiceMismatchError(`${wrong}; it was voided`, finalized.id, 'voided');
      }
      throw new StripeInvoiceMismatchError(`${wrong}; it is ${String(finalized.status)} and was left as it is`, finalized.id, 'none');
    }
    return invoiceResult(finalized);
  }

  return { createFinalizedInvoice };
}
