import { createRoute, z } from '../zod.ts';
import type { Quote } from '#store/quotes.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App, Services } from '../context.ts';
import { output, security } from '../route.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { IdempotencyHeader, QuoteSchema, Slug, Timestamp } from '../schemas.ts';

export const QuoteRequestSchema = z
  .object({
    site: Slug('valence-rovaltain'),
    gpuType: Slug('h100-sxm-80gb'),
    gpus: z.number().int().positive().max(100_000).openapi({ description: 'GPUs; a multiple of the pool’s stepGpus (whole nodes)', example: 16 }),
    start: Timestamp.openapi({ description: 'Whole UTC hour, in the future, at most 12 months ahead', example: '2026-12-01T08:00:00Z' }),
    end: Timestamp.openapi({ description: 'Whole UTC hour; 1 hour to 365 days after start', example: '2026-12-08T08:00:00Z' }),
  })
  .strict()
  .openapi('QuoteRequest');

const route = createRoute({
  method: 'post',
  path: '/v1/quotes',
  operationId: 'createQuote',
  tags: ['Booking'],
  summary: 'Price a reservation; the quote locks the price for 15 minutes',
  security,
  middleware: [requireRole(['customer'])],
  request: {
    headers: IdempotencyHeader,
    body: { required: true, content: { 'application/json': { schema: QuoteRequestSchema } } },
  },
  responses: {
    201: { description: 'The quote', content: { 'application/json': { schema: QuoteSchema } } },
    ...errorResponses(...COMMON_ERRORS, 'malformed_json', 'unprocessable', 'capacity_unavailable', 'site_closed', 'idempotency_in_flight', 'idempotency_key_reused', 'payload_too_large'),
  },
});

export const toApiQuote = (q: Quote): z.infer<typeof QuoteSchema> =>
  QuoteSchema.parse({
    id: q.id,
    site: q.site,
    gpuType: q.gpuType,
    poolId: q.poolId,
    gpus: q.gpus,
    start: q.start,
    end: q.end,
    gpuHours: q.gpuHours,
    unitPrice: q.unitPrice,
    lines: q.lines.map((l) => ({ description: l.description, amount: l.amount })),
    total: q.total,
    expiresAt: q.expiresAt,
    createdAt: q.createdAt,
  });

export function registerQuoteRoutes(app: App, services: Services) {
  app.openapi(route, async (c) => {
    const quote = await services.booking.quote(principalOf(c), c.req.valid('json'));
    return c.json(output(route, 201, toApiQuote(quote)), 201);
  });
}
