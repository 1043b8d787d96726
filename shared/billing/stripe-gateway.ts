/**
 * The BillingGateway on Stripe, through the official `stripe` SDK. Every write carries an idempotency
 * key derived from our own ids (see `stripeIdempotencyKeys`), so a job re-run after a crash between
 * Stripe's write and our reading of its answer replays Stripe's first answer instead of creating
 * anything twice. The SDK retries 5xx, 409, timeouts and connection errors with backoff, reusing the
 * key; rate-limit 429s, which the SDK leaves to the caller, are retried here. See docs/stripe.md.
 */
import Stripe from 'stripe';
import { EU_COUNTRIES } from '#domain/vat.ts';
import {
  InvalidStripeSignatureError,
  StripeInvoiceMismatchError,
  type BillingGateway,
  type CreateCreditNoteInput,
  type CreateInvoiceInput,
  type CreditNoteResult,
  type CustomerInput,
  type StripeInvoiceResult,
  type StripeInvoiceStatus,
  type StripeWebhookEvent,
} from './gateway.ts';

export interface StripeGatewayConfig {
  secretKey: string;
  /** `whsec_…`; without it every webhook is refused. */
  webhookSecret?: string;
  /** Another Stripe-speaking host, e.g. `http://127.0.0.1:12111` (a test stand-in). */
  apiUrl?: string;
  /** SDK retries of 5xx/409/timeouts, and our retries of rate-limit 429s. Default 3. */
  maxNetworkRetries?: number;
  /** Per-request timeout. Default 20 000 ms. */
  timeoutMs?: number;
  /** First wait before retrying a rate-limited (429) call; doubles each time, capped at 5 s. Default 500 ms. */
  rateLimitRetryDelayMs?: number;
  /** `days_until_due` of the invoices (sent to the billing email, paid on Stripe's hosted page). Default 30. */
  daysUntilDue?: number;
  /** Clock for the webhook timestamp tolerance. */
  now?: () => Date;
}

/** Age (seconds) beyond which a signed webhook is refused, whatever its signature. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

const DEFAULT_MAX_NETWORK_RETRIES = 3;
const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_RATE_LIMIT_RETRY_DELAY_MS = 500;
const MAX_RATE_LIMIT_RETRY_DELAY_MS = 5_000;
const DEFAULT_DAYS_UNTIL_DUE = 30;

/** The idempotency key of every write to Stripe, derived from our ids only. */
export const stripeIdempotencyKeys = {
  customer: (orgId: string) => `customer-${orgId}`,
  invoiceCreate: (invoiceId: string) => `inv-${invoiceId}-create`,
  invoiceItem: (invoiceId: string, index: number) => `inv-${invoiceId}-item-${index}`,
  invoiceTaxes: (invoiceId: string) => `inv-${invoiceId}-taxes`,
  invoiceFinalize: (invoiceId: string) => `inv-${invoiceId}-finalize`,
  invoiceVoid: (invoiceId: string) => `inv-${invoiceId}-void`,
  creditNote: (creditNoteId: string) => `cn-${creditNoteId}`,
};

const INVOICE_STATUSES: readonly StripeInvoiceStatus[] = ['draft', 'open', 'paid', 'void', 'uncollectible'];

export { StripeInvoiceMismatchError, type MismatchAction } from './gateway.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function clientAddress(apiUrl: string | undefined): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (apiUrl === undefined) return {};
  const url = new URL(apiUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`apiUrl must be http(s), got ${apiUrl}`);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port === '' ? (protocol === 'http' ? 80 : 443) : Number(url.port), protocol };
}

