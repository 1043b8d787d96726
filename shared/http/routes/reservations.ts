import { listScope } from '../cursor.ts';
import { createRoute, z } from '../zod.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import { toApiReservation, type Reservation } from '#domain/reservation.ts';
import { getReservation, listReservations } from '#store/reservations.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, security } from '../route.ts';
import { IdParam, IdempotencyHeader, LineSchema, MAX, MoneySchema, PageQuery, ReservationSchema, Slug, Timestamp, pageOf } from '../schemas.ts';

const customerOnly = [requireRole(['customer'])];
const WRITE_ERRORS = [...COMMON_ERRORS, 'malformed_json', 'not_found', 'invalid_state', 'idempotency_in_flight', 'idempotency_key_reused', 'contention'] as const;

export const CreateReservationSchema = z
  .object({
    kind: z.enum(['reserved', 'on_demand']).default('reserved').openapi({ description: '`reserved` (from a quote) or `on_demand` (starts now, runs until stopped)' }),
    quoteId: z.string().min(1).max(100).optional().openapi({ description: 'Required for `reserved`', example: 'qt_01jabc' }),
    site: Slug('valence-rovaltain').optional().openapi({ description: 'Required for `on_demand`' }),
    gpuType: Slug('h100-sxm-80gb').optional().openapi({ description: 'Required for `on_demand`' }),
    gpus: z.number().int().positive().max(100_000).optional().openapi({ description: 'Required for `on_demand`', example: 8 }),
  })
  .strict()
  .superRefine((v, ctx) => {
    const need = (field: 'quoteId' | 'site' | 'gpuType' | 'gpus') => {
      if (v[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `required for kind "${v.kind}"` });
    };
    const forbid = (field: 'quoteId' | 'site' | 'gpuType' | 'gpus') => {
      if (v[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `not allowed for kind "${v.kind}"` });
    };
    if (v.kind === 'reserved') {
      need('quoteId');
      (['site', 'gpuType', 'gpus'] as const).forEach(forbid);
    } else {
      (['site', 'gpuType', 'gpus'] as const).forEach(need);
      forbid('quoteId');
    }
  })
  .openapi('CreateReservation');

const create = createRoute({
  method: 'post',
  path: '/v1/reservations',
  operationId: 'createReservation',
  tags: ['Booking'],
  summary: 'Hold a quote (15-minute hold) or start an on-demand reservation',
  security,
  middleware: customerOnly,
  request: { headers: IdempotencyHeader, body: { required: true, content: { 'application/json': { schema: CreateReservationSchema } } } },
  responses: {
    201: json(ReservationSchema, 'The held (reserved) or active (on-demand) reservation'),
    ...errorResponses(...WRITE_ERRORS, 'capacity_unavailable', 'site_closed', 'hold_limit', 'budget_exceeded', 'quote_expired', 'unprocessable', 'payload_too_large'),
  },
});

const list = createRoute({
  method: 'get',
  path: '/v1/reservations',
  operationId: 'listReservations',
  tags: ['Booking'],
  summary: 'Your org’s reservations, newest first',
  security,
  middleware: customerOnly,
  request: { query: PageQuery },
  responses: { 200: json(pageOf(ReservationSchema, 'ReservationPage'), 'A page of reservations'), ...errorResponses(...COMMON_ERRORS) },
});

