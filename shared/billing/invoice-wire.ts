/** Invoices and credit notes as the API returns them and as `invoice.*` and `credit_note.*` events carry them. */
import { formatGpuHours, type CreditNote, type Invoice, type InvoiceLine } from '#domain/invoice.ts';

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
