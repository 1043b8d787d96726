/** The invoice and credit-note schemas of the billing and finance routes (the wire shapes of billing/invoice-wire.ts). */
import { z } from '../zod.ts';
import { INVOICE_STATUSES } from '#domain/invoice.ts';
import { FootprintSchema, MAX, MoneySchema, Period, Timestamp } from '../schemas.ts';

export const InvoiceStatusSchema = z.enum(INVOICE_STATUSES as unknown as [string, ...string[]]).openapi({
  description: '`draft` (not sent: Stripe not configured, or not yet finalized) → `open` → `paid` | `void` | `uncollectible`',
});

const InvoiceLineSchema = z
  .object({
    description: z.string().max(MAX.text),
    amount: MoneySchema.openapi({ description: 'Excluding VAT; negative for discounts' }),
    tax: MoneySchema.openapi({ description: 'VAT of this line, rounded half up on the line' }),
    site: z.string().max(MAX.id).nullable(),
    gpuType: z.string().max(MAX.id).nullable(),
    gpuHours: z.string().max(MAX.short).nullable().openapi({ description: 'GPU-hours charged (decimal, display only); null for discount lines', example: '1344' }),
    meteredGpuHours: z
      .string()
      .max(MAX.short)
      .nullable()
      .openapi({ description: 'On-demand lines: the GPU-hours metered in that month and pool, shown beside the GPU-hours held that the line charges (decimal, display only); null on other lines', example: '8' }),
    unitPrice: MoneySchema.nullable().openapi({ description: 'Per GPU-hour' }),
    usagePeriod: Period.nullable().openapi({ description: 'On-demand lines: the month the usage happened in' }),
    footprint: FootprintSchema.nullable().openapi({ description: 'Energy and carbon of the GPU-hours this line charges (`reserved` for a booking’s lines, `metered` for usage); null for discount lines' }),
  })
  .openapi('InvoiceLine');

export const InvoiceSchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ example: 'inv_01jabc' }),
    orgId: z.string().max(MAX.id),
    kind: z.enum(['reservation', 'extension', 'usage']),
    reservationId: z.string().max(MAX.id).nullable(),
    period: Period.openapi({ example: '2026-11' }),
    status: InvoiceStatusSchema,
    customer: z.object({ name: z.string().max(MAX.name), country: z.string().max(MAX.country), vatNumber: z.string().max(MAX.short).nullable(), billingEmail: z.string().max(MAX.email) }),
    taxTreatment: z.enum(['fr_vat', 'eu_reverse_charge', 'eu_vat', 'export_none']),
    legalMention: z.string().max(MAX.text).nullable().openapi({ description: 'VAT mention printed on the invoice (reverse charge, export)' }),
    lines: z.array(InvoiceLineSchema).max(MAX.list),
    subtotal: MoneySchema,
    tax: MoneySchema,
    total: MoneySchema.openapi({ description: 'subtotal + tax, exactly' }),
    creditedTotal: MoneySchema.openapi({ description: 'Credit notes issued on this invoice, VAT included' }),
    creditNoteIds: z.array(z.string().max(MAX.id)).max(MAX.list),
    stripeSync: z.enum(['pending', 'synced', 'not_configured', 'failed']).openapi({ description: 'Where the invoice stands with Stripe' }),
    note: z
      .string()
      .max(MAX.text)
      .nullable()
      .openapi({
        description:
          'Why the invoice is not (yet) payable in Stripe. Customers (and invoice events) see a plain status ("Being issued: …") when issuing in Stripe failed; finance keys see the detail',
        example: 'Stripe is not configured: this invoice was not sent',
      }),
    stripeInvoiceId: z.string().max(MAX.id).nullable(),
    stripeCustomerId: z.string().max(MAX.id).nullable(),
    hostedInvoiceUrl: z.string().max(MAX.url).nullable().openapi({ description: 'Stripe’s page where the customer pays' }),
    pdfUrl: z.string().max(MAX.url).nullable(),
    createdAt: Timestamp,
    finalizedAt: Timestamp.nullable(),
    paidAt: Timestamp.nullable(),
  })
  .openapi('Invoice');

export const CreditNoteSchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ example: 'cn_01jabc' }),
    orgId: z.string().max(MAX.id),
    invoiceId: z.string().max(MAX.id),
    reservationId: z.string().max(MAX.id).nullable(),
    period: Period,
    reason: z.string().max(MAX.text),
    subtotal: MoneySchema,
    tax: MoneySchema,
    total: MoneySchema.openapi({ description: 'Credited to the customer, VAT included (refunded to the payment when the invoice was paid)' }),
    status: z.enum(['pending', 'issued']),
    stripeSync: z.enum(['pending', 'synced', 'not_configured', 'failed']),
    note: z.string().max(MAX.text).nullable(),
    stripeCreditNoteId: z.string().max(MAX.id).nullable(),
    stripeRefundId: z.string().max(MAX.id).nullable(),
    createdAt: Timestamp,
  })
  .openapi('CreditNote');
