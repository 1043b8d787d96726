/**
 * Invoices and credit notes (pure: no clock, no I/O). An invoice's lines are whole cents; its VAT is
 * computed per line and rounded on the line (shared/domain/vat.ts), so subtotal = Σ lines, tax = Σ line
 * taxes and total = subtotal + tax exactly, the same way Stripe computes tax rates on invoice items.
 * See docs/billing.md.
 */
import { createHash } from 'node:crypto';
import { encodeTime } from 'ulid';
import { addMoney, applyBps, eur, formatMoney, moneyEquals, mulRound, subtractMoney, sumMoney, type Money } from '#domain/money.ts';
import { onDemandCharge, type PriceLine, type PriceLineKind } from '#domain/pricing.ts';
import type { Org } from '#domain/principal.ts';
import { HOUR_MS, nextPeriod, periodStart } from '#domain/time.ts';
import { invoiceTotals, taxTreatmentFor, type TaxTreatment } from '#domain/vat.ts';

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

// ---- ids ----

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * The id of an org's usage invoice for a period: the same on every run of the close (so a second run,
 * or a crashed one re-run, finds it instead of creating another). ULID-shaped like every other id: its
 * time part is the end of the period, its random part a hash of org and period, so it sorts with the rest.
 */
export function usageInvoiceId(orgId: string, period: string): string {
  const digest = createHash('sha256').update(`usage-invoice\n${orgId}\n${period}`).digest();
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[digest[i]! % 32];
  return `inv_${encodeTime(periodStart(nextPeriod(period)).getTime(), 10).toLowerCase()}${random}`;
}

// ---- formatting (exact, from integers) ----

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

// ---- building ----

export const customerOf = (org: Org): BillingCustomer => ({
  name: org.name,
  country: org.country,
  vatNumber: org.vatNumber,
  billingEmail: org.billingEmail,
});

type DraftLine = Omit<InvoiceLine, 'tax'>;

interface InvoiceHeader {
  id: string;
  org: Org;
  kind: InvoiceKind;
  reservationId: string | null;
  period: string;
  now: Date;
  /** False without Stripe: the invoice stays a draft here, with a note saying so. */
  stripeConfigured: boolean;
}

function assembleInvoice(header: InvoiceHeader, drafts: DraftLine[]): Invoice {
  if (drafts.length === 0) throw new RangeError('An invoice needs at least one line');
  const treatment = taxTreatmentFor(header.org);
  const lines: InvoiceLine[] = drafts.map((l) => ({ ...l, tax: eur(applyBps(l.amount.amount, treatment.rateBps)) }));
  const totals = invoiceTotals(
    lines.map((l) => l.amount),
    treatment.rateBps,
  );
  if (!moneyEquals(totals.tax, sumMoney(lines.map((l) => l.tax)))) throw new Error('line taxes do not add up to the invoice tax');
  const at = header.now.toISOString();
  return {
    id: header.id,
    orgId: header.org.id,
    kind: header.kind,
    reservationId: header.reservationId,
    period: header.period,
    customer: customerOf(header.org),
    taxTreatment: treatment.treatment,
    taxRateBps: treatment.rateBps,
    legalMention: treatment.legalMention,
    lines,
    subtotal: totals.subtotal,
    tax: totals.tax,
    total: totals.total,
    creditedSubtotal: eur(0),
    creditedTotal: eur(0),
    creditNoteIds: [],
    status: 'draft',
    stripeSync: header.stripeConfigured ? 'pending' : 'not_configured',
    note: header.stripeConfigured ? null : STRIPE_NOT_CONFIGURED_INVOICE_NOTE,
    stripeInvoiceId: null,
    stripeCustomerId: header.org.stripeCustomerId,
    hostedInvoiceUrl: null,
    pdfUrl: null,
    lastPaymentError: null,
    createdAt: at,
    updatedAt: at,
    finalizedAt: null,
    paidAt: null,
    closedAt: null,
    version: 1,
  };
}

/** What a reserved booking's lines are about: where, which GPUs, how many, and the window priced by default. */
export interface ReservedBooking {
  id: string;
  poolId: string;
  site: string;
  gpuType: string;
  gpus: number;
  /** The window a base line covers unless its description names an extension window. */
  window: { start: string; end: string };
}

/** "Extension 2026-04-23T00:00:00.000Z → 2026-04-25T00:00:00.000Z: …", as the booking service describes extension lines. */
const EXTENSION_WINDOW = /^Extension (\S+) → (\S+): /;

