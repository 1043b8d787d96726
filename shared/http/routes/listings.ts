/**
 * Resale listings: an org lists hours of its confirmed or active reserved booking; other orgs book
 * them through the normal quote → reservation path (shared/services/resale.ts, docs/resale.md).
 */
import { createRoute, z } from '../zod.ts';
import { toApiListing } from '#domain/resale.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json as ok, jsonBody, security } from '../route.ts';
import { IdParam, IdempotencyHeader, MAX, MoneySchema, PageQuery, Timestamp, pageOf } from '../schemas.ts';

const customerOnly = [requireRole(['customer'])];
/** Listing and withdrawing: org admins for any of the org's bookings, members for those their key made (checked by the resale service). */
const bookingOwner = [requireRole(['customer'], { memberOwnBookingsOnly: true })];
const WRITE_ERRORS = [...COMMON_ERRORS, 'malformed_json', 'not_found', 'invalid_state', 'idempotency_in_flight', 'idempotency_key_reused', 'contention'] as const;

const HoursSchema = z
  .object({
    start: Timestamp.openapi({ description: 'First hour (UTC)', example: '2026-12-10T00:00:00.000Z' }),
    end: Timestamp.openapi({ description: 'End of the last hour (UTC)', example: '2026-12-12T00:00:00.000Z' }),
    gpus: z.number().int().openapi({ description: 'GPUs sold in each of these hours', example: 8 }),
  })
  .openapi('ResoldHours');

const FillSchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ description: 'Fill id', example: 'fill_01jabc' }),
    gpuHours: z.number().int().openapi({ description: 'GPU-hours this booking bought', example: 384 }),
    hours: z.array(HoursSchema).max(MAX.list).openapi({ description: 'The hours and GPUs bought' }),
    gross: MoneySchema.openapi({ description: 'The buyer’s price for these GPU-hours: its booking total × these GPU-hours ÷ its GPU-hours, rounded down to the cent' }),
    fee: MoneySchema.openapi({ description: 'Platform fee: gross × the pool’s fee, rounded half up to the cent' }),
    earnings: MoneySchema.openapi({ description: 'gross − fee, credited on the seller’s invoice for the month of the sale' }),
    settledAt: Timestamp.openapi({ description: 'When the buyer confirmed (the sale became final)' }),
  })
  .openapi('ListingFill');

export const ListingSchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ description: 'Listing id', example: 'lst_01jabc' }),
    reservationId: z.string().max(MAX.id).openapi({ description: 'The listed reservation (the seller’s)', example: 'res_01jabc' }),
    site: z.string().max(MAX.id).openapi({ description: 'Site id', example: 'valence-rovaltain' }),
    gpuType: z.string().max(MAX.id).openapi({ description: 'GPU type id', example: 'h100-sxm-80gb' }),
    poolId: z.string().max(MAX.id).openapi({ description: 'Pool id', example: 'valence-rovaltain-h100' }),
    start: Timestamp.openapi({ description: 'First listed hour (UTC)' }),
    end: Timestamp.openapi({ description: 'End of the last listed hour (UTC)' }),
    gpus: z.number().int().openapi({ description: 'GPUs listed in every hour of the window', example: 8 }),
    minPricePerGpuHour: z.number().int().nullable().openapi({ description: 'Lowest price per GPU-hour accepted, cents (a booking whose average price per GPU-hour is lower never takes it); null: any price', example: 250 }),
    status: z.enum(['open', 'sold', 'withdrawn', 'ended']).openapi({ description: '`open` (for sale), `sold` (every GPU-hour sold), `withdrawn` (by the seller), `ended` (its window started, or its reservation was cancelled)' }),
    soldGpuHours: z.number().int().openapi({ description: 'GPU-hours sold (buyers confirmed)', example: 384 }),
    pendingGpuHours: z.number().int().openapi({ description: 'GPU-hours held by buyers’ unconfirmed bookings (sold when they confirm, back on sale if their hold lapses)', example: 0 }),
    earnings: MoneySchema.openapi({ description: 'Seller’s earnings so far: the buyers’ price for the sold GPU-hours minus the platform fee' }),
    fees: MoneySchema.openapi({ description: 'Platform fees kept so far' }),
    fills: z.array(FillSchema).max(MAX.list).openapi({ description: 'Each confirmed sale, oldest first (no buyer identity)' }),
    createdAt: Timestamp.openapi({ description: 'When it was listed' }),
    updatedAt: Timestamp.openapi({ description: 'Last change' }),
    endedAt: Timestamp.nullable().openapi({ description: 'When it stopped being open; null while open' }),
  })
  .openapi('Listing');

