/**
 * The invoice and credit note model (pure: no clock, no I/O): their fields, the order of an invoice's
 * statuses, and what a credit note does to its invoice. Billing builds and stores them; the store
 * reads and writes them; the API and the portal show them. See docs/billing.md.
 */
import { footprintOf, type Footprint, type FootprintFactors } from './footprint.ts';
import { addMoney, eur, mulRound, type Money } from './money.ts';
import type { PriceLineKind } from './pricing.ts';
import type { TaxTreatment } from './vat.ts';

export type InvoiceStatus = 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';
export const INVOICE_STATUSES: readonly InvoiceStatus[] = ['draft', 'open', 'paid', 'void', 'uncollectible'];

/** What an invoice bills: a confirmed reservation, the extra hours of an extension, or a month of on-demand usage. */
export type InvoiceKind = 'reservation' | 'extension' | 'usage';

/**
 * Where the invoice stands with Stripe: `pending` (written here, not yet finalized in Stripe: the
 * scheduled sync finishes it), `synced`, `not_configured` (no Stripe: kept here as a draft), or
 * `failed` (Stripe answered with other amounts than ours: needs a person).
 */
export type StripeSync = 'pending' | 'synced' | 'not_configured' | 'failed';

export const STRIPE_NOT_CONFIGURED_INVOICE_NOTE = 'Stripe is not configured: this invoice was not sent';
export const STRIPE_NOT_CONFIGURED_CREDIT_NOTE_NOTE = 'Stripe is not configured: this credit note was not sent';

export type InvoiceLineKind = PriceLineKind | 'usage' | 'usage_adjustment';

export interface InvoiceLine {
  kind: InvoiceLineKind;
  description: string;
  /** Excluding VAT; negative for discounts. */
  amount: Money;
  /** This line's VAT, rounded half up on the line. */
  tax: Money;
  site: string | null;
  gpuType: string | null;
  poolId: string | null;
  /** GPU-seconds the line charges: GPUs × hours × 3600 for a reserved base line, metered for usage; null for discounts. */
  gpuSeconds: number | null;
  /** Price per GPU-hour of the line; null for discount and utilization lines. */
  unitPrice: Money | null;
  /** Usage lines: the month the usage happened in (earlier than the invoice's period for a late-usage adjustment). */
  usagePeriod: string | null;
  /**
   * On-demand lines billed on held time (`gpuSeconds` = GPUs × seconds held): the metered GPU-seconds
   * of that month and pool, shown beside; absent on lines billed on metered usage.
   */
  meteredGpuSeconds?: number | null | undefined;
  /** Energy and carbon of the GPU-seconds the line charges (absent on invoices issued before lines carried it; null for discounts). */
  footprint?: Footprint | null | undefined;
}

/**
 * The invoice with each line's footprint (docs/footprint.md): from the line's GPU-seconds and the
 * factors of its site and GPU type, `reserved` for a reserved booking's lines, `metered` for usage
 * lines. Lines without GPU-seconds (discounts) or without known factors carry null.
 */
export function withLineFootprints<T extends { lines: InvoiceLine[] }>(invoice: T, factorsOf: (site: string, gpuType: string) => FootprintFactors | null): T {
  return {
    ...invoice,
    lines: invoice.lines.map((l) => {
      const factors = l.site && l.gpuType && l.gpuSeconds !== null && l.gpuSeconds > 0 ? factorsOf(l.site, l.gpuType) : null;
      if (!factors || l.gpuSeconds === null) return { ...l, footprint: null };
      const metered = l.kind === 'usage' || l.kind === 'usage_adjustment';
      return {
        ...l,
        footprint: footprintOf({
          factors,
          reservedGpuHours: l.gpuSeconds / 3600,
          // On-demand billed on held time: the footprint is that of the GPU-seconds actually metered.
          metered: metered ? { gpuSeconds: l.meteredGpuSeconds ?? l.gpuSeconds, measuredGpuSeconds: 0, measuredEnergyWh: 0 } : null,
        }),
      };
    }),
  };
}

/** The customer as invoiced (a snapshot: a later change of the org does not rewrite issued invoices). */
export interface BillingCustomer {
  name: string;
  country: string;
  vatNumber: string | null;
  billingEmail: string;
}

