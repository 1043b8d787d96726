import { createRoute, z } from '../zod.ts';
import { MAX_AVAILABILITY_SLOTS_PER_PAGE } from '../../services/availability.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { security } from '../route.ts';
import { MAX, Slug, Timestamp } from '../schemas.ts';

const SlotSchema = z.object({
  start: Timestamp.openapi({ description: 'Start of the slot (UTC)' }),
  end: Timestamp.openapi({ description: 'End of the slot (UTC)' }),
  capacity: z.number().int().openapi({ description: 'GPUs installed in every hour of the slot (the capacity schedule applied; maintenance not deducted)' }),
  available: z.number().int().openapi({ description: 'GPUs free to book in every hour of the slot (0 before the pool opens or while its site is under maintenance)' }),
});
const AvailabilitySchema = z
  .object({
    start: Timestamp.openapi({ description: 'Start of the window, rounded down to the granularity' }),
    end: Timestamp.openapi({ description: 'End of the window, rounded up to the granularity' }),
    granularity: z.enum(['hour', 'day']).openapi({ description: 'Slot length' }),
    pools: z.array(
      z.object({
        poolId: z.string().max(MAX.id).openapi({ description: 'Pool id' }),
        site: z.string().max(MAX.id).openapi({ description: 'Site id' }),
        gpuType: z.string().max(MAX.id).openapi({ description: 'GPU type id' }),
        siteStatus: z.enum(['active', 'planned', 'maintenance']).openapi({ description: 'The site’s status: under `maintenance` nothing is bookable (every slot shows 0 available)' }),
        bookableFrom: Timestamp.openapi({ description: 'First bookable instant: the pool’s `bookableFrom` or its site’s `opensAt`, whichever is later; slots before it show 0 available' }),
        capacity: z.number().int().openapi({ description: 'Most GPUs installed in any slot of the window (capacity grows or shrinks on the pool’s schedule: see each slot)' }),
        minAvailable: z.number().int().openapi({ description: 'GPUs free in every hour of the whole window' }),
        slots: z.array(SlotSchema).max(MAX.list).openapi({ description: 'Slots in time order' }),
      }),
    ).max(MAX.list).openapi({ description: `Pools in id order. One answer holds at most ${MAX_AVAILABILITY_SLOTS_PER_PAGE.toLocaleString('en')} slots (whole pools only; one pool's 366-day hourly window always fits): when more pools match, the rest come with \`cursor=nextCursor\`` }),
    nextCursor: z
      .string()
      .max(MAX.cursor)
      .nullable()
      .openapi({ description: 'null when every matching pool is in this answer; otherwise pass it as `cursor` (with the same query) for the next pools' }),
  })
  .openapi('Availability');

const route = createRoute({
  method: 'get',
  path: '/v1/availability',
  operationId: 'getAvailability',
  tags: ['Catalog'],
  summary: 'Free GPUs per pool and hour or day (windows up to 366 days; answers paged by pool)',
  security,
  request: {
    query: z.object({
      site: Slug('valence-rovaltain').optional(),
      gpuType: Slug('h100-sxm-80gb').optional(),
      start: Timestamp,
      end: Timestamp.openapi({ example: '2026-12-08T08:00:00Z' }),
      granularity: z.enum(['hour', 'day']).default('hour'),
      cursor: z.string().max(2048).optional().openapi({ description: 'nextCursor of the previous answer to the same query' }),
    }),
  },
  responses: {
    200: { description: 'Availability', content: { 'application/json': { schema: AvailabilitySchema } } },
    ...errorResponses(...COMMON_ERRORS),
  },
});

export function registerAvailabilityRoutes(app: App, services: Services) {
  app.openapi(route, async (c) => {
    const { cursor, ...q } = c.req.valid('query');
    // A cursor belongs to the query it was made for: another window, site, type or granularity refuses it.
    const scope = `availability|${q.site ?? ''}|${q.gpuType ?? ''}|${q.start}|${q.end}|${q.granularity}`;
    const after = await services.cursors.open(scope, cursor);
    const { nextAfter, ...result } = await services.availability.query({ ...q, start: new Date(q.start), end: new Date(q.end) }, { after });
    return c.json(AvailabilitySchema.parse({ ...result, nextCursor: await services.cursors.seal(scope, nextAfter) }), 200);
  });
}
