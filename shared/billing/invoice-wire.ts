/** Invoices and credit notes as the API returns them and as `invoice.*` and `credit_note.*` events carry them. */
import { formatGpuHours, type CreditNote, type Invoice, type InvoiceLine, type StripeSync } from '#domain/invoice.ts';

/**
 * Who reads: customers (the API, their events and webhooks) see a plain status where issuing in
 * Stripe went wrong, never the internal detail (issue 15, finding 4: "Stripe's invoice does not match
 * this one: … subtotal 34487, expected 34387"); finance sees the detail.
 */
export type InvoiceAudience = 'customer' | 'finance';

/** What a customer is told while an invoice or credit note is not (yet) in Stripe as it should be. */
export const BEING_ISSUED_NOTE = 'Being issued: our finance team is completing it; the payment page follows.';

/** A note is at most this long on the wire (the API document's limit): Stripe's own error text is cut. */
export const MAX_NOTE_LENGTH = 2000;

const clip = (note: string | null): string | null => (note !== null && note.length > MAX_NOTE_LENGTH ? `${note.slice(0, MAX_NOTE_LENGTH - 1)}…` : note);

const noteFor = (sync: StripeSync, note: string | null, audience: InvoiceAudience): string | null =>
  clip(audience === 'finance' || sync !== 'failed' ? note : BEING_ISSUED_NOTE);

const apiLine = (l: InvoiceLine) => ({
  description: l.description,
  amount: l.amount,
  tax: l.tax,
  site: l.site,
  gpuType: l.gpuType,
  gpuHours: l.gpuSeconds === null ? null : formatGpuHours(l.gpuSeconds),
  meteredGpuHours: l.meteredGpuSeconds === null || l.meteredGpuSeconds === undefined ? null : formatGpuHours(l.meteredGpuSeconds),
  unitPrice: l.unitPrice,
  usagePeriod: l.usagePeriod,
  footprint: l.footprint ?? null,
});

/** The invoice as the API returns it and as `invoice.*` events carry it (customers' view unless finance reads). */
export function toApiInvoice(i: Invoice, audience: InvoiceAudience = 'customer') {
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
    note: noteFor(i.stripeSync, i.note, audience),
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

export function toApiCreditNote(n: CreditNote, audience: InvoiceAudience = 'customer') {
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
    note: noteFor(n.stripeSync, n.note, audience),
    stripeCreditNoteId: n.stripeCreditNoteId,
    stripeRefundId: n.stripeRefundId,
    createdAt: n.createdAt,
  };
}
export type ApiCreditNote = ReturnType<typeof toApiCreditNote>;
