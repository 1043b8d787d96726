/** Market data: price history and volumes per pool (shared/services/market.ts). Any authenticated role. */
import { createRoute, z } from '../zod.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { security } from '../route.ts';
import { MAX, Slug, Timestamp } from '../schemas.ts';

const Cents = (what: string) => z.number().int().nullable().openapi({ description: `${what}, cents per GPU-hour; null when count is 0`, example: 231 });

const StatsSchema = (what: string) =>
  z
    .object({
      min: Cents(`Lowest ${what} price`),
      p50: Cents(`Median ${what} price (nearest rank)`),
      p95: Cents(`95th percentile ${what} price (nearest rank)`),
      max: Cents(`Highest ${what} price`),
      count: z.number().int().openapi({ description: `How many ${what === 'quoted' ? 'quotes' : 'confirmed bookings'} in the bucket`, example: 12 }),
    })
    .openapi(what === 'quoted' ? 'QuotedPriceStats' : 'BookedPriceStats');

const BucketSchema = z
  .object({
    start: Timestamp.openapi({ description: 'Bucket start (UTC)', example: '2026-12-01T00:00:00.000Z' }),
    end: Timestamp.openapi({ description: 'Bucket end (UTC)', example: '2026-12-02T00:00:00.000Z' }),
    listPricePerGpuHour: z.number().int().openapi({ description: 'The pool’s reserved list price per GPU-hour today, cents (before discounts and utilization)', example: 199 }),
    quotedPerGpuHour: StatsSchema('quoted').openapi({ description: 'Quotes made in the bucket: total ÷ GPU-hours, rounded down to the cent' }),
    bookedPerGpuHour: StatsSchema('booked').openapi({ description: 'Bookings confirmed in the bucket: total ÷ GPU-hours, rounded down to the cent' }),
    bookedGpuHours: z.number().int().openapi({ description: 'GPU-hours of the bookings confirmed in the bucket', example: 1344 }),
    utilizationBps: z.number().int().openapi({ description: 'Booked share of the pool’s GPUs in the bucket’s hours (reservations, on-demand and maintenance), basis points', example: 6200 }),
    resoldGpuHours: z.number().int().openapi({ description: 'GPU-hours bought from resale listings by the bookings confirmed in the bucket', example: 96 }),
  })
  .openapi('MarketBucket');

const MarketPricesSchema = z
  .object({
    site: z.string().max(MAX.id).openapi({ description: 'Site id', example: 'valence-rovaltain' }),
    gpuType: z.string().max(MAX.id).openapi({ description: 'GPU type id', example: 'h100-sxm-80gb' }),
    poolId: z.string().max(MAX.id).openapi({ description: 'The pool of that site and GPU type', example: 'valence-rovaltain-h100' }),
    granularity: z.enum(['hour', 'day']).openapi({ description: 'Bucket size' }),
    data: z.array(BucketSchema).max(MAX.list).openapi({ description: 'Every bucket of the range, oldest first (no org identity anywhere)' }),
  })
  .openapi('MarketPrices');

const route = createRoute({
  method: 'get',
  path: '/v1/market/prices',
  operationId: 'getMarketPrices',
  tags: ['Market'],
  summary: 'Price history of a pool: list, quoted and booked prices per GPU-hour, volumes, utilization, resale',
  description: 'Buckets by when quotes were made and bookings confirmed (UTC hours or days). At most 744 hourly or 366 daily buckets per request.',
  security,
  request: {
    query: z.object({
      site: Slug('valence-rovaltain').openapi({ description: 'Site id' }),
      gpuType: Slug('h100-sxm-80gb').openapi({ description: 'GPU type id' }),
      from: Timestamp.openapi({ description: 'Range start (rounded down to the bucket)', example: '2026-11-01T00:00:00Z' }),
      to: Timestamp.openapi({ description: 'Range end (rounded up to the bucket)', example: '2026-12-01T00:00:00Z' }),
      granularity: z.enum(['hour', 'day']).default('day').openapi({ description: 'Bucket size (default day)' }),
    }),
  },
  responses: {
    200: { description: 'One entry per bucket', content: { 'application/json': { schema: MarketPricesSchema } } },
    ...errorResponses(...COMMON_ERRORS),
  },
});

export function registerMarketRoutes(app: App, { market }: Pick<Services, 'market'>) {
  app.openapi(route, async (c) => {
    const q = c.req.valid('query');
    const result = await market.prices({ site: q.site, gpuType: q.gpuType, from: new Date(q.from), to: new Date(q.to), granularity: q.granularity });
    return c.json(MarketPricesSchema.parse(result), 200);
  });
}
