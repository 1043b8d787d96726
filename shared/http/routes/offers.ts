import { createRoute, z } from '../zod.ts';
import { MAX_RESERVED_HOURS } from '#domain/capacity.ts';
import { DEFAULT_OFFERS, MAX_OFFERS } from '../../services/offers.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { security } from '../route.ts';
import { LineSchema, MAX, MoneySchema, Timestamp } from '../schemas.ts';

const SLUG = '[a-z0-9][a-z0-9-]{0,63}';

const hoursParam = (description: string, example: number) =>
  z.coerce
    .number({ error: 'must be a whole number of hours' })
    .int('must be a whole number of hours')
    .min(1, 'a window lasts at least 1 hour')
    .max(MAX_RESERVED_HOURS, `a window lasts at most ${MAX_RESERVED_HOURS} hours (365 days)`)
    .optional()
    .openapi({ description, example });

export const OfferQuerySchema = z.object({
  gpuType: z
    .string({ error: 'required' })
    .max(64)
    .regex(new RegExp(`^${SLUG}$`), 'must be a GPU type id (lowercase slug)')
    .openapi({ description: 'GPU type id (required)', example: 'h100-sxm-80gb' }),
  gpus: z.coerce
    .number({ error: 'required: a whole number of GPUs' })
    .int('must be a whole number of GPUs')
    .min(1, 'at least 1 GPU')
    .max(100_000, 'at most 100000 GPUs')
    .openapi({ description: 'GPUs wanted in every hour (required); a whole-node multiple of the pool’s stepGpus', example: 64 }),
  durationHours: hoursParam('Exact window length in hours (1 to 8760); or give minDurationHours and maxDurationHours', 72),
  minDurationHours: hoursParam('Shortest acceptable window, hours (with maxDurationHours)', 48),
  maxDurationHours: hoursParam('Longest acceptable window, hours (with minDurationHours); longer windows at the same or lower price per GPU-hour rank first', 96),
  earliestStart: Timestamp.optional().openapi({ description: 'No offer starts before this (rounded up to a whole hour); default and minimum: the next whole hour', example: '2026-12-01T00:00:00Z' }),
  latestEnd: Timestamp.optional().openapi({ description: 'No offer ends after this (rounded down to a whole hour); default and maximum: the booking horizon', example: '2026-12-15T00:00:00Z' }),
  site: z
    .string()
    .max(20 * 65)
    .regex(new RegExp(`^${SLUG}(,${SLUG}){0,19}$`), 'must be a comma list of site ids')
    .optional()
    .openapi({ description: 'Only these sites (comma list of site ids); default: every site', example: 'valence-rovaltain,marseille' }),
  maxPricePerGpuHour: z.coerce
    .number({ error: 'must be integer cents' })
    .int('must be integer cents (e.g. 250 for €2.50)')
    .min(0, 'must be at least 0 cents')
    .max(1_000_000_000, 'at most 1000000000 cents')
    .optional()
    .openapi({ description: 'Only offers whose price per GPU-hour (as shown, in EUR cents) is at most this', example: 250 }),
  sort: z.enum(['price', 'start'], { error: 'must be price or start' }).default('price').openapi({ description: '`price`: cheapest per GPU-hour first; `start`: earliest first' }),
  limit: z.coerce
    .number({ error: `must be a whole number from 1 to ${MAX_OFFERS}` })
    .int(`must be a whole number from 1 to ${MAX_OFFERS}`)
    .min(1, `must be a whole number from 1 to ${MAX_OFFERS}`)
    .max(MAX_OFFERS, `must be a whole number from 1 to ${MAX_OFFERS}`)
    .default(DEFAULT_OFFERS)
    .openapi({ description: `Most offers returned (1-${MAX_OFFERS}, default ${DEFAULT_OFFERS})` }),
});

