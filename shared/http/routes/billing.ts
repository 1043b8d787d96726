/**
 * Billing routes: invoices (customers their own, finance every org's), the CSV export, credit notes,
 * and Stripe's signed webhook (public: its signature is the authentication). The monthly close and
 * finance's reports are in finance.ts, the invoice schemas in invoice-schemas.ts.
 */
import { listScope } from '../cursor.ts';
import { createRoute, z } from '../zod.ts';
import { INVOICE_STATUSES } from '#domain/invoice.ts';
import { toApiCreditNote, toApiInvoice } from '#billing/invoice-wire.ts';
import { principalOf, requireRole } from '../auth.ts';
import { required, type App, type Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, output, security } from '../route.ts';
import { registerFinanceRoutes } from './finance.ts';
import { CreditNoteSchema, InvoiceSchema, InvoiceStatusSchema } from './invoice-schemas.ts';
import { IdParam, IdempotencyHeader, MAX, MoneySchema, PageQuery, Period, pageOf } from '../schemas.ts';

const financeOnly = [requireRole(['finance'])];

const listInvoices = createRoute({
  method: 'get',
  path: '/v1/invoices',
  operationId: 'listInvoices',
  tags: ['Billing'],
  summary: 'Invoices, newest first: your org’s (customer) or every org’s (finance)',
  security,
  middleware: [requireRole(['customer', 'finance'])],
  request: {
    query: PageQuery.extend({
      orgId: z.string().min(1).max(100).optional().openapi({ description: 'Finance: one org only' }),
      period: Period.optional(),
      status: InvoiceStatusSchema.optional(),
    }),
  },
  responses: { 200: json(pageOf(InvoiceSchema, 'InvoicePage'), 'A page of invoices'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const exportCsv = createRoute({
  method: 'get',
  path: '/v1/invoices/export.csv',
  operationId: 'exportInvoicesCsv',
  tags: ['Billing'],
  summary: 'Every invoice line of a period as CSV (streamed)',
  description:
    'One row per invoice line: invoice id, org, country, VAT number, period, description, site, GPU type, GPU-hours, unit price, amount, tax, total, currency, status, Stripe invoice id, Stripe customer id. Amounts in euros with two decimals, exact.',
  security,
  middleware: financeOnly,
  request: { query: z.object({ period: Period }) },
  responses: {
    200: { description: 'CSV with a header row (at most 6 MB: API Gateway and Lambda answer no more)', content: { 'text/csv': { schema: z.string().max(6 * 1024 * 1024) } } },
    ...errorResponses(...COMMON_ERRORS),
  },
});

const getInvoice = createRoute({
  method: 'get',
  path: '/v1/invoices/{id}',
  operationId: 'getInvoice',
  tags: ['Billing'],
  summary: 'One invoice with its lines and credit notes',
  security,
  middleware: [requireRole(['customer', 'finance'])],
  request: { params: IdParam('Invoice', 'inv_01jabc') },
  responses: {
    200: json(InvoiceSchema.extend({ creditNotes: z.array(CreditNoteSchema).max(MAX.list) }).openapi('InvoiceWithCreditNotes'), 'The invoice'),
    ...errorResponses(...COMMON_ERRORS, 'not_found'),
  },
});

const issueCreditNote = createRoute({
  method: 'post',
  path: '/v1/invoices/{id}/credit-notes',
  operationId: 'issueCreditNote',
  tags: ['Billing'],
  summary: 'Credit part or all of an invoice (finance)',
  description:
    'A credit note of `amount` (excluding VAT) on any invoice that is not void; VAT is added at the invoice’s rate (crediting all that is left credits its VAT exactly). Sent to Stripe under our idempotency key `cn-<creditNoteId>`; with an `Idempotency-Key`, a retry returns the same credit note.',
  security,
  middleware: financeOnly,
  request: {
    params: IdParam('Invoice', 'inv_01jabc'),
    headers: IdempotencyHeader,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .object({
              amount: MoneySchema.openapi({ description: 'Credited amount excluding VAT, at most what is left to credit on the invoice' }),
              reason: z.string().min(1).max(500).openapi({ description: 'Why the invoice is credited; printed on the credit note', example: 'Goodwill: 6 hours of degraded interconnect' }),
            })
            .strict(),
        },
      },
    },
  },
  responses: {
    201: json(CreditNoteSchema, 'The credit note'),
    ...errorResponses(...COMMON_ERRORS, 'not_found', 'malformed_json', 'unprocessable', 'invalid_state', 'contention'),
  },
});

const stripeWebhook = createRoute({
  method: 'post',
  path: '/v1/stripe/webhook',
  operationId: 'receiveStripeWebhook',
  tags: ['Billing'],
  summary: 'Stripe events (signed with STRIPE_WEBHOOK_SECRET; no API key)',
  security: [{ StripeSignature: [] }],
  description:
    'The `Stripe-Signature` header is checked on the raw body (300 s tolerance); a bad, missing or stale signature answers 400. Each event id is handled once; out-of-order events never move an invoice backwards.',
  responses: {
    200: json(
      z
        .object({
          received: z.literal(true),
          eventId: z.string().max(MAX.id),
          type: z.string().max(MAX.id),
          outcome: z.enum(['processed', 'duplicate', 'ignored']),
          invoiceId: z.string().max(MAX.id).optional(),
          creditNoteId: z.string().max(MAX.id).optional(),
        })
        .openapi('StripeWebhookReceipt'),
      'Received',
    ),
    ...errorResponses('validation_failed', 'internal'),
  },
});

/** Invoices, the monthly close, finance reports and Stripe's webhook (public: shared/http/modules.ts), over `services.billing`. */
export function registerBillingRoutes(app: App, services: Services): void {
  const service = required(services.billing, 'billing');
  app.openapi(listInvoices, async (c) => {
    const { limit, cursor: sealed, orgId, period, status } = c.req.valid('query');
    const principal = principalOf(c);
    const scope = listScope('invoices', principal, orgId, period, status);
    const cursor = await services.cursors.open(scope, sealed);
    const page = await service.invoicesFor(principal, { limit, cursor, orgId, period, status: status as (typeof INVOICE_STATUSES)[number] | undefined });
    const audience = principal.role === 'finance' ? 'finance' : 'customer';
    return c.json({ data: page.data.map((i) => InvoiceSchema.parse(toApiInvoice(i, audience))), nextCursor: await services.cursors.seal(scope, page.nextCursor) }, 200);
  });
  app.openapi(exportCsv, async (c) => {
    const { period } = c.req.valid('query');
    return c.body(service.exportCsv(period), 200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="invoices-${period}.csv"`,
      'cache-control': 'no-store',
    });
  });
  app.openapi(getInvoice, async (c) => {
    const principal = principalOf(c);
    const audience = principal.role === 'finance' ? 'finance' : 'customer';
    const { invoice, creditNotes } = await service.invoiceFor(principal, c.req.valid('param').id);
    return c.json(
      { ...InvoiceSchema.parse(toApiInvoice(invoice, audience)), creditNotes: creditNotes.map((n) => CreditNoteSchema.parse(toApiCreditNote(n, audience))) },
      200,
    );
  });
  app.openapi(issueCreditNote, async (c) => {
    const body = c.req.valid('json');
    const note = await service.issueCreditNote(principalOf(c), c.req.valid('param').id, {
      subtotal: body.amount,
      reason: body.reason,
      idempotencyKey: c.req.valid('header')['idempotency-key'],
    });
    return c.json(CreditNoteSchema.parse(toApiCreditNote(note, 'finance')), 201);
  });
  registerFinanceRoutes(app, services, service);
  app.openapi(stripeWebhook, async (c) => {
    const receipt = await service.receiveStripeWebhook(await c.req.text(), c.req.header('stripe-signature'));
    return c.json(output(stripeWebhook, 200, { received: true as const, ...receipt }), 200);
  });
}