/**
 * The window the quote priced: from the start to the first extension named in the lines (an extension
 * made while the booking was held is invoiced with it, as its own lines), or to the end.
 */
export function quotedWindow(lines: readonly PriceLine[], start: string, end: string): { start: string; end: string } {
  const firstExtension = lines.map((l) => EXTENSION_WINDOW.exec(l.description)?.[1]).find((s) => s !== undefined);
  return { start, end: firstExtension ?? end };
}

/** GPU-seconds a base line charges: GPUs × the hours of its window (an extension's own window when it names one). */
function baseLineGpuSeconds(line: PriceLine, booking: ReservedBooking): number | null {
  const named = EXTENSION_WINDOW.exec(line.description);
  const start = Date.parse(named?.[1] ?? booking.window.start);
  const end = Date.parse(named?.[2] ?? booking.window.end);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start || (end - start) % HOUR_MS !== 0) return null;
  return booking.gpus * ((end - start) / HOUR_MS) * 3600;
}

/**
 * The invoice of a confirmation (lines = the quote's lines as they are) or of an extension (the
 * extension's lines). Its subtotal must be exactly `expectedSubtotal` (the quote's total, or the
 * extension's price): anything else throws rather than invoicing another amount than was quoted.
 */
export function reservationInvoice(
  header: Omit<InvoiceHeader, 'kind' | 'reservationId'> & { kind: 'reservation' | 'extension' },
  booking: ReservedBooking,
  priceLines: readonly PriceLine[],
  expectedSubtotal: Money,
): Invoice {
  const drafts: DraftLine[] = priceLines.map((line) => {
    const gpuSeconds = line.kind === 'base' ? baseLineGpuSeconds(line, booking) : null;
    const gpuHours = gpuSeconds === null ? 0 : gpuSeconds / 3600;
    return {
      kind: line.kind,
      description: line.description,
      amount: line.amount,
      site: booking.site,
      gpuType: booking.gpuType,
      poolId: booking.poolId,
      gpuSeconds,
      unitPrice: gpuHours > 0 ? eur(mulRound(line.amount.amount, 1, gpuHours)) : null,
      usagePeriod: null,
    };
  });
  const invoice = assembleInvoice({ ...header, reservationId: booking.id }, drafts);
  if (!moneyEquals(invoice.subtotal, expectedSubtotal)) {
    throw new Error(`invoice ${header.id}: lines add up to ${formatMoney(invoice.subtotal)}, the quoted price is ${formatMoney(expectedSubtotal)}`);
  }
  return invoice;
}

/** One pool's on-demand usage to invoice for one month (the closed one, or an earlier one whose usage arrived late). */
export interface UsageCharge {
  usagePeriod: string;
  poolId: string;
  site: string;
  gpuType: string;
  /** "H100 SXM 80GB · Valence–Rovaltain" */
  poolLabel: string;
  /** GPU-seconds not invoiced before. */
  gpuSeconds: number;
  ratePerGpuHour: Money;
  /** Cents for those GPU-seconds (see `usageDelta`). */
  amount: Money;
}

/**
 * What a close adds for one org, period and pool: the metered total now against what earlier closes
 * invoiced. Invoiced cents stay equal to charge(all GPU-seconds invoiced so far), rounded once on the
 * running total, so splitting usage over several closes never gains or loses a cent. Null when
 * nothing is due (no new usage, or too little to make a cent yet: it stays for a later close).
 */
export function usageDelta(
  meteredSeconds: number,
  already: { gpuSeconds: number; amount: number } | null,
  ratePerGpuHour: number,
): { gpuSeconds: number; amount: number; totalSeconds: number; totalAmount: number } | null {
  const billedSeconds = already?.gpuSeconds ?? 0;
  const billedAmount = already?.amount ?? 0;
  if (meteredSeconds <= billedSeconds) return null;
  const totalAmount = onDemandCharge(meteredSeconds, ratePerGpuHour).amount;
  const amount = totalAmount - billedAmount;
  if (amount <= 0) return null;
  return { gpuSeconds: meteredSeconds - billedSeconds, amount, totalSeconds: meteredSeconds, totalAmount };
}

