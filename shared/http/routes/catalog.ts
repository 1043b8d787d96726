import { createRoute, z } from '../zod.ts';
import { toPublicPool, type Pool } from '#domain/catalog.ts';
import { notFound } from '#domain/errors.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, output, security } from '../route.ts';
import { GpuTypeSchema, MAX, PoolSchema, SiteSchema, Slug } from '../schemas.ts';


/** A pool as the API shows it: `totalGpus` is the capacity in force at `now` (its schedule applied). */
export const toApiPool = (p: Pool, now: Date): z.infer<typeof PoolSchema> => PoolSchema.parse(toPublicPool(p, now));

const listSites = createRoute({
  method: 'get',
  path: '/v1/sites',
  operationId: 'listSites',
  tags: ['Catalog'],
  summary: 'Data-center sites',
  security,
  responses: { 200: json(z.object({ data: z.array(SiteSchema).max(MAX.list) }), 'Sites'), ...errorResponses(...COMMON_ERRORS) },
});

const getSite = createRoute({
  method: 'get',
  path: '/v1/sites/{id}',
  operationId: 'getSite',
  tags: ['Catalog'],
  summary: 'One site',
  security,
  request: { params: z.object({ id: Slug('valence-rovaltain').openapi({ param: { name: 'id', in: 'path' } }) }) },
  responses: { 200: json(SiteSchema, 'The site'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const listGpuTypes = createRoute({
  method: 'get',
  path: '/v1/gpu-types',
  operationId: 'listGpuTypes',
  tags: ['Catalog'],
  summary: 'GPU types',
  security,
  responses: { 200: json(z.object({ data: z.array(GpuTypeSchema).max(MAX.list) }), 'GPU types'), ...errorResponses(...COMMON_ERRORS) },
});

const listPools = createRoute({
  method: 'get',
  path: '/v1/pools',
  operationId: 'listPools',
  tags: ['Catalog'],
  summary: 'Pools with capacity and list prices',
  security,
  request: {
    query: z.object({
      site: Slug('valence-rovaltain').optional().openapi({ description: 'Filter by site id' }),
      gpuType: Slug('h100-sxm-80gb').optional().openapi({ description: 'Filter by GPU type id' }),
    }),
  },
  responses: { 200: json(z.object({ data: z.array(PoolSchema).max(MAX.list) }), 'Pools'), ...errorResponses(...COMMON_ERRORS) },
});

export function registerCatalogRoutes(app: App, services: Services) {
  app.openapi(listSites, async (c) => c.json(output(listSites, 200, { data: (await services.catalog.get()).sites }), 200));
  app.openapi(getSite, async (c) => {
    const { id } = c.req.valid('param');
    const site = (await services.catalog.get()).sites.find((s) => s.id === id);
    if (!site) throw notFound('Site', id);
    return c.json(output(getSite, 200, site), 200);
  });
  app.openapi(listGpuTypes, async (c) => c.json(output(listGpuTypes, 200, { data: (await services.catalog.get()).gpuTypes }), 200));
  app.openapi(listPools, async (c) => {
    const { site, gpuType } = c.req.valid('query');
    const pools = (await services.catalog.get()).pools.filter((p) => (!site || p.site === site) && (!gpuType || p.gpuType === gpuType));
    const now = services.clock();
    return c.json(output(listPools, 200, { data: pools.map((p) => toApiPool(p, now)) }), 200);
  });
}