export interface Invoice {
  id: string;
  orgId: string;
  kind: InvoiceKind;
  reservationId: string | null;
  /** `YYYY-MM`: the month it was issued in (reservations, extensions) or the month of usage it closes. */
  period: string;
  customer: BillingCustomer;
  taxTreatment: TaxTreatment;
  taxRateBps: number;
  /** Printed on the invoice (reverse charge, export); null for French VAT. */
  legalMention: string | null;
  lines: InvoiceLine[];
  subtotal: Money;
  tax: Money;
  total: Money;
  /** Credit notes issued on this invoice, excluding and including VAT. */
  creditedSubtotal: Money;
  creditedTotal: Money;
  creditNoteIds: string[];
  status: InvoiceStatus;
  stripeSync: StripeSync;
  note: string | null;
  stripeInvoiceId: string | null;
  stripeCustomerId: string | null;
  hostedInvoiceUrl: string | null;
  pdfUrl: string | null;
  lastPaymentError: string | null;
  createdAt: string;
  updatedAt: string;
  /** When it became `open` (Stripe finalized it): the start of its age in receivables. */
  finalizedAt: string | null;
  paidAt: string | null;
  closedAt: string | null;
  version: number;
}

export type CreditNoteStatus = 'pending' | 'issued';

export interface CreditNote {
  id: string;
  orgId: string;
  invoiceId: string;
  reservationId: string | null;
  /** `YYYY-MM` it was issued in. */
  period: string;
  reason: string;
  site: string | null;
  gpuType: string | null;
  subtotal: Money;
  tax: Money;
  /** What the customer gets back (VAT included). */
  total: Money;
  status: CreditNoteStatus;
  stripeSync: StripeSync;
  note: string | null;
  stripeCreditNoteId: string | null;
  stripeRefundId: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

// ---- status order ----

const RANK: Record<InvoiceStatus, number> = { draft: 0, open: 1, paid: 2, void: 2, uncollectible: 2 };

/**
 * Whether an invoice may go from `from` to `to`: only forward (draft < open < paid | void |
 * uncollectible), and from uncollectible to paid or void (Stripe allows both). A paid or void invoice
 * never changes again; an out-of-order `invoice.finalized` after `invoice.paid` is ignored.
 */
export function canMoveTo(from: InvoiceStatus, to: InvoiceStatus): boolean {
  if (from === to) return false;
  if (from === 'uncollectible') return to === 'paid' || to === 'void';
  return RANK[to] > RANK[from];
}

/** The event announcing that an invoice reached a status. */
export const STATUS_EVENT: Record<Exclude<InvoiceStatus, 'draft'>, string> = {
  open: 'invoice.finalized',
  paid: 'invoice.paid',
  void: 'invoice.voided',
  uncollectible: 'invoice.marked_uncollectible',
};

/** The invoice after a credit note on it. */
export const withCredit = (invoice: Invoice, note: CreditNote, now: Date): Invoice => ({
  ...invoice,
  creditedSubtotal: addMoney(invoice.creditedSubtotal, note.subtotal),
  creditedTotal: addMoney(invoice.creditedTotal, note.total),
  creditNoteIds: [...invoice.creditNoteIds, note.id],
  updatedAt: now.toISOString(),
  version: invoice.version + 1,
});

/** What is still owed on an invoice: its total less the credit notes on it (never below zero). */
export const outstandingOf = (invoice: Invoice): Money => eur(Math.max(0, invoice.total.amount - invoice.creditedTotal.amount));

// ---- how invoices write amounts and quantities (exact, from integers) ----

/** 123456 → "1234.56", −5 → "-0.05": plain decimal euros for CSV, built from the integer cents. */
export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`cents must be a safe integer, got ${cents}`);
  const magnitude = Math.abs(cents);
  return `${cents < 0 ? '-' : ''}${Math.floor(magnitude / 100)}.${String(magnitude % 100).padStart(2, '0')}`;
}

/** GPU-seconds as GPU-hours for display: 4 decimals at most, rounded half up, trailing zeros dropped (5400 → "1.5"). */
export function formatGpuHours(gpuSeconds: number): string {
  const tenThousandths = mulRound(gpuSeconds, 10_000, 3600);
  const whole = Math.floor(tenThousandths / 10_000);
  const fraction = String(tenThousandths % 10_000).padStart(4, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : String(whole);
}