/** The on-demand invoice of an org for `period`: that month's usage per pool, then adjustments for earlier months. */
export function usageInvoice(header: Omit<InvoiceHeader, 'kind' | 'reservationId'>, charges: readonly UsageCharge[]): Invoice {
  const ordered = [...charges].sort((a, b) => (a.usagePeriod === b.usagePeriod ? a.poolId.localeCompare(b.poolId) : b.usagePeriod.localeCompare(a.usagePeriod)));
  const drafts: DraftLine[] = ordered.map((c) => {
    const hours = `${formatGpuHours(c.gpuSeconds)} GPU-h × ${formatMoney(c.ratePerGpuHour)}/GPU-h`;
    const late = c.usagePeriod !== header.period;
    return {
      kind: late ? 'usage_adjustment' : 'usage',
      description: late
        ? `Adjustment: on-demand usage of ${c.usagePeriod} reported after it was invoiced, ${c.poolLabel}: ${hours}`
        : `On-demand ${c.poolLabel}, ${c.usagePeriod}: ${hours}`,
      amount: c.amount,
      site: c.site,
      gpuType: c.gpuType,
      poolId: c.poolId,
      gpuSeconds: c.gpuSeconds,
      unitPrice: c.ratePerGpuHour,
      usagePeriod: c.usagePeriod,
    };
  });
  return assembleInvoice({ ...header, kind: 'usage', reservationId: null }, drafts);
}

// ---- credit notes ----

/**
 * Splits a refund (excluding VAT) over the invoices of a reservation (confirmation, then extensions),
 * in proportion to their subtotals, so the parts add up to the refund exactly and none exceeds what
 * is left to credit on its invoice. A 100 % refund credits every invoice in full.
 */
export function allocateRefund(refund: Money, invoices: readonly { id: string; subtotal: Money; creditedSubtotal: Money }[]): { invoiceId: string; amount: Money }[] {
  const creditable = invoices.map((i) => ({ id: i.id, left: Math.max(0, i.subtotal.amount - i.creditedSubtotal.amount) }));
  const pool = creditable.reduce((sum, i) => sum + i.left, 0);
  if (refund.amount < 0) throw new RangeError('A refund cannot be negative');
  if (refund.amount > pool) throw new RangeError(`The refund ${formatMoney(refund)} exceeds what is left to credit (${formatMoney(eur(pool))})`);
  if (refund.amount === 0) return [];
  const parts: { invoiceId: string; amount: Money }[] = [];
  let given = 0;
  let leftInPool = pool;
  for (const [index, invoice] of creditable.entries()) {
    const isLast = index === creditable.length - 1;
    const share = isLast ? refund.amount - given : Math.min(invoice.left, mulRound(refund.amount - given, invoice.left, leftInPool));
    leftInPool -= invoice.left;
    given += share;
    if (share > 0) parts.push({ invoiceId: invoice.id, amount: eur(share) });
  }
  return parts;
}

/**
 * A credit note of `subtotal` (excluding VAT) on `invoice`. Crediting all that is left of the invoice
 * returns exactly its remaining VAT too (so a full refund gives back its total to the cent); a partial
 * one carries VAT on the credited amount, rounded half up once.
 */
export function creditNoteFor(
  invoice: Invoice,
  input: { id: string; subtotal: Money; reason: string; now: Date; period: string; stripeConfigured: boolean },
): CreditNote {
  const leftSubtotal = subtractMoney(invoice.subtotal, invoice.creditedSubtotal);
  if (input.subtotal.amount <= 0 || input.subtotal.amount > leftSubtotal.amount) {
    throw new RangeError(`A credit note on ${invoice.id} must be between €0.01 and ${formatMoney(leftSubtotal)}, got ${formatMoney(input.subtotal)}`);
  }
  const creditedTax = subtractMoney(invoice.creditedTotal, invoice.creditedSubtotal);
  const tax = input.subtotal.amount === leftSubtotal.amount ? subtractMoney(invoice.tax, creditedTax) : eur(applyBps(input.subtotal.amount, invoice.taxRateBps));
  const first = invoice.lines[0];
  const sameWhere = (pick: (l: InvoiceLine) => string | null) => (invoice.lines.every((l) => pick(l) === pick(first!)) ? pick(first!) : null);
  const at = input.now.toISOString();
  const local = !input.stripeConfigured || invoice.stripeSync === 'not_configured';
  return {
    id: input.id,
    orgId: invoice.orgId,
    invoiceId: invoice.id,
    reservationId: invoice.reservationId,
    period: input.period,
    reason: input.reason,
    site: first ? sameWhere((l) => l.site) : null,
    gpuType: first ? sameWhere((l) => l.gpuType) : null,
    subtotal: input.subtotal,
    tax,
    total: addMoney(input.subtotal, tax),
    status: local ? 'issued' : 'pending',
    stripeSync: local ? 'not_configured' : 'pending',
    note: local ? STRIPE_NOT_CONFIGURED_CREDIT_NOTE_NOTE : null,
    stripeCreditNoteId: null,
    stripeRefundId: null,
    createdAt: at,
    updatedAt: at,
    version: 1,
  };
}

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

