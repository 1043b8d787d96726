import { listScope } from '../cursor.ts';
import { createRoute, z } from '../zod.ts';
import { MAX_LIMIT_CENTS } from '#domain/budget.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, jsonBody, security } from '../route.ts';
import { IdParam, IdempotencyHeader, MAX, MoneySchema, PageQuery, Period, Timestamp, pageOf } from '../schemas.ts';


const LimitInput = (min: number, description: string) =>
  z
    .object({
      amount: z.number().int().min(min).max(MAX_LIMIT_CENTS).openapi({ description, example: 500_000 }),
      currency: z.literal('EUR'),
    })
    .strict();

const Thresholds = z
  .array(z.number().int().min(1).max(100))
  .max(10)
  .superRefine((list, ctx) => {
    list.forEach((p, i) => {
      if (i > 0 && p <= list[i - 1]!) ctx.addIssue({ code: 'custom', path: [i], message: 'thresholds must be sorted in increasing order, without repeats' });
    });
  })
  .openapi({ description: 'Percentages of the limit (integers 1–100, increasing) whose crossing by `spent` emits `budget.threshold_reached`, once each per month', example: [50, 80, 100] });

export const BudgetInputSchema = z
  .object({
    monthlyLimit: LimitInput(1, 'Monthly limit in EUR cents (at least 1)').openapi({ description: 'What the org may spend per calendar month (UTC), excluding VAT' }),
    alertThresholdsPct: Thresholds.default([50, 80, 100]),
    enforce: z.boolean().default(false).openapi({ description: 'Refuse (402 budget-exceeded) a hold, extend or on-demand start whose price would take spent + committed over the limit' }),
    stopOnDemandAtLimit: z
      .boolean()
      .default(false)
      .openapi({ description: 'Stop running on-demand reservations when spent + held bookings reach the limit (reserved bookings are never cut)' }),
  })
  .strict()
  .openapi('BudgetInput');

export const BudgetSchema = z
  .object({
    monthlyLimit: MoneySchema,
    alertThresholdsPct: z.array(z.number().int()).max(10),
    enforce: z.boolean(),
    stopOnDemandAtLimit: z.boolean(),
    period: Period.openapi({ description: 'The calendar month (UTC) of the figures', example: '2026-12' }),
    spent: MoneySchema.openapi({
      description: 'Reserved bookings invoiced this month (confirmations, extensions) − credit notes − resale earnings + on-demand charges so far (GPU-seconds held × rate)',
    }),
    committed: MoneySchema.openapi({ description: 'Held bookings, plus the part of a running on-demand reservation’s first hour not charged yet' }),
    forecast: MoneySchema.openapi({ description: 'spent + committed + running on-demand projected to the end of the month at its current rate' }),
    remaining: MoneySchema.openapi({ description: 'monthlyLimit − spent − committed (negative when on-demand ran past the limit)' }),
    thresholdsReached: z.array(z.number().int()).max(10).openapi({ description: 'Thresholds whose alert was sent this month', example: [50] }),
    breakdown: z
      .object({
        reserved: MoneySchema.openapi({ description: 'The reserved part of spent' }),
        onDemand: MoneySchema.openapi({ description: 'The on-demand part of spent' }),
        held: MoneySchema.openapi({ description: 'The held bookings part of committed' }),
        onDemandFirstHours: MoneySchema.openapi({ description: 'The running on-demand part of committed' }),
      })
      .openapi({ description: 'spent and committed by kind' }),
    byDay: z
      .array(z.object({ date: z.string().max(MAX.short).openapi({ example: '2026-12-03' }), reserved: MoneySchema, onDemand: MoneySchema })).max(31)
      .openapi({ description: 'Month-to-date spend by day (UTC): reserved (invoiced that day, net of credits) and on-demand (held that day)' }),
    updatedAt: Timestamp.openapi({ description: 'When the budget settings last changed' }),
  })
  .openapi('Budget');

const ApiKeyViewSchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ example: 'key_01jabc' }),
    prefix: z.string().max(MAX.id).openapi({ description: 'The first characters of the key (the key is shown once, at creation)', example: 'gm_live_Abc1' }),
    role: z.enum(['customer', 'finance', 'operator', 'meter']),
    orgId: z.string().max(MAX.id).nullable(),
    orgRole: z.enum(['admin', 'member']).nullable(),
    revoked: z.boolean(),
    createdAt: Timestamp,
    monthlySpendLimit: MoneySchema.nullable().openapi({ description: 'Monthly limit on what bookings made with this key spend and commit; null: none' }),
    monthToDate: z
      .object({ period: Period, spent: MoneySchema, committed: MoneySchema })
      .openapi({ description: 'What bookings made with this key spent and committed this month' }),
  })
  .openapi('ApiKeySummary');

