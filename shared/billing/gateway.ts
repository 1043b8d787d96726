/**
 * What our billing code needs from a payment provider, and nothing more. The Stripe implementation
 * lives in stripe-gateway.ts; a local implementation (no Stripe configured) can satisfy the same
 * interface. Amounts are integer EUR cents. See docs/stripe.md.
 */

export type CustomerTaxExempt = 'none' | 'reverse' | 'exempt';

export interface CustomerInput {
  orgId: string;
  name: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  vatNumber?: string | null;
  email: string;
  /** 'reverse' for EU businesses under reverse charge. */
  taxExempt: CustomerTaxExempt;
}

export interface InvoiceLineInput {
  description: string;
  /** Integer cents, excluding tax; negative for discounts and credits. */
  amount: number;
  /**
   * This line's share of the invoice's VAT in integer cents (shared/domain/vat.ts `lineTaxes`), sent to
   * Stripe as the line's tax amount so Stripe's VAT is ours exactly; 0 without VAT.
   */
  tax: number;
  metadata?: Record<string, string>;
}

export interface CreateInvoiceInput {
  /** Our invoice id: every idempotency key of this invoice is derived from it. */
  invoiceId: string;
  customerId: string;
  currency: 'eur';
  lines: InvoiceLineInput[];
  /** 0 or 2000 (French VAT 20 %): the rate the lines' tax amounts were computed at, exclusive of the line amounts. */
  taxRateBps: number;
  /** Legal mention printed on the invoice, e.g. the reverse charge article. */
  footer?: string | null;
  metadata: Record<string, string>;
  description?: string;
  /**
   * Our invoice's totals (integer cents). Stripe's draft is checked against them before it is
   * finalized, and the finalized invoice again: on a mismatch the draft is deleted (Stripe voids only
   * finalized invoices) or the finalized invoice voided, and StripeInvoiceMismatchError says which.
   */
  expected?: { subtotal: number; tax: number; total: number };
}

export type StripeInvoiceStatus = 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';

export interface StripeInvoiceResult {
  stripeInvoiceId: string;
  status: StripeInvoiceStatus;
  hostedInvoiceUrl: string | null;
  pdfUrl: string | null;
  subtotal: number;
  tax: number;
  total: number;
}

export interface CreateCreditNoteInput {
  /** Our credit note id: the idempotency root of the credit note. */
  creditNoteId: string;
  stripeInvoiceId: string;
  /** Integer cents, tax included: the credit note's total (what the customer gets back). */
  amount: number;
  /** Free text, printed as the credit note's memo. */
  reason: string;
  /** When the invoice is (partly) paid, refund the paid part to the payment; otherwise credit the customer's balance. */
  refundIfPaid: boolean;
}

export interface CreditNoteResult {
  stripeCreditNoteId: string;
  refundId: string | null;
}

export interface StripeWebhookEvent {
  id: string;
  type: string;
  /** Unix seconds. */
  created: number;
  /** `data.object` of the event: the invoice, credit note, ... as Stripe sent it. */
  object: Record<string, unknown>;
}

export interface BillingGateway {
  /** One customer per org; idempotency key `customer-<orgId>`. */
  ensureCustomer(input: CustomerInput): Promise<{ customerId: string }>;
  /** Invoice + items + finalize, every key derived from `invoiceId`: re-running after a crash creates nothing new. */
  createFinalizedInvoice(input: CreateInvoiceInput): Promise<StripeInvoiceResult>;
  /** Idempotency key `cn-<creditNoteId>`. */
  createCreditNote(input: CreateCreditNoteInput): Promise<CreditNoteResult>;
  /**
   * Verifies the signature on the raw body; throws (or rejects with) InvalidStripeSignatureError, never
   * the library's message. May answer asynchronously: the composition root loads the Stripe SDK on the
   * gateway's first call (shared/compose/billing.ts).
   */
  parseWebhook(rawBody: string, signatureHeader: string | undefined): StripeWebhookEvent | Promise<StripeWebhookEvent>;
}

/** Why a webhook was refused, for logs only; callers answer every case with the same 400. */
export type InvalidSignatureReason = 'missing_header' | 'not_configured' | 'verification_failed' | 'malformed_event';

/**
 * A Stripe webhook whose signature does not verify (missing, wrong secret, altered body, older than the
 * tolerance). Its message is fixed: the library's explanation stays in `cause`, for logs, and is never
 * sent back to the caller.
 */
export class InvalidStripeSignatureError extends Error {
  readonly reason: InvalidSignatureReason;

  constructor(reason: InvalidSignatureReason, options: { cause?: unknown } = {}) {
    super('Invalid Stripe signature', options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InvalidStripeSignatureError';
    this.reason = reason;
  }
}

/**
 * What was done with Stripe's invoice on a mismatch: its draft deleted before it was finalized (never
 * sent), the finalized invoice voided (nothing left to pay), or nothing (the check could not run).
 */
export type MismatchAction = 'draft_deleted' | 'voided' | 'none';

/** Stripe answered with an invoice that does not add up to what we asked for: never hand it on as if it did. */
export class StripeInvoiceMismatchError extends Error {
  readonly stripeInvoiceId: string | null;
  readonly action: MismatchAction;
  constructor(detail: string, stripeInvoiceId: string | null = null, action: MismatchAction = 'none') {
    super(detail);
    this.name = 'StripeInvoiceMismatchError';
    this.stripeInvoiceId = stripeInvoiceId;
    this.action = action;
  }
}
