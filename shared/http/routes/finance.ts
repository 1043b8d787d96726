/**
 * Finance routes over `services.billing`: the monthly close, the Stripe sync pass, finance alerts,
 * credit limits, receivables, revenue and the reconciliation. Registered by the billing module
 * (billing.ts), in the document after the invoices.
 */
import { listScope } from '../cursor.ts';
import { createRoute, z } from '../zod.ts';
import { eur } from '#domain/money.ts';
import { invalidField, notFound } from '#domain/errors.ts';
import { getOrg } from '#store/orgs.ts';
import { getCreditLimit, putCreditLimit, unpaidTotal } from '#store/credit-limits.ts';
import { FINANCE_ALERT_KINDS, listFinanceAlerts } from '#store/finance-alerts.ts';
import { toApiInvoice } from '#billing/invoice-wire.ts';
import { principalOf, requireRole } from '../auth.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, jsonBody, output, security } from '../route.ts';
import { IdParam, IdempotencyHeader, MAX, MoneySchema, PageQuery, Period, Timestamp, pageOf } from '../schemas.ts';

import type { BillingService } from '#billing/service.ts';
import type { App, Services } from '../context.ts';
import { InvoiceSchema } from './invoice-schemas.ts';

const financeOnly = [requireRole(['finance'])];

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

/**
 * A finance report of one month: GET `path?period=YYYY-MM`, answering `{ period, currency: 'EUR', …fields }`
 * (schema `name`).
 */
const monthReport = <P extends string, F extends z.ZodRawShape>(r: { path: P; operationId: string; summary: string; description?: string; name: string; fields: F }) =>
  createRoute({
    method: 'get',
    path: r.path,
    operationId: r.operationId,
    tags: ['Billing'],
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
    security,
    middleware: financeOnly,
    request: { query: z.object({ period: Period }) },
    responses: {
      200: json(z.object({ period: Period, currency: z.literal('EUR'), ...r.fields }).openapi(r.name), r.name),
      ...errorResponses(...COMMON_ERRORS),
    },
  });

const revenue = monthReport({
  path: '/v1/billing/revenue',
  operationId: 'getRevenue',
  summary: 'Revenue of a month by site and GPU type (excluding VAT, net of credit notes, void invoices left out)',
  name: 'Revenue',
  fields: {
    rows: z.array(z.object({ site: z.string().max(MAX.id).nullable(), gpuType: z.string().max(MAX.id).nullable(), gpuHours: z.number(), invoiced: MoneySchema, credited: MoneySchema, net: MoneySchema })).max(MAX.list),
    total: z.object({ invoiced: MoneySchema, credited: MoneySchema, net: MoneySchema }),
  },
});

const Totals = z.object({ count: z.number().int(), subtotal: MoneySchema, tax: MoneySchema, total: MoneySchema });
const reconciliation = monthReport({
  path: '/v1/billing/reconciliation',
  operationId: 'getReconciliation',
  summary: 'invoiced = priced reservations + metered usage − refunds − resale payouts, to the cent',
  description:
    'Each term from its own records: invoices and credit notes of the period; priced reservations from the booking events (confirmations and extensions); metered usage invoiced by the close, recomputed from GPU-seconds; refunds from the cancellation policy. `balanced` when both sides agree and the credit notes are exactly the policy’s refunds. Amounts exclude VAT.',
  name: 'Reconciliation',
  fields: {
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
  },
});

export function registerFinanceRoutes(app: App, services: Services, service: BillingService): void {
  app.openapi(closePeriod, async (c) => {
    const result = await service.closePeriod(c.req.valid('json').period);
    return c.json(output(closePeriod, 200, { period: result.period, created: result.created, invoices: result.invoices.map((i) => toApiInvoice(i, 'finance')) }), 200);
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
}
