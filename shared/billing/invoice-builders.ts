/**
 * Building invoices and credit notes (pure: no clock, no I/O). An invoice's lines are whole cents; its
 * VAT is computed per line and rounded on the line (shared/domain/vat.ts), so subtotal = Σ lines, tax =
 * Σ line taxes and total = subtotal + tax exactly, the same way Stripe computes tax rates on invoice
 * items. See docs/billing.md.
 */
import { createHash } from 'node:crypto';
import { encodeTime } from 'ulid';
import {
  STRIPE_NOT_CONFIGURED_CREDIT_NOTE_NOTE,
  STRIPE_NOT_CONFIGURED_INVOICE_NOTE,
  formatGpuHours,
  type BillingCustomer,
  type CreditNote,
  type Invoice,
  type InvoiceKind,
  type InvoiceLine,
} from '#domain/invoice.ts';
import { addMoney, applyBps, eur, formatMoney, moneyEquals, mulRound, subtractMoney, sumMoney, type Money } from '#domain/money.ts';
import { onDemandCharge, type PriceLine } from '#domain/pricing.ts';
import type { Org } from '#domain/principal.ts';
import { HOUR_MS, nextPeriod, periodStart } from '#domain/time.ts';
import { invoiceTotals, lineTaxes, taxTreatmentFor } from '#domain/vat.ts';

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
  const shares = lineTaxes(
    drafts.map((l) => l.amount),
    treatment.rateBps,
  );
  const lines: InvoiceLine[] = drafts.map((l, index) => ({ ...l, tax: shares[index]! }));
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

/**
 * The window the quote priced: from the start to the first extension window the lines carry (an extension
 * made while the booking was held is invoiced with it, as its own lines), or to the end.
 */
export function quotedWindow(lines: readonly PriceLine[], start: string, end: string): { start: string; end: string } {
  const firstExtension = lines.find((l) => l.window !== undefined)?.window;
  return { start, end: firstExtension?.start ?? end };
}

/** GPU-seconds a base line charges: GPUs × the hours of its window (an extension's own window when it carries one). */
function baseLineGpuSeconds(line: PriceLine, booking: ReservedBooking): number | null {
  const start = Date.parse(line.window?.start ?? booking.window.start);
  const end = Date.parse(line.window?.end ?? booking.window.end);
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
  /** `held`: GPUs × seconds from start to stop (how on-demand is billed); `metered`: a month closed before that. */
  basis: 'held' | 'metered';
  /** Held lines: the metered GPU-seconds of that month and pool, shown beside (utilization, footprint); null otherwise. */
  meteredGpuSeconds: number | null;
}

/** "(metered 12.5 GPU-h, 42 % of the time held)": utilization shown beside a held line, display only. */
const meteredBeside = (held: number, metered: number): string =>
  ` (metered ${formatGpuHours(metered)} GPU-h, ${held > 0 ? Math.round((metered * 100) / held) : 0} % of the time held)`;

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
    const held = c.basis === 'held';
    const hours = `${formatGpuHours(c.gpuSeconds)} GPU-h${held ? ' held' : ''} × ${formatMoney(c.ratePerGpuHour)}/GPU-h`;
    const beside = held && c.meteredGpuSeconds !== null ? meteredBeside(c.gpuSeconds, c.meteredGpuSeconds) : '';
    const late = c.usagePeriod !== header.period;
    return {
      kind: late ? 'usage_adjustment' : 'usage',
      description: late
        ? held
          ? `Adjustment: on-demand of ${c.usagePeriod}, ${c.poolLabel}: ${hours}${beside}`
          : `Adjustment: on-demand usage of ${c.usagePeriod} reported after it was invoiced, ${c.poolLabel}: ${hours}`
        : `On-demand ${c.poolLabel}, ${c.usagePeriod}: ${hours}${beside}`,
      amount: c.amount,
      site: c.site,
      gpuType: c.gpuType,
      poolId: c.poolId,
      gpuSeconds: c.gpuSeconds,
      unitPrice: c.ratePerGpuHour,
      usagePeriod: c.usagePeriod,
      ...(held ? { meteredGpuSeconds: c.meteredGpuSeconds } : {}),
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
