/** `GET /v1/limits` (an org's limits and what it uses of them) and the operator's overrides per org and pool. */
import { getCreditLimit, unpaidTotal } from '#store/credit-limits.ts';
import { createRoute, z } from '../zod.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import { peakCapacity } from '#domain/catalog.ts';
import { DEFAULT_HOLD_LIMITS, heldGpusLimit, mergeLimits, type HoldLimits } from '#domain/limits.ts';
import { epochHour, fromEpochHour } from '#domain/time.ts';
import { putLimitOverrides, readHoldLedger, readLimitOverrides, type LimitScope } from '#store/hold-limits.ts';
import { getOrg } from '#store/orgs.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { DEFAULT_RATE_LIMITS, rateUsage } from '../rate-limit.ts';
import { output, security } from '../route.ts';
import { MAX, Slug, Timestamp } from '../schemas.ts';


const LimitSchema = z
  .object({
    name: z.string().max(MAX.name).openapi({ description: 'The limit: `open-holds`, `held-gpus:<poolId>`, `same-window-holds-per-hour`, a rate (`quotes-per-60s`, …), or `credit-limit-cents` (unpaid invoices, VAT included, where finance set a credit limit)', example: 'open-holds' }),
    limit: z.number().int().openapi({ description: 'The most allowed', example: 10 }),
    used: z.number().int().openapi({ description: 'What the org (or, for `writes-…`, this key) uses of it now', example: 2 }),
    resetsAt: Timestamp.nullable().openapi({ description: 'When `used` starts again from zero; null for limits that are freed by confirming or cancelling holds', example: null }),
  })
  .openapi('Limit');

const list = createRoute({
  method: 'get',
  path: '/v1/limits',
  operationId: 'listLimits',
  tags: ['Booking'],
  summary: 'Your org’s hoarding and rate limits, with what it uses of each',
  description:
    'Hoarding limits answer `409 …/hold-limit` naming the limit when a hold would pass them; rate limits answer `429 …/rate-limited`. See README "Limits" for the defaults and why.',
  security,
  middleware: [requireRole(['customer'])],
  responses: {
    200: { description: 'The limits', content: { 'application/json': { schema: z.object({ data: z.array(LimitSchema).max(MAX.list) }).openapi('LimitList') } } },
    ...errorResponses(...COMMON_ERRORS),
  },
});

const OverridesSchema = z
  .object({
    openHolds: z.number().int().min(0).max(1000).optional().openapi({ description: `Open holds at once (default ${DEFAULT_HOLD_LIMITS.openHolds})`, example: 10 }),
    heldGpusPercent: z.number().int().min(0).max(100).optional().openapi({ description: `Unconfirmed GPUs per pool, % of the pool (default ${DEFAULT_HOLD_LIMITS.heldGpusBps / 100})`, example: 50 }),
    sameWindowHoldsPerHour: z.number().int().min(1).max(100).optional().openapi({ description: `Holds on one pool and window per clock hour (default ${DEFAULT_HOLD_LIMITS.sameWindowHoldsPerHour})`, example: 2 }),
  })
  .strict()
  .openapi('HoldLimitOverrides');

const toOverrides = (o: z.infer<typeof OverridesSchema>): Partial<HoldLimits> => ({
  ...(o.openHolds !== undefined ? { openHolds: o.openHolds } : {}),
  ...(o.heldGpusPercent !== undefined ? { heldGpusBps: o.heldGpusPercent * 100 } : {}),
  ...(o.sameWindowHoldsPerHour !== undefined ? { sameWindowHoldsPerHour: o.sameWindowHoldsPerHour } : {}),
});
const fromOverrides = (l: Partial<HoldLimits>): z.infer<typeof OverridesSchema> =>
  OverridesSchema.parse({
    ...(l.openHolds !== undefined ? { openHolds: l.openHolds } : {}),
    ...(l.heldGpusBps !== undefined ? { heldGpusPercent: l.heldGpusBps / 100 } : {}),
    ...(l.sameWindowHoldsPerHour !== undefined ? { sameWindowHoldsPerHour: l.sameWindowHoldsPerHour } : {}),
  });

