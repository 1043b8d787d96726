/**
 * Billing routes: invoices (customers their own, finance every org's), the CSV export, the monthly
 * close, finance reports, and Stripe's signed webhook (public: its signature is the authentication).
 */
import { listScope } from '../cursor.ts';
import { createRoute, z } from '@hono/zod-openapi';
import { INVOICE_STATUSES } from '#domain/invoice.ts';
import { eur } from '#domain/money.ts';
import { invalidField, notFound } from '#domain/errors.ts';
import { getOrg } from '#store/orgs.ts';
import { getCreditLimit, putCreditLimit, unpaidTotal } from '#store/credit-limits.ts';
import { FINANCE_ALERT_KINDS, listFinanceAlerts } from '#store/finance-alerts.ts';
import { toApiCreditNote, toApiInvoice } from '#billing/invoice-wire.ts';
import { principalOf, requireRole } from '../auth.ts';
import { required, type AppModule } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, jsonBody, output, security } from '../route.ts';
import { FootprintSchema, IdParam, IdempotencyHeader, MAX, MoneySchema, PageQuery, Period, Timestamp, pageOf } from '../schemas.ts';

const financeOnly = [requireRole(['finance'])];

const InvoiceStatusSchema = z.enum(INVOICE_STATUSES as unknown as [string, ...string[]]).openapi({
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

const InvoiceSchema = z
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

const CreditNoteSchema = z
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

const closePeriod = createRoute({
  method: 'post',
  path: '/v1/billing/close',
  operationId: 'closeBillingPeriod',
  tags: ['Billing'],
  summary: 'Invoice each org’s on-demand usage of a past month (idempotent)',
  description:
    'One invoice per org with usage: that month’s GPU-hours per pool at the on-demand rate, plus adjustment lines for usage of earlier months reported after they were invoiced. Running it again creates nothing new and returns the same invoices.',
  security,
  middleware: financeOnly,
  request: { headers: IdempotencyHeader, body: { required: true, content: { 'application/json': { schema: z.object({ period: Period }).strict() } } } },
  responses: {
    200: json(
      z.object({ period: Period, created: z.number().int().openapi({ description: 'Invoices created by this call' }), invoices: z.array(InvoiceSchema).max(MAX.list) }).openapi('BillingClose'),
      'The period’s usage invoices',
    ),
    ...errorResponses(...COMMON_ERRORS, 'malformed_json', 'unprocessable', 'contention'),
  },
});

const syncPending = createRoute({
  method: 'post',
  path: '/v1/billing/sync',
  operationId: 'syncBillingWithStripe',
  tags: ['Billing'],
  summary: 'Finish sending to Stripe what is pending (also runs every minute)',
  security,
  middleware: financeOnly,
  responses: { 200: json(z.object({ synced: z.number().int(), failed: z.number().int() }), 'What this pass did'), ...errorResponses(...COMMON_ERRORS) },
});

const FinanceAlertSchema = z
  .object({
    id: z.string().max(MAX.id),
    at: Timestamp.openapi({ description: 'When it was raised (RFC 3339 UTC)' }),
    kind: z.enum(FINANCE_ALERT_KINDS).openapi({ description: '`stripe_invoice_mismatch`: Stripe’s invoice did not add up to ours; ours is not sent and shows customers “being issued”' }),
    orgId: z.string().max(MAX.id),
    invoiceId: z.string().max(MAX.id).openapi({ description: 'Our invoice (its `note` holds the same detail for finance)' }),
    stripeInvoiceId: z.string().max(MAX.id).nullable().openapi({ description: 'Stripe’s invoice it concerns, if one was made' }),
    stripeAction: z.enum(['draft_deleted', 'voided', 'none']).openapi({
      description: 'What was done in Stripe: the draft deleted before it was finalized (never sent), the finalized invoice voided (nothing to pay on it), or nothing',
    }),
    detail: z.string().max(MAX.text).openapi({ description: 'The amounts that differed' }),
  })
  .openapi('FinanceAlert');

const listAlerts = createRoute({
  method: 'get',
  path: '/v1/billing/alerts',
  operationId: 'listFinanceAlerts',
  tags: ['Billing'],
  summary: 'Alerts for finance, newest first: invoices Stripe did not take as ours (deleted or voided there)',
  security,
  middleware: financeOnly,
  request: { query: PageQuery },
  responses: { 200: json(pageOf(FinanceAlertSchema, 'FinanceAlertPage'), 'Alerts'), ...errorResponses(...COMMON_ERRORS) },
});

const CreditLimitSchema = z
  .object({
    orgId: z.string().max(MAX.id),
    creditLimit: MoneySchema.nullable().openapi({ description: 'Unpaid commitments (invoices not paid or void, VAT included) the org may have; null: no limit' }),
    unpaid: MoneySchema.openapi({ description: 'What the org owes now: its draft, open and uncollectible invoices less their credit notes' }),
    updatedAt: Timestamp.nullable(),
    updatedBy: z.string().max(MAX.id).nullable().openapi({ description: 'Key id of the finance key that set it' }),
  })
  .openapi('CreditLimit');

const orgCreditLimitParams = IdParam('Org', 'org_lumiere');
const getCreditLimitRoute = createRoute({
  method: 'get',
  path: '/v1/orgs/{id}/credit-limit',
  operationId: 'getCreditLimit',
  tags: ['Billing'],
  summary: 'An org’s credit limit and what it owes now (finance)',
  security,
  middleware: financeOnly,
  request: { params: orgCreditLimitParams },
  responses: { 200: json(CreditLimitSchema, 'The credit limit'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const putCreditLimitRoute = createRoute({
  method: 'put',
  path: '/v1/orgs/{id}/credit-limit',
  operationId: 'setCreditLimit',
  tags: ['Billing'],
  summary: 'Set an org’s credit limit: beyond it, confirming or extending needs open invoices paid first (402 credit-limit)',
  security,
  middleware: financeOnly,
  request: {
    params: orgCreditLimitParams,
    body: jsonBody(z.object({ creditLimit: MoneySchema.nullable().openapi({ description: 'VAT included; null removes the limit' }) }).strict().openapi('CreditLimitInput')),
  },
  responses: { 200: json(CreditLimitSchema, 'The credit limit as set'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const Bucket = z.object({ bucket: z.enum(['0-30', '31-60', '61-90', '>90']), count: z.number().int(), amount: MoneySchema });
const receivables = createRoute({
  method: 'get',
  path: '/v1/billing/receivables',
  operationId: 'getReceivables',
  tags: ['Billing'],
  summary: 'Open invoices by age (days since finalized)',
  security,
  middleware: financeOnly,
  responses: {
    200: json(
      z
        .object({
          asOf: Timestamp,
          total: MoneySchema,
          buckets: z.array(Bucket).max(MAX.list),
          invoices: z.array(
            z.object({
              invoiceId: z.string().max(MAX.id),
              orgId: z.string().max(MAX.id),
              customerName: z.string().max(MAX.name),
              period: Period,
              total: MoneySchema,
              outstanding: MoneySchema,
              finalizedAt: Timestamp.nullable(),
              ageDays: z.number().int(),
              bucket: z.string().max(MAX.id),
              hostedInvoiceUrl: z.string().max(MAX.url).nullable(),
            }),
          ).max(MAX.list),
        })
        .openapi('Receivables'),
      'Receivables',
    ),
    ...errorResponses(...COMMON_ERRORS),
  },
});

const revenue = createRoute({
  method: 'get',
  path: '/v1/billing/revenue',
  operationId: 'getRevenue',
  tags: ['Billing'],
  summary: 'Revenue of a month by site and GPU type (excluding VAT, net of credit notes, void invoices left out)',
  security,
  middleware: financeOnly,
  request: { query: z.object({ period: Period }) },
  responses: {
    200: json(
      z
        .object({
          period: Period,
          currency: z.literal('EUR'),
          rows: z.array(z.object({ site: z.string().max(MAX.id).nullable(), gpuType: z.string().max(MAX.id).nullable(), gpuHours: z.number(), invoiced: MoneySchema, credited: MoneySchema, net: MoneySchema })).max(MAX.list),
          total: z.object({ invoiced: MoneySchema, credited: MoneySchema, net: MoneySchema }),
        })
        .openapi('Revenue'),
      'Revenue',
    ),
    ...errorResponses(...COMMON_ERRORS),
  },
});

const Totals = z.object({ count: z.number().int(), subtotal: MoneySchema, tax: MoneySchema, total: MoneySchema });
const reconciliation = createRoute({
  method: 'get',
  path: '/v1/billing/reconciliation',
  operationId: 'getReconciliation',
  tags: ['Billing'],
  summary: 'invoiced = priced reservations + metered usage − refunds − resale payouts, to the cent',
  description:
    'Each term from its own records: invoices and credit notes of the period; priced reservations from the booking events (confirmations and extensions); metered usage invoiced by the close, recomputed from GPU-seconds; refunds from the cancellation policy. `balanced` when both sides agree and the credit notes are exactly the policy’s refunds. Amounts exclude VAT.',
  security,
  middleware: financeOnly,
  request: { query: z.object({ period: Period }) },
  responses: {
    200: json(
      z
        .object({
          period: Period,
          currency: z.literal('EUR'),
          invoices: Totals.extend({ voided: MoneySchema }),
          creditNotes: Totals,
          invoiced: MoneySchema.openapi({ description: 'invoices − credit notes' }),
          pricedReservations: MoneySchema,
          meteredUsage: MoneySchema.openapi({ description: 'On-demand invoiced by this period’s close: the GPU-seconds held (GPUs × seconds from start to stop), or metered usage for months closed before on-demand was billed on held time' }),
          refundsByPolicy: MoneySchema,
          expected: MoneySchema.openapi({ description: 'pricedReservations + meteredUsage − refundsByPolicy − resale.paidOutByCreditNotes' }),
          difference: MoneySchema,
          checks: z.object({
            invoicesMatchPricedReservationsAndUsage: z.boolean(),
            creditNotesMatchPolicyRefunds: z.boolean().openapi({ description: 'credit notes other than resale payouts = the cancellation policy’s refunds' }),
            resaleBuyersPriceMatchesEarningsAndFees: z.boolean().openapi({ description: 'for the fills settled in the period: buyers’ price for the resold GPU-hours = sellers’ earnings + fees, to the cent' }),
          }),
          resale: z
            .object({
              fills: z.number().int().openapi({ description: 'Listing fills settled (buyer confirmed) in the period' }),
              gpuHours: z.number().int().openapi({ description: 'GPU-hours they resold' }),
              buyersPrice: MoneySchema.openapi({ description: 'What the buyers paid for those GPU-hours (part of pricedReservations)' }),
              sellerEarnings: MoneySchema.openapi({ description: 'Credited to the sellers' }),
              fees: MoneySchema.openapi({ description: 'The platform’s resale fees' }),
              paidOutByCreditNotes: MoneySchema.openapi({ description: 'Credit notes of the period that paid sellers’ earnings out on their invoices (earnings of a fill settled late in a month can be paid out the next month)' }),
            })
            .openapi({ description: 'Resale in the period (docs/resale.md)' }),
          balanced: z.boolean(),
          usageAwaitingNextClose: MoneySchema.openapi({ description: 'Usage of this month metered after its close: invoiced as an adjustment by the next close' }),
        })
        .openapi('Reconciliation'),
      'Reconciliation',
    ),
    ...errorResponses(...COMMON_ERRORS),
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

/** Invoices, the monthly close, finance reports and Stripe's webhook, over `services.billing`. */
export const billingModule: AppModule = {
  name: 'billing',
  publicPaths: ['/v1/stripe/webhook'],
  register(app, services) {
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
    app.openapi(closePeriod, async (c) => {
      const result = await service.closePeriod(c.req.valid('json').period);
      return c.json({ period: result.period, created: result.created, invoices: result.invoices.map((i) => InvoiceSchema.parse(toApiInvoice(i, 'finance'))) }, 200);
    });
    app.openapi(syncPending, async (c) => c.json(output(syncPending, 200, await service.syncPending()), 200));
    const creditLimitView = async (orgId: string) => {
      if (!(await getOrg(services.db, orgId))) throw notFound('Org', orgId);
      const limit = await getCreditLimit(services.db, orgId);
      return output(getCreditLimitRoute, 200, {
        orgId,
        creditLimit: limit?.amount === null || limit === null ? null : eur(limit.amount),
        unpaid: eur(await unpaidTotal(services.db, orgId)),
        updatedAt: limit?.updatedAt ?? null,
        updatedBy: limit?.updatedBy ?? null,
      });
    };
    app.openapi(getCreditLimitRoute, async (c) => c.json(await creditLimitView(c.req.valid('param').id), 200));
    app.openapi(putCreditLimitRoute, async (c) => {
      const { id } = c.req.valid('param');
      if (!(await getOrg(services.db, id))) throw notFound('Org', id);
      const { creditLimit } = c.req.valid('json');
      if (creditLimit && creditLimit.amount < 0) throw invalidField('creditLimit.amount', 'must be zero or more');
      await putCreditLimit(services.db, { orgId: id, amount: creditLimit ? creditLimit.amount : null, updatedAt: services.clock().toISOString(), updatedBy: principalOf(c).keyId });
      return c.json(await creditLimitView(id), 200);
    });
    app.openapi(listAlerts, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const scope = listScope('finance-alerts', principalOf(c));
      const page = await listFinanceAlerts(services.db, limit, await services.cursors.open(scope, cursor));
      return c.json(output(listAlerts, 200, { ...page, nextCursor: await services.cursors.seal(scope, page.nextCursor) }), 200);
    });
    app.openapi(receivables, async (c) => c.json(output(receivables, 200, await service.receivables()), 200));
    app.openapi(revenue, async (c) => c.json(output(revenue, 200, await service.revenue(c.req.valid('query').period)), 200));
    app.openapi(reconciliation, async (c) => c.json(output(reconciliation, 200, await service.reconciliation(c.req.valid('query').period)), 200));
    app.openapi(stripeWebhook, async (c) => {
      const receipt = await service.receiveStripeWebhook(await c.req.text(), c.req.header('stripe-signature'));
      return c.json(output(stripeWebhook, 200, { received: true as const, ...receipt }), 200);
    });
  },
};
