/** The operator's catalog API: sites, GPU types and pools created and changed, and the audit log. */
import { listScope } from '../cursor.ts';
import { createRoute, z } from '../zod.ts';
import { toPublicPool } from '#domain/catalog.ts';
import { MAX_CAPACITY_CHANGES } from '#domain/capacity.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, security } from '../route.ts';
import { GpuTypeFields, GpuTypeSchema, IdempotencyHeader, MAX, PageQuery, PoolFields, PoolSchema, SiteFields, SiteSchema, Slug, Timestamp, pageOf } from '../schemas.ts';

const body = <T extends z.ZodTypeAny>(schema: T) => ({ required: true, content: { 'application/json': { schema } } });
const idParam = (example: string, what: string) => z.object({ id: Slug(example).openapi({ param: { name: 'id', in: 'path' }, description: `${what} id` }) });
const operatorOnly = [requireRole(['operator'])];
const WRITE_ERRORS = [...COMMON_ERRORS, 'malformed_json', 'unprocessable'] as const;

const { id: _siteId, ...siteRest } = SiteFields;
const SiteCreate = z.object(SiteFields).strict().openapi('SiteCreate');
const SitePatch = z.object(siteRest).partial().strict().openapi('SitePatch');
const GpuTypeCreate = z.object(GpuTypeFields).strict().openapi('GpuTypeCreate');
const { id: _gpuId, ...gpuRest } = GpuTypeFields;
const GpuTypePatch = z.object(gpuRest).partial().strict().openapi('GpuTypePatch');
const PoolCreate = z.object(PoolFields).strict().openapi('PoolCreate');
const { id: _poolId, site: _poolSite, gpuType: _poolGpu, ...poolRest } = PoolFields;
const PoolPatch = z
  .object(poolRest)
  .partial()
  .strict()
  .openapi('PoolPatch', { description: 'Fields to change; `id`, `site` and `gpuType` are fixed. New quotes use the change; existing quotes and reservations keep their price and terms.' });

export const AuditEntrySchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ description: 'Entry id', example: 'aud_01jabc' }),
    at: Timestamp.openapi({ description: 'When the change committed', example: '2026-12-01T08:00:00.000Z' }),
    actor: z.string().max(MAX.id).openapi({ description: 'Key id of the operator who made it, or `bootstrap`', example: 'key_01jabc' }),
    action: z.string().max(MAX.id).openapi({ description: 'What was done', example: 'pool.updated' }),
    target: z.string().max(MAX.id).openapi({ description: 'What it was done to', example: 'pool:marseille-b200' }),
    before: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'The item before (null when created)' }),
    after: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'The item after' }),
  })
  .openapi('AuditEntry');

const createSite = createRoute({
  method: 'post',
  path: '/v1/sites',
  operationId: 'createSite',
  tags: ['Operator catalog'],
  summary: 'Open a site (usually `planned`, with its opening date)',
  security,
  middleware: operatorOnly,
  request: { headers: IdempotencyHeader, body: body(SiteCreate) },
  responses: { 201: json(SiteSchema, 'The site'), ...errorResponses(...WRITE_ERRORS, 'already_exists') },
});
const updateSite = createRoute({
  method: 'patch',
  path: '/v1/sites/{id}',
  operationId: 'updateSite',
  tags: ['Operator catalog'],
  summary: 'Change a site: facility figures, status (planned → active → maintenance), opening date',
  description: 'Closing a site (status `planned` or `maintenance`) or moving `opensAt` later is refused with 409 while bookings need those hours.',
  security,
  middleware: operatorOnly,
  request: { params: idParam('valence-rovaltain', 'Site'), body: body(SitePatch) },
  responses: { 200: json(SiteSchema, 'The site as it now is'), ...errorResponses(...WRITE_ERRORS, 'not_found', 'bookings_exist') },
});
const createGpuType = createRoute({
  method: 'post',
  path: '/v1/gpu-types',
  operationId: 'createGpuType',
  tags: ['Operator catalog'],
  summary: 'Add a GPU type',
  security,
  middleware: operatorOnly,
  request: { headers: IdempotencyHeader, body: body(GpuTypeCreate) },
  responses: { 201: json(GpuTypeSchema, 'The GPU type'), ...errorResponses(...WRITE_ERRORS, 'already_exists') },
});
const updateGpuType = createRoute({
  method: 'patch',
  path: '/v1/gpu-types/{id}',
  operationId: 'updateGpuType',
  tags: ['Operator catalog'],
  summary: 'Change a GPU type (e.g. its board power)',
  security,
  middleware: operatorOnly,
  request: { params: idParam('h100-sxm-80gb', 'GPU type'), body: body(GpuTypePatch) },
  responses: { 200: json(GpuTypeSchema, 'The GPU type as it now is'), ...errorResponses(...WRITE_ERRORS, 'not_found') },
});
const createPool = createRoute({
  method: 'post',
  path: '/v1/pools',
  operationId: 'createPool',
  tags: ['Operator catalog'],
  summary: 'Add a pool: one GPU type at one site, with its booking steps and price book',
  security,
  middleware: operatorOnly,
  request: { headers: IdempotencyHeader, body: body(PoolCreate) },
  responses: { 201: json(PoolSchema, 'The pool'), ...errorResponses(...WRITE_ERRORS, 'already_exists') },
});
const updatePool = createRoute({
  method: 'patch',
  path: '/v1/pools/{id}',
  operationId: 'updatePool',
  tags: ['Operator catalog'],
  summary: 'Change a pool: booking steps, rates, price book, bookable-from, capacity from now',
  description: '`totalGpus` here schedules a capacity change from the current hour (see `POST /v1/pools/{id}/capacity-changes`); a reduction below what is sold answers 409 capacity-conflict and changes nothing.',
  security,
  middleware: operatorOnly,
  request: { params: idParam('marseille-b200', 'Pool'), body: body(PoolPatch) },
  responses: { 200: json(PoolSchema, 'The pool as it now is'), ...errorResponses(...WRITE_ERRORS, 'not_found', 'bookings_exist', 'capacity_conflict') },
});