const override = (kind: 'orgs' | 'pools') =>
  createRoute({
    method: 'put',
    path: `/v1/${kind}/{id}/limits`,
    operationId: kind === 'orgs' ? 'setOrgHoldLimits' : 'setPoolHoldLimits',
    tags: ['Operator'],
    summary: kind === 'orgs' ? 'Set an org’s hold limits (they win over the pool’s)' : 'Set a pool’s hold limits for every org without its own',
    description: 'Replaces the overrides: a field left out falls back (org → pool → default). Applies to new holds.',
    security,
    middleware: [requireRole(['operator'])],
    request: {
      params: z.object({
        id: (kind === 'orgs' ? z.string().min(1).max(100).openapi({ example: 'org_lumiere' }) : Slug('marseille-b200')).openapi({ param: { name: 'id', in: 'path' } }),
      }),
      body: { required: true, content: { 'application/json': { schema: OverridesSchema } } },
    },
    responses: {
      200: { description: 'The overrides now set', content: { 'application/json': { schema: OverridesSchema } } },
      ...errorResponses(...COMMON_ERRORS, 'malformed_json', 'not_found'),
    },
  });

export function registerLimitRoutes(app: App, services: Services) {
  app.openapi(list, async (c) => {
    const principal = principalOf(c);
    const orgId = principal.orgId;
    if (!orgId) throw new DomainError('forbidden', 'Limits are per org');
    const { db, clock, catalog, rateLimits, holdLimits } = services;
    const now = clock();
    const { pools } = await catalog.get();
    const [ledger, orgLimits, poolLimits, rates, credit] = await Promise.all([
      readHoldLedger(db, orgId),
      readLimitOverrides(db, `org:${orgId}`),
      Promise.all(pools.map((p) => readLimitOverrides(db, `pool:${p.id}`))),
      rateUsage(db, rateLimits ?? DEFAULT_RATE_LIMITS, principal, now),
      getCreditLimit(db, orgId),
    ]);
    const base = holdLimits ?? DEFAULT_HOLD_LIMITS;
    const orgWide = mergeLimits(base, orgLimits);
    const hour = epochHour(now);
    const sameWindow = Math.max(0, ...Object.values(ledger.windows).filter((w) => w.hour === hour).map((w) => w.n));
    const data = [
      { name: 'open-holds', limit: orgWide.openHolds, used: ledger.open, resetsAt: null },
      ...pools.map((p, i) => ({
        name: `held-gpus:${p.id}`,
        limit: heldGpusLimit(mergeLimits(base, poolLimits[i], orgLimits), peakCapacity(p)),
        used: ledger.gpusByPool[p.id] ?? 0,
        resetsAt: null,
      })),
      { name: 'same-window-holds-per-hour', limit: orgWide.sameWindowHoldsPerHour, used: sameWindow, resetsAt: fromEpochHour(hour + 1).toISOString() },
      ...rates,
      // Finance's credit limit on unpaid invoices (cents, VAT included), shown only where one is set.
      ...(credit?.amount !== null && credit?.amount !== undefined ? [{ name: 'credit-limit-cents', limit: credit.amount, used: await unpaidTotal(db, orgId), resetsAt: null }] : []),
    ];
    return c.json({ data: data.map((d) => LimitSchema.parse(d)) }, 200);
  });

  for (const kind of ['orgs', 'pools'] as const) {
    const route = override(kind);
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const { db, clock, catalog } = services;
      if (kind === 'orgs' ? !(await getOrg(db, id)) : !(await catalog.get()).pools.some((p) => p.id === id)) throw notFound(kind === 'orgs' ? 'Org' : 'Pool', id);
      const scope: LimitScope = kind === 'orgs' ? `org:${id}` : `pool:${id}`;
      const overrides = toOverrides(c.req.valid('json'));
      await putLimitOverrides(db, scope, overrides, clock());
      return c.json(output(route, 200, fromOverrides(overrides)), 200);
    });
  }
}