export const CreateListingSchema = z
  .object({
    start: Timestamp.openapi({ description: 'First hour to sell: a whole UTC hour, not started, inside the reservation', example: '2026-12-10T00:00:00Z' }),
    end: Timestamp.openapi({ description: 'End of the last hour to sell: a whole UTC hour, at most the reservation’s end', example: '2026-12-12T00:00:00Z' }),
    gpus: z.number().int().positive().max(100_000).openapi({ description: 'GPUs to sell in every hour: whole nodes (the pool’s step), at most the reservation’s', example: 8 }),
    minPricePerGpuHour: z.number().int().min(0).max(100_000_000).nullable().optional().openapi({ description: 'Lowest price per GPU-hour to accept, cents; omit or null for any price', example: 250 }),
  })
  .strict()
  .openapi('CreateListing');

const create = createRoute({
  method: 'post',
  path: '/v1/reservations/{id}/listings',
  operationId: 'createListing',
  tags: ['Resale'],
  summary: 'List hours of a confirmed or active reservation for resale',
  description:
    'Other orgs’ bookings take listed GPU-hours through the normal quote → reservation path; each sold GPU-hour leaves this reservation and earns the buyer’s price minus the pool’s platform fee (default 10 %). Org admins list any of their org’s bookings, members the ones their key made.',
  security,
  middleware: bookingOwner,
  request: { headers: IdempotencyHeader, params: IdParam('Reservation', 'res_01jabc'), body: jsonBody(CreateListingSchema) },
  responses: { 201: ok(ListingSchema, 'The open listing'), ...errorResponses(...WRITE_ERRORS, 'unprocessable') },
});

const list = createRoute({
  method: 'get',
  path: '/v1/listings',
  operationId: 'listListings',
  tags: ['Resale'],
  summary: 'Your org’s listings, newest first',
  security,
  middleware: customerOnly,
  request: {
    query: PageQuery.extend({ status: z.enum(['open', 'sold', 'withdrawn', 'ended']).optional().openapi({ description: 'Only listings in this status' }) }),
  },
  responses: { 200: ok(pageOf(ListingSchema, 'ListingPage'), 'A page of listings'), ...errorResponses(...COMMON_ERRORS) },
});

const get = createRoute({
  method: 'get',
  path: '/v1/listings/{id}',
  operationId: 'getListing',
  tags: ['Resale'],
  summary: 'One listing of your org, with its fills',
  security,
  middleware: customerOnly,
  request: { params: IdParam('Listing', 'lst_01jabc') },
  responses: { 200: ok(ListingSchema, 'The listing'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const withdraw = createRoute({
  method: 'delete',
  path: '/v1/listings/{id}',
  operationId: 'withdrawListing',
  tags: ['Resale'],
  summary: 'Withdraw what is unsold of an open listing',
  description: 'The unsold hours stay the reservation’s; what was sold stays sold. Hours held by a buyer’s unconfirmed booking are sold if it confirms, and come back to the reservation if its hold lapses.',
  security,
  middleware: bookingOwner,
  request: { params: IdParam('Listing', 'lst_01jabc') },
  responses: { 200: ok(ListingSchema, 'The listing, withdrawn'), ...errorResponses(...COMMON_ERRORS, 'not_found', 'invalid_state', 'contention') },
});

const out = (l: Parameters<typeof toApiListing>[0]) => ListingSchema.parse(toApiListing(l));

export function registerListingRoutes(app: App, { resale }: Pick<Services, 'resale'>) {
  app.openapi(create, async (c) => {
    const l = await resale.create(principalOf(c), c.req.valid('param').id, c.req.valid('json'));
    return c.json(out(l), 201);
  });
  app.openapi(list, async (c) => {
    const { limit, cursor, status } = c.req.valid('query');
    const page = await resale.list(principalOf(c), { limit, cursor, status });
    return c.json({ data: page.data.map(out), nextCursor: page.nextCursor }, 200);
  });
  app.openapi(get, async (c) => c.json(out(await resale.get(principalOf(c), c.req.valid('param').id)), 200));
  app.openapi(withdraw, async (c) => c.json(out(await resale.withdraw(principalOf(c), c.req.valid('param').id)), 200));
}