const CapacityChangeCreate = z
  .object({
    effectiveFrom: Timestamp.openapi({ description: 'First hour (whole UTC hour, the current one or later) with the new capacity', example: '2027-03-01T00:00:00Z' }),
    totalGpus: z.number().int().min(0).max(10_000_000).openapi({ description: 'GPUs installed from then on (whole nodes), until the next scheduled change', example: 2048 }),
  })
  .strict()
  .openapi('CapacityChangeCreate');
export const CapacityChangeSchema = z
  .object({
    poolId: z.string().max(MAX.id).openapi({ description: 'Pool id', example: 'grand-est-b200' }),
    effectiveFrom: Timestamp.openapi({ description: 'First hour with this capacity (UTC)', example: '2027-03-01T00:00:00.000Z' }),
    totalGpus: z.number().int().openapi({ description: 'GPUs installed from then on, until the next change', example: 2048 }),
    createdAt: Timestamp.openapi({ description: 'When the change was scheduled', example: '2026-12-01T08:00:00.000Z' }),
    actor: z.string().max(MAX.id).openapi({ description: 'Key id of the operator who scheduled it', example: 'key_01jabc' }),
  })
  .openapi('CapacityChange');
const CapacityChangeList = z
  .object({
    data: z.array(CapacityChangeSchema).max(MAX_CAPACITY_CHANGES).openapi({ description: `The pool's changes, oldest first, past ones included (at most ${MAX_CAPACITY_CHANGES})` }),
    nextCursor: z.string().max(MAX.cursor).nullable().openapi({ description: 'Always null: the whole schedule fits one page' }),
  })
  .openapi('CapacityChangeList');