export const OfferSchema = z
  .object({
    site: z.string().max(MAX.id).openapi({ description: 'Site id', example: 'valence-rovaltain' }),
    gpuType: z.string().max(MAX.id).openapi({ description: 'GPU type id', example: 'h100-sxm-80gb' }),
    poolId: z.string().max(MAX.id).openapi({ description: 'Pool the GPUs come from', example: 'valence-rovaltain-h100' }),
    gpus: z.number().int().openapi({ description: 'GPUs free in every hour of the window for this offer', example: 64 }),
    start: Timestamp.openapi({ description: 'Window start (whole UTC hour)', example: '2026-12-02T00:00:00.000Z' }),
    end: Timestamp.openapi({ description: 'Window end (whole UTC hour)', example: '2026-12-05T00:00:00.000Z' }),
    durationHours: z.number().int().openapi({ description: 'Hours from start to end', example: 72 }),
    total: MoneySchema.openapi({ description: 'What POST /v1/quotes charges for this window now (before VAT)' }),
    pricePerGpuHour: MoneySchema.openapi({ description: 'total ÷ GPU-hours, rounded half up to the cent' }),
    lines: z.array(LineSchema).max(MAX.list).openapi({ description: 'The quote’s lines: base, discounts, utilization; they sum to total' }),
  })
  .openapi('Offer');

export const OffersSchema = z
  .object({
    earliestStart: Timestamp.openapi({ description: 'Start of the range searched, after defaults and rounding' }),
    latestEnd: Timestamp.openapi({ description: 'End of the range searched, after defaults and rounding' }),
    data: z.array(OfferSchema).max(MAX_OFFERS).openapi({ description: 'Offers, spread across pools and time, in the order asked (docs/offers.md)' }),
    nearest: z
      .object({
        mostGpus: z
          .object({
            site: z.string().max(MAX.id).openapi({ description: 'Site id' }),
            poolId: z.string().max(MAX.id).openapi({ description: 'Pool id' }),
            gpus: z.number().int().openapi({ description: 'Most GPUs (whole nodes) free in every hour of a window of the shortest duration asked' }),
            start: Timestamp.openapi({ description: 'Earliest such window: start' }),
            end: Timestamp.openapi({ description: 'Earliest such window: end' }),
          })
          .nullable()
          .openapi({ description: 'The most GPUs any pool has free for the shortest duration asked within the range; null if none' }),
        earliestFit: z
          .object({
            site: z.string().max(MAX.id).openapi({ description: 'Site id' }),
            poolId: z.string().max(MAX.id).openapi({ description: 'Pool id' }),
            start: Timestamp.openapi({ description: 'Window start' }),
            end: Timestamp.openapi({ description: 'Window end (shortest duration asked)' }),
          })
          .nullable()
          .openapi({ description: 'The earliest window ending after latestEnd that fits the GPUs asked; null if none within the booking limits' }),
      })
      .nullable()
      .openapi({ description: 'null when there are offers; when none fits, what would' }),
  })
  .openapi('Offers');

const route = createRoute({
  method: 'get',
  path: '/v1/offers',
  operationId: 'listOffers',
  tags: ['Booking'],
  summary: 'Find capacity: ranked, priced windows across sites, pools and a flexible window',
  description:
    'Every offer fits the GPUs asked in every hour of its window, and POST /v1/quotes with its site, gpuType, gpus, start and end prices it at `total` with the same lines while nothing changed in between.',
  security,
  request: { query: OfferQuerySchema },
  responses: {
    200: { description: 'Offers, or what would fit instead', content: { 'application/json': { schema: OffersSchema } } },
    ...errorResponses(...COMMON_ERRORS, 'unprocessable'),
  },
});

export function registerOfferRoutes(app: App, services: Services) {
  app.openapi(route, async (c) => {
    const q = c.req.valid('query');
    const result = await services.offers.search({
      gpuType: q.gpuType,
      gpus: q.gpus,
      durationHours: q.durationHours,
      minDurationHours: q.minDurationHours,
      maxDurationHours: q.maxDurationHours,
      earliestStart: q.earliestStart ? new Date(q.earliestStart) : undefined,
      latestEnd: q.latestEnd ? new Date(q.latestEnd) : undefined,
      sites: q.site?.split(','),
      maxPricePerGpuHour: q.maxPricePerGpuHour,
      sort: q.sort,
      limit: q.limit,
    });
    return c.json(OffersSchema.parse(result), 200);
  });
}
