/** The finance CSV export: one row per invoice line (and one negative row per credit note), amounts in decimal euros built exactly from the integer cents. */
import { formatCents, formatGpuHours, type CreditNote, type Invoice } from '#domain/invoice.ts';

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