const getBudget = createRoute({
  method: 'get',
  path: '/v1/budget',
  operationId: 'getBudget',
  tags: ['Budgets'],
  summary: "The org's monthly budget with spent, committed, forecast and remaining",
  security,
  middleware: [requireRole(['customer'])],
  request: { query: z.object({ period: Period.optional().openapi({ description: 'Month (default: this one)', example: '2026-12' }) }) },
  responses: { 200: json(BudgetSchema, 'The budget and its figures'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const putBudget = createRoute({
  method: 'put',
  path: '/v1/budget',
  operationId: 'setBudget',
  tags: ['Budgets'],
  summary: 'Set the org’s monthly budget, alerts and hard caps (org admins)',
  security,
  middleware: [requireRole(['customer'], { orgAdmin: true })],
  request: { headers: IdempotencyHeader, body: jsonBody(BudgetInputSchema) },
  responses: { 200: json(BudgetSchema, 'The budget as set, with this month’s figures'), ...errorResponses(...COMMON_ERRORS, 'malformed_json', 'contention') },
});

const deleteBudget = createRoute({
  method: 'delete',
  path: '/v1/budget',
  operationId: 'deleteBudget',
  tags: ['Budgets'],
  summary: 'Remove the org’s budget (org admins); spend is still recorded',
  security,
  middleware: [requireRole(['customer'], { orgAdmin: true })],
  responses: { 204: { description: 'Removed (or there was none)' }, ...errorResponses(...COMMON_ERRORS, 'contention') },
});

const listKeys = createRoute({
  method: 'get',
  path: '/v1/api-keys',
  operationId: 'listApiKeys',
  tags: ['Budgets'],
  summary: 'API keys of the org (org admins: their own org; operators: ?orgId=)',
  security,
  middleware: [requireRole(['customer', 'operator'], { orgAdmin: true })],
  request: { query: PageQuery.extend({ orgId: z.string().max(100).optional().openapi({ description: 'Operators: whose keys; org admins: their own org only' }) }) },
  responses: { 200: json(pageOf(ApiKeyViewSchema, 'ApiKeyPage'), 'A page of keys, oldest first'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const patchKey = createRoute({
  method: 'patch',
  path: '/v1/api-keys/{id}',
  operationId: 'updateApiKey',
  tags: ['Budgets'],
  summary: 'Set or clear a key’s monthly spend limit (org admins over their own org’s keys; operators)',
  security,
  middleware: [requireRole(['customer', 'operator'], { orgAdmin: true })],
  request: {
    params: IdParam('API key', 'key_01jabc'),
    body: jsonBody(
      z
        .object({
          monthlySpendLimit: LimitInput(0, 'Monthly limit in EUR cents (0 refuses every booking made with the key)')
            .nullable()
            .openapi({ description: 'Limit on what bookings made with this key spend and commit per month; null removes it' }),
        })
        .strict(),
    ),
  },
  responses: { 200: json(ApiKeyViewSchema, 'The key with its limit'), ...errorResponses(...COMMON_ERRORS, 'malformed_json', 'not_found', 'unprocessable', 'contention') },
});

export function registerBudgetRoutes(app: App, services: Services) {
  const { budgets } = services;
  app.openapi(getBudget, async (c) => c.json(BudgetSchema.parse(await budgets.get(principalOf(c), c.req.valid('query').period)), 200));
  app.openapi(putBudget, async (c) => c.json(BudgetSchema.parse(await budgets.put(principalOf(c), c.req.valid('json'))), 200));
  app.openapi(deleteBudget, async (c) => {
    await budgets.remove(principalOf(c));
    return c.body(null, 204);
  });
  app.openapi(listKeys, async (c) => {
    const { cursor, ...query } = c.req.valid('query');
    const principal = principalOf(c);
    const scope = listScope('api-keys', principal, query.orgId);
    const page = await budgets.listKeys(principal, { ...query, cursor: await services.cursors.open(scope, cursor) });
    return c.json(pageOf(ApiKeyViewSchema, 'ApiKeyPage').parse({ ...page, nextCursor: await services.cursors.seal(scope, page.nextCursor) }), 200);
  });
  app.openapi(patchKey, async (c) => {
    const { monthlySpendLimit } = c.req.valid('json');
    return c.json(ApiKeyViewSchema.parse(await budgets.setKeyLimit(principalOf(c), c.req.valid('param').id, monthlySpendLimit)), 200);
  });
}