function assertCents(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} must be integer cents, got ${value}`);
}

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

function creditNoteResult(creditNote: Stripe.CreditNote): CreditNoteResult {
  const refund = creditNote.refunds[0]?.refund;
  return { stripeCreditNoteId: creditNote.id, refundId: refund === undefined ? null : typeof refund === 'string' ? refund : refund.id };
}

function customerTaxIds(input: CustomerInput): Stripe.CustomerCreateParams.TaxIdDatum[] | undefined {
  const vatNumber = input.vatNumber?.trim() ?? '';
  const country = input.country.trim().toUpperCase();
  if (vatNumber === '' || !(EU_COUNTRIES.includes(country) || country === 'EL')) return undefined;
  return [{ type: 'eu_vat', value: vatNumber }];
}

/** The Stripe gateway: its webhook verification answers at once (the SDK is loaded with this file). */
export interface StripeGateway extends BillingGateway {
  parseWebhook(rawBody: string, signatureHeader: string | undefined): StripeWebhookEvent;
}

export function createStripeGateway(config: StripeGatewayConfig): StripeGateway {
  const maxNetworkRetries = config.maxNetworkRetries ?? DEFAULT_MAX_NETWORK_RETRIES;
  const rateLimitRetryDelayMs = config.rateLimitRetryDelayMs ?? DEFAULT_RATE_LIMIT_RETRY_DELAY_MS;
  const daysUntilDue = config.daysUntilDue ?? DEFAULT_DAYS_UNTIL_DUE;
  const now = config.now ?? (() => new Date());
  const stripe = new Stripe(config.secretKey, {
    apiVersion: Stripe.API_VERSION,
    maxNetworkRetries,
    timeout: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...clientAddress(config.apiUrl),
  });

  /** The SDK does not retry a plain rate-limit 429; Stripe saved nothing for it, so the same key is safe to send again. */
  async function withRateLimitRetry<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof Stripe.errors.StripeRateLimitError) || attempt >= maxNetworkRetries) throw error;
        await sleep(Math.min(rateLimitRetryDelayMs * 2 ** attempt, MAX_RATE_LIMIT_RETRY_DELAY_MS));
      }
    }
  }

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

  /** The customer this system created for the org, found by its billing email and `orgId` metadata. */
  async function existingCustomer(orgId: string, email: string): Promise<Stripe.Customer | undefined> {
    for await (const customer of stripe.customers.list({ email, limit: 100 })) {
      if (customer.metadata?.orgId === orgId) return customer;
    }
    return undefined;
  }

  /** A credit note this system already issued for `creditNoteId` on that invoice, if any. */
  async function existingCreditNote(stripeInvoiceId: string, creditNoteId: string): Promise<Stripe.CreditNote | undefined> {
    for await (const note of stripe.creditNotes.list({ invoice: stripeInvoiceId, limit: 100 })) {
      if (note.metadata?.creditNoteId === creditNoteId) return note;
    }
    return undefined;
  }

  return {
    async ensureCustomer(input) {
      // Found first (a rerun after the 24 h key window, or after the org's details changed), created otherwise.
      const existing = await withRateLimitRetry(() => existingCustomer(input.orgId, input.email));
      if (existing) return { customerId: existing.id };
      const taxIds = customerTaxIds(input);
      const metadata: Record<string, string> = { orgId: input.orgId };
      if (input.vatNumber?.trim()) metadata.vatNumber = input.vatNumber.trim();
      const customer = await withRateLimitRetry(() =>
        stripe.customers.create(
          {
            name: input.name,
            email: input.email,
            address: { country: input.country.trim().toUpperCase() },
            tax_exempt: input.taxExempt,
            ...(taxIds ? { tax_id_data: taxIds } : {}),
            metadata,
          },
          { idempotencyKey: stripeIdempotencyKeys.customer(input.orgId) },
        ),
      );
      return { customerId: customer.id };
    },

    async createFinalizedInvoice(input: CreateInvoiceInput) {
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
    },

    async createCreditNote(input: CreateCreditNoteInput) {
      assertCents(input.amount, 'amount');
      if (input.amount <= 0) throw new RangeError(`A credit note amount must be positive, got ${input.amount}`);
      const existing = await withRateLimitRetry(() => existingCreditNote(input.stripeInvoiceId, input.creditNoteId));
      if (existing) return creditNoteResult(existing);
      const invoice = await withRateLimitRetry(() => stripe.invoices.retrieve(input.stripeInvoiceId));
      // Stripe first reduces what is still due (pre-payment); the rest must be settled as a refund or a balance credit.
      const prePayment = Math.min(input.amount, invoice.amount_remaining);
      const postPayment = input.amount - prePayment;
      const settlement =
        postPayment === 0 ? {} : input.refundIfPaid && invoice.amount_paid > 0 ? { refund_amount: postPayment } : { credit_amount: postPayment };
      const creditNote = await withRateLimitRetry(() =>
        stripe.creditNotes.create(
          {
            invoice: input.stripeInvoiceId,
            amount: input.amount,
            ...settlement,
            memo: input.reason,
            metadata: { creditNoteId: input.creditNoteId },
          },
          { idempotencyKey: stripeIdempotencyKeys.creditNote(input.creditNoteId) },
        ),
      );
      return creditNoteResult(creditNote);
    },

    parseWebhook(rawBody: string, signatureHeader: string | undefined): StripeWebhookEvent {
      if (config.webhookSecret === undefined || config.webhookSecret === '') throw new InvalidStripeSignatureError('not_configured');
      if (signatureHeader === undefined || signatureHeader === '') throw new InvalidStripeSignatureError('missing_header');
      let event: Stripe.Event;
      try {
        event = stripe.webhooks.constructEvent(
          rawBody,
          signatureHeader,
          config.webhookSecret,
          WEBHOOK_TOLERANCE_SECONDS,
          undefined,
          now().getTime(),
        );
      } catch (error) {
        throw new InvalidStripeSignatureError('verification_failed', { cause: error });
      }
      // The SDK refuses signatures older than the tolerance but not ones dated in the future (a replay
      // signed ahead would stay valid for as long as the attacker chose): the age is checked both ways.
      const signedAt = Number(/(?:^|,)\s*t=(\d+)/.exec(signatureHeader)?.[1]);
      if (!Number.isFinite(signedAt) || signedAt - now().getTime() / 1000 > WEBHOOK_TOLERANCE_SECONDS) {
        throw new InvalidStripeSignatureError('verification_failed');
      }
      const object: unknown = (event as { data?: { object?: unknown } }).data?.object;
      if (typeof event.id !== 'string' || typeof event.type !== 'string' || typeof object !== 'object' || object === null) {
        throw new InvalidStripeSignatureError('malformed_event');
      }
      return { id: event.id, type: event.type, created: event.created, object: object as Record<string, unknown> };
    },
  };
}