// ---- wire shapes ----

const apiLine = (l: InvoiceLine) => ({
  description: l.description,
  amount: l.amount,
  tax: l.tax,
  site: l.site,
  gpuType: l.gpuType,
  gpuHours: l.gpuSeconds === null ? null : formatGpuHours(l.gpuSeconds),
  unitPrice: l.unitPrice,
  usagePeriod: l.usagePeriod,
});

/** The invoice as the API returns it and as `invoice.*` events carry it. */
export function toApiInvoice(i: Invoice) {
  return {
    id: i.id,
    orgId: i.orgId,
    kind: i.kind,
    reservationId: i.reservationId,
    period: i.period,
    status: i.status,
    customer: i.customer,
    taxTreatment: i.taxTreatment,
    legalMention: i.legalMention,
    lines: i.lines.map(apiLine),
    subtotal: i.subtotal,
    tax: i.tax,
    total: i.total,
    creditedTotal: i.creditedTotal,
    creditNoteIds: i.creditNoteIds,
    stripeSync: i.stripeSync,
    note: i.note,
    stripeInvoiceId: i.stripeInvoiceId,
    stripeCustomerId: i.stripeCustomerId,
    hostedInvoiceUrl: i.hostedInvoiceUrl,
    pdfUrl: i.pdfUrl,
    createdAt: i.createdAt,
    finalizedAt: i.finalizedAt,
    paidAt: i.paidAt,
  };
}
export type ApiInvoice = ReturnType<typeof toApiInvoice>;

export function toApiCreditNote(n: CreditNote) {
  return {
    id: n.id,
    orgId: n.orgId,
    invoiceId: n.invoiceId,
    reservationId: n.reservationId,
    period: n.period,
    reason: n.reason,
    subtotal: n.subtotal,
    tax: n.tax,
    total: n.total,
    status: n.status,
    stripeSync: n.stripeSync,
    note: n.note,
    stripeCreditNoteId: n.stripeCreditNoteId,
    stripeRefundId: n.stripeRefundId,
    createdAt: n.createdAt,
  };
}
export type ApiCreditNote = ReturnType<typeof toApiCreditNote>;

// ---- CSV ----

export const CSV_COLUMNS = [
  'Invoice ID',
  'Org',
  'Country',
  'VAT number',
  'Period',
  'Description',
  'Site',
  'GPU type',
  'GPU-hours',
  'Unit price (EUR/GPU-h)',
  'Amount (EUR)',
  'Tax (EUR)',
  'Total (EUR)',
  'Currency',
  'Status',
  'Stripe invoice ID',
  'Stripe customer ID',
  'Document',
] as const;

/** One CSV row per line of the invoice, amounts in decimal euros (exact, from cents). */
export function csvRowsOf(i: Invoice): string[][] {
  return i.lines.map((l) => [
    i.id,
    i.orgId,
    i.customer.country,
    i.customer.vatNumber ?? '',
    i.period,
    l.description,
    l.site ?? '',
    l.gpuType ?? '',
    l.gpuSeconds === null ? '' : formatGpuHours(l.gpuSeconds),
    l.unitPrice ? formatCents(l.unitPrice.amount) : '',
    formatCents(l.amount.amount),
    formatCents(l.tax.amount),
    formatCents(l.amount.amount + l.tax.amount),
    l.amount.currency,
    i.status,
    i.stripeInvoiceId ?? '',
    i.stripeCustomerId ?? '',
    'invoice',
  ]);
}

/**
 * A credit note as one CSV row of negative amounts (excluding VAT, VAT, including VAT) under the
 * invoice it credits, so summing the Amount column of a period nets credit notes off its invoices.
 */
export function csvRowOfCreditNote(n: CreditNote, invoice: Invoice | null): string[] {
  return [
    n.invoiceId,
    n.orgId,
    invoice?.customer.country ?? '',
    invoice?.customer.vatNumber ?? '',
    n.period,
    `Credit note ${n.id}: ${n.reason}`,
    n.site ?? '',
    n.gpuType ?? '',
    '',
    '',
    formatCents(-n.subtotal.amount),
    formatCents(-n.tax.amount),
    formatCents(-n.total.amount),
    n.total.currency,
    n.status,
    invoice?.stripeInvoiceId ?? '',
    invoice?.stripeCustomerId ?? '',
    'credit note',
  ];
}
