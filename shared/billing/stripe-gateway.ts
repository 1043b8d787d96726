/**
 * The BillingGateway on Stripe, through the official `stripe` SDK. Every write carries an idempotency
 * key derived from our own ids (see `stripeIdempotencyKeys`), so a job re-run after a crash between
 * Stripe's write and our reading of its answer replays Stripe's first answer instead of creating
 * anything twice. The SDK retries 5xx, 409, timeouts and connection errors with backoff, reusing the
 * key; rate-limit 429s, which the SDK leaves to the caller, are retried by us (stripe-client.ts, with
 * the keys). Invoices are built in stripe-invoices.ts; customers, credit notes and webhook
 * verification here. See docs/stripe.md.
 */
import Stripe from 'stripe';
import { EU_COUNTRIES } from '#domain/vat.ts';
import {
  InvalidStripeSignatureError,
  type BillingGateway,
  type CreateCreditNoteInput,
  type CreditNoteResult,
  type CustomerInput,
  type StripeWebhookEvent,
} from './gateway.ts';
import { assertCents, createStripeClient, stripeIdempotencyKeys } from './stripe-client.ts';
import { createStripeInvoices } from './stripe-invoices.ts';

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

const DEFAULT_DAYS_UNTIL_DUE = 30;

export { stripeIdempotencyKeys } from './stripe-client.ts';
export { StripeInvoiceMismatchError, type MismatchAction } from './gateway.ts';

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
  const daysUntilDue = config.daysUntilDue ?? DEFAULT_DAYS_UNTIL_DUE;
  const now = config.now ?? (() => new Date());
  const client = createStripeClient(config);
  const { stripe, withRateLimitRetry } = client;
  const { createFinalizedInvoice } = createStripeInvoices(client, daysUntilDue);

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
    createFinalizedInvoice,

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