const get = createRoute({
  method: 'get',
  path: '/v1/reservations/{id}',
  operationId: 'getReservation',
  tags: ['Booking'],
  summary: 'One reservation of your org',
  security,
  middleware: customerOnly,
  request: { params: IdParam('Reservation', 'res_01jabc') },
  responses: { 200: json(ReservationSchema, 'The reservation'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const action = (name: 'confirm' | 'cancel' | 'stop', summary: string, description: string) =>
  createRoute({
    method: 'post',
    path: `/v1/reservations/{id}/${name}`,
    operationId: `${name}Reservation`,
    tags: ['Booking'],
    summary,
    description,
    security,
    middleware: customerOnly,
    request: { headers: IdempotencyHeader, params: IdParam('Reservation', 'res_01jabc') },
    responses: { 200: json(ReservationSchema, 'The reservation after the change'), ...errorResponses(...WRITE_ERRORS) },
  });

const confirm = action('confirm', 'Confirm a held reservation', '`held` → `confirmed`; invoices the quoted price and returns `invoiceId`.');
const cancel = action(
  'cancel',
  'Cancel a held or confirmed reservation',
  'Frees the capacity. Refund per policy: ≥ 7 days before start 100 %, ≥ 48 h 50 %, later 0 %; a hold that was never confirmed cost nothing.',
);
const stop = action('stop', 'Stop an on-demand reservation', '`active` → `stopped`; frees its GPUs.');

const ExtensionSchema = z
  .object({ start: Timestamp, end: Timestamp, gpuHours: z.number().int(), lines: z.array(LineSchema).max(MAX.list), price: MoneySchema.openapi({ description: 'Price of the extra hours' }) })
  .openapi('Extension');
const ExtendedReservationSchema = ReservationSchema.extend({ extension: ExtensionSchema }).openapi('ExtendedReservation');

const extend = createRoute({
  method: 'post',
  path: '/v1/reservations/{id}/extend',
  operationId: 'extendReservation',
  tags: ['Booking'],
  summary: 'Move the end of a reserved booking later, if the extra hours are free',
  security,
  middleware: customerOnly,
  request: {
    headers: IdempotencyHeader,
    params: IdParam('Reservation', 'res_01jabc'),
    body: {
      required: true,
      content: { 'application/json': { schema: z.object({ end: Timestamp.openapi({ description: 'New end, a whole UTC hour after the current end' }) }).strict().openapi('ExtendRequest') } },
    },
  },
  responses: {
    200: json(ExtendedReservationSchema, 'The reservation with its new end and the price of the extra hours'),
    ...errorResponses(...WRITE_ERRORS, 'capacity_unavailable', 'site_closed', 'budget_exceeded', 'unprocessable'),
  },
});

export function registerReservationRoutes(app: App, services: Services) {
  /** Reservations as the API shows them, each with its energy and carbon footprint. */
  const outAll = async (list: Reservation[]) => {
    const footprints = await services.footprint.forReservations(list);
    return list.map((r) => ReservationSchema.parse({ ...toApiReservation(r), footprint: footprints.get(r.id) ?? null }));
  };
  const out = async (r: Reservation) => (await outAll([r]))[0]!;

  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    const { booking } = services;
    const principal = principalOf(c);
    // The Idempotency-Key also travels into the booking transaction, so a retry after an unclear failure finds what it made.
    // Its arrival time orders it among a rush on its pool (the group commit decides in arrival order).
    const options = { idempotencyKey: c.req.valid('header')['idempotency-key'], receivedAt: c.get('receivedAt') };
    const r =
      body.kind === 'on_demand'
        ? await booking.startOnDemand(principal, { site: body.site!, gpuType: body.gpuType!, gpus: body.gpus! }, options)
        : await booking.hold(principal, body.quoteId!, options);
    return c.json(await out(r), 201);
  });
  app.openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const principal = principalOf(c);
    const scope = listScope('reservations', principal);
    const page = await listReservations(services.db, principal.orgId!, { limit, cursor: await services.cursors.open(scope, cursor) });
    return c.json({ data: await outAll(page.data), nextCursor: await services.cursors.seal(scope, page.nextCursor) }, 200);
  });
  app.openapi(get, async (c) => {
    const { id } = c.req.valid('param');
    const r = await getReservation(services.db, principalOf(c).orgId!, id);
    if (!r) throw notFound('Reservation', id);
    return c.json(await out(r), 200);
  });
  app.openapi(confirm, async (c) => c.json(await out(await services.booking.confirm(principalOf(c), c.req.valid('param').id)), 200));
  app.openapi(cancel, async (c) => c.json(await out(await services.booking.cancel(principalOf(c), c.req.valid('param').id)), 200));
  app.openapi(stop, async (c) => c.json(await out(await services.booking.stop(principalOf(c), c.req.valid('param').id)), 200));
  app.openapi(extend, async (c) => {
    const { reservation, extension } = await services.booking.extend(principalOf(c), c.req.valid('param').id, c.req.valid('json').end);
    if (!reservation.end) throw new DomainError('internal', 'extended reservation without an end');
    return c.json(ExtendedReservationSchema.parse({ ...(await out(reservation)), extension }), 200);
  });
}
