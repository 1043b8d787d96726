import { createRoute, z } from '@hono/zod-openapi';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { Slug, Timestamp } from '../schemas.ts';

const SlotSchema = z.object({
  start: z.string().openapi({ description: 'Start of the slot (UTC)' }),
  end: z.string().openapi({ description: 'End of the slot (UTC)' }),
  capacity: z.number().int().openapi({ description: 'GPUs installed in every hour of the slot (the capacity schedule applied; maintenance not deducted)' }),
  available: z.number().int().openapi({ description: 'GPUs free in every hour of the slot' }),
});
const AvailabilitySchema = z
  .object({
    start: z.string().openapi({ description: 'Start of the window, rounded down to the granularity' }),
    end: z.string().openapi({ description: 'End of the window, rounded up to the granularity' }),
    granularity: z.enum(['hour', 'day']).openapi({ description: 'Slot length' }),
    pools: z.array(
      z.object({
        poolId: z.string().openapi({ description: 'Pool id' }),
        site: z.string().openapi({ description: 'Site id' }),
        gpuType: z.string().openapi({ description: 'GPU type id' }),
        capacity: z.number().int().openapi({ description: 'Most GPUs installed in any slot of the window (capacity grows or shrinks on the pool’s schedule: see each slot)' }),
        minAvailable: z.number().int().openapi({ description: 'GPUs free in every hour of the whole window' }),
        slots: z.array(SlotSchema).openapi({ description: 'Slots in time order' }),
      }),
    ),
  })
  .openapi('Availability');

const route = createRoute({
  method: 'get',
  path: '/v1/availability',
  operationId: 'getAvailability',
  tags: ['Catalog'],
  summary: 'Free GPUs per pool and hour or day (windows up to 365 days)',
  security: [{ ApiKey: [] }],
  request: {
    query: z.object({
      site: Slug('valence-rovaltain').optional(),
      gpuType: Slug('h100-sxm-80gb').optional(),
      start: Timestamp,
      end: Timestamp.openapi({ example: '2026-12-08T08:00:00Z' }),
      granularity: z.enum(['hour', 'day']).default('hour'),
    }),
  },
  responses: {
    200: { description: 'Availability', content: { 'application/json': { schema: AvailabilitySchema } } },
    ...errorResponses(...COMMON_ERRORS),
  },
});

export function registerAvailabilityRoutes(app: App, services: Services) {
  app.openapi(route, async (c) => {
    const q = c.req.valid('query');
    const result = await services.availability.query({ ...q, start: new Date(q.start), end: new Date(q.end) });
    return c.json(AvailabilitySchema.parse(result), 200);
  });
}