const createCapacityChange = createRoute({
  method: 'post',
  path: '/v1/pools/{id}/capacity-changes',
  operationId: 'createCapacityChange',
  tags: ['Operator catalog'],
  summary: 'Schedule GPUs installed or retired from a date',
  description:
    'From `effectiveFrom` until the pool’s next scheduled change the pool has `totalGpus` GPUs; availability, offers, quotes and bookings use the capacity in force in each hour. ' +
    'A change at the same hour as an existing one replaces it. A reduction that would leave fewer GPUs than are sold (reserved bookings held, confirmed or active, maintenance, running on-demand) in any hour answers ' +
    '409 capacity-conflict with `conflicts` listing the first such hours, and changes nothing.',
  security,
  middleware: operatorOnly,
  request: { headers: IdempotencyHeader, params: idParam('grand-est-b200', 'Pool'), body: body(CapacityChangeCreate) },
  responses: { 201: json(CapacityChangeSchema, 'The change as scheduled'), ...errorResponses(...WRITE_ERRORS, 'not_found', 'capacity_conflict') },
});
const listCapacityChanges = createRoute({
  method: 'get',
  path: '/v1/pools/{id}/capacity-changes',
  operationId: 'listCapacityChanges',
  tags: ['Operator catalog'],
  summary: 'The pool’s capacity schedule',
  security,
  middleware: operatorOnly,
  request: { params: idParam('grand-est-b200', 'Pool') },
  responses: { 200: json(CapacityChangeList, 'Scheduled changes'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});
const listAuditRoute = createRoute({
  method: 'get',
  path: '/v1/audit',
  operationId: 'listAudit',
  tags: ['Operator catalog'],
  summary: 'Audit log of catalog changes, newest first: who, what, before and after',
  security,
  middleware: operatorOnly,
  request: { query: PageQuery },
  responses: { 200: json(pageOf(AuditEntrySchema, 'AuditPage'), 'Audit entries'), ...errorResponses(...COMMON_ERRORS) },
});

const EnergyReportSchema = z
  .object({
    site: z.string().max(MAX.id).openapi({ description: 'Site id' }),
    year: z.number().int().openapi({ description: 'Calendar year (UTC)', example: 2026 }),
    from: Timestamp.openapi({ description: 'Start of the period covered' }),
    to: Timestamp.openapi({ description: 'End of the period covered (now, for the current year)' }),
    meteredGpuHours: z.number().openapi({ description: 'Metered GPU-hours of the site’s pools' }),
    itEnergyKwh: z.number().openapi({ description: 'EED: energy consumed by the IT equipment, kWh' }),
    facilityEnergyKwh: z.number().openapi({ description: 'EED: total energy consumption of the data centre, kWh (IT × PUE)' }),
    pue: z.number().openapi({ description: 'EED: power usage effectiveness used' }),
    co2eKg: z.number().openapi({ description: 'Location-based emissions of the total energy, kg CO2e' }),
    wasteHeatReusedKwh: z.number().openapi({ description: 'EED: waste heat reused, kWh' }),
    heatReuseFraction: z.number().openapi({ description: 'Fraction of the heat reused (the energy reuse factor)' }),
    gridCarbonGramsPerKwh: z.number().openapi({ description: 'Grid carbon intensity used, g CO2e/kWh' }),
    pools: z
      .array(z.object({ poolId: z.string().max(MAX.id), gpuType: z.string().max(MAX.id), meteredGpuHours: z.number(), itEnergyKwh: z.number() }).openapi({ description: 'Per pool' })).max(MAX.list)
      .openapi({ description: 'IT energy per pool' }),
    method: z.string().max(MAX.text).openapi({ description: 'How the figures were computed' }),
    notAvailable: z.array(z.string().max(MAX.text)).max(MAX.list).openapi({ description: 'EED fields the platform’s data does not give' }),
  })
  .openapi('SiteEnergyReport');

const energyReport = createRoute({
  method: 'get',
  path: '/v1/sites/{id}/energy-report',
  operationId: 'getSiteEnergyReport',
  tags: ['Operator catalog'],
  summary: 'Energy of a site over a year, with the EU Energy Efficiency Directive fields the data allows',
  security,
  middleware: operatorOnly,
  request: {
    params: idParam('valence-rovaltain', 'Site'),
    query: z.object({ year: z.coerce.number().int().min(2000).max(2100).openapi({ description: 'Calendar year (UTC)', example: 2026 }) }),
  },
  responses: { 200: json(EnergyReportSchema, 'The report'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

export function registerCatalogAdminRoutes(app: App, services: Services) {
  const { footprint } = services;
  app.openapi(energyReport, async (c) => {
    const report = await footprint.siteReport(c.req.valid('param').id, c.req.valid('query').year);
    return c.json(EnergyReportSchema.parse(report), 200);
  });
  const admin = services.catalogAdmin;
  app.openapi(createSite, async (c) => c.json(SiteSchema.parse(await admin.createSite(principalOf(c), c.req.valid('json'))), 201));
  app.openapi(updateSite, async (c) => c.json(SiteSchema.parse(await admin.updateSite(principalOf(c), c.req.valid('param').id, c.req.valid('json'))), 200));
  app.openapi(createGpuType, async (c) => c.json(GpuTypeSchema.parse(await admin.createGpuType(principalOf(c), c.req.valid('json'))), 201));
  app.openapi(updateGpuType, async (c) =>
    c.json(GpuTypeSchema.parse(await admin.updateGpuType(principalOf(c), c.req.valid('param').id, c.req.valid('json'))), 200),
  );
  app.openapi(createPool, async (c) => c.json(PoolSchema.parse(toPublicPool(await admin.createPool(principalOf(c), c.req.valid('json')), services.clock())), 201));
  app.openapi(updatePool, async (c) =>
    c.json(PoolSchema.parse(toPublicPool(await admin.updatePool(principalOf(c), c.req.valid('param').id, c.req.valid('json')), services.clock())), 200),
  );
  app.openapi(createCapacityChange, async (c) =>
    c.json(CapacityChangeSchema.parse(await admin.scheduleCapacity(principalOf(c), c.req.valid('param').id, c.req.valid('json'))), 201),
  );
  app.openapi(listCapacityChanges, async (c) =>
    c.json(CapacityChangeList.parse({ data: await admin.listCapacityChanges(c.req.valid('param').id), nextCursor: null }), 200),
  );
  app.openapi(listAuditRoute, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const scope = listScope('audit', principalOf(c));
    const page = await admin.listAudit(limit, await services.cursors.open(scope, cursor));
    return c.json(pageOf(AuditEntrySchema, 'AuditPage').parse({ ...page, nextCursor: await services.cursors.seal(scope, page.nextCursor) }), 200);
  });
}
