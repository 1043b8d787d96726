/**
 * How the portal reads invoices. Billing owns invoices; the portal only lists them through this small
 * port, so billing can be plugged in (createPortalModule({ invoices })) without the portal knowing its
 * storage. Without it the portal shows an empty list.
 */
import type { CreditNote, Invoice, InvoiceStatus } from '#domain/invoice.ts';
import type { Money } from '#domain/money.ts';

export interface PortalInvoice {
  id: string;
  orgId: string;
  /** Billing period `YYYY-MM` the invoice belongs to. */
  period: string | null;
  /** Set for an invoice of one reservation (its confirmation or extension). */
  reservationId: string | null;
  lines: { description: string; amount: Money }[];
  subtotal: Money;
  tax: Money;
  total: Money;
  status: InvoiceStatus;
  stripeInvoiceId: string | null;
  /** Stripe's hosted invoice page; null while Stripe is not configured. */
  hostedInvoiceUrl: string | null;
  pdfUrl: string | null;
  createdAt: string;
  /** Shown beside the invoice to finance only, e.g. that Stripe is not configured. */
  note?: string | null;
  /** Credit notes on this invoice, VAT included (netted off its total). */
  creditedTotal?: Money;
}

export interface InvoiceFilters {
  period?: string | undefined;
  orgId?: string | undefined;
  status?: InvoiceStatus | undefined;
}

export interface PortalInvoices {
  /** Invoices of one org, or of every org when `orgId` is null (finance). */
  list(orgId: string | null, filters: InvoiceFilters): Promise<PortalInvoice[]>;
}

export const noInvoices: PortalInvoices = { list: async () => [] };

/** Only http(s) links to invoice pages are rendered; anything else (e.g. `javascript:`) is dropped. */
export function safeExternalUrl(url: string | null): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.toString() : null;
  } catch {
    return null;
  }
}

/** An invoice with its credit notes, as billing keeps them (the invoice and credit-note pages). */
export interface PortalInvoiceDetail {
  invoice: Invoice;
  creditNotes: CreditNote[];
}
