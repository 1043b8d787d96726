import { listScope } from '../cursor.ts';
import { createRoute, z } from '../zod.ts';
import { MAX_LOGGED_ATTEMPTS } from '#webhooks/deliveries.ts';
import { EVENT_TYPES, MAX_ENDPOINTS_PER_ORG } from '#webhooks/endpoints.ts';
import { principalOf, requireRole } from '../auth.ts';
import { required, type App, type Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, output, security } from '../route.ts';
import { IdempotencyHeader, MAX, PageQuery, Timestamp, pageOf } from '../schemas.ts';

const adminOnly = [requireRole(['customer'], { orgAdmin: true })];
const tags = ['Webhooks'];

const EndpointSchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ example: 'whe_01jabc' }),
    url: z.string().max(MAX.url).openapi({ example: 'https://partner.example/webhooks/gpu-market' }),
    description: z.string().max(MAX.text).nullable(),
    events: z.array(z.string().max(100)).max(50).openapi({ description: 'Subscribed event types, or `["*"]` for all', example: ['reservation.confirmed', 'reservation.cancelled'] }),
    status: z.enum(['enabled', 'disabled']),
    disabledReason: z.string().max(MAX.text).nullable().openapi({ description: 'Why deliveries stopped: a 410 answer, or 5 days of failures' }),
    disabledAt: Timestamp.nullable(),
    failingSince: Timestamp.nullable().openapi({ description: 'First failed attempt since the last success; null while healthy' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('WebhookEndpoint');

const SecretField = z.string().max(MAX.id).openapi({ description: 'Signing secret; shown only in this response', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });

const CreateEndpointSchema = z
  .object({
    url: z.string().min(1).max(2048).openapi({ description: 'https URL that resolves to public addresses only', example: 'https://partner.example/webhooks/gpu-market' }),
    events: z
      .array(z.string().min(1).max(100))
      .min(1)
      .max(50)
      .openapi({ description: `Event types (${EVENT_TYPES.join(', ')}) or \`["*"]\` for all`, example: ['reservation.confirmed'] }),
    description: z.string().max(500).optional(),
  })
  .strict()
  .openapi('CreateWebhookEndpoint');

const AttemptSchema = z
  .object({
    at: Timestamp,
    responseStatus: z.number().int().nullable().openapi({ description: 'null when no HTTP answer came (timeout, network, refused address)' }),
    latencyMs: z.number().int().nullable(),
    error: z.string().max(MAX.text).nullable(),
  })
  .openapi('WebhookAttempt');

const DeliverySchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ description: 'Also the `webhook-id` header, the same on every attempt', example: 'msg_01jabc_01jdef' }),
    endpointId: z.string().max(MAX.id),
    eventId: z.string().max(MAX.id),
    eventType: z.string().max(MAX.id).openapi({ example: 'reservation.confirmed' }),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attemptCount: z.number().int(),
    nextAttemptAt: Timestamp.nullable(),
    lastAttemptAt: Timestamp.nullable(),
    responseStatus: z.number().int().nullable().openapi({ description: 'Status of the last attempt' }),
    latencyMs: z.number().int().nullable().openapi({ description: 'Latency of the last attempt' }),
    error: z.string().max(MAX.text).nullable(),
    attempts: z.array(AttemptSchema).max(MAX_LOGGED_ATTEMPTS).openapi({ description: 'The latest attempts, oldest first' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('WebhookDelivery');

const EndpointParam = z.object({ id: z.string().min(1).max(100).openapi({ param: { name: 'id', in: 'path' }, example: 'whe_01jabc' }) });
const DeliveryParams = EndpointParam.extend({
  deliveryId: z.string().min(1).max(200).openapi({ param: { name: 'deliveryId', in: 'path' }, example: 'msg_01jabc_01jdef' }),
});

const create = createRoute({
  method: 'post',
  path: '/v1/webhook-endpoints',
  operationId: 'createWebhookEndpoint',
  tags,
  summary: 'Register a webhook endpoint (org admins)',
  description: `The response carries the signing secret (\`whsec_…\`) once. At most ${MAX_ENDPOINTS_PER_ORG} endpoints per org. An unsafe URL (not https, private or loopback address…) answers 422 naming \`url\`.`,
  security,
  middleware: adminOnly,
  request: { headers: IdempotencyHeader, body: { required: true, content: { 'application/json': { schema: CreateEndpointSchema } } } },
  responses: {
    201: json(EndpointSchema.extend({ secret: SecretField }).openapi('CreatedWebhookEndpoint'), 'The endpoint, with its secret'),
    ...errorResponses(...COMMON_ERRORS, 'malformed_json', 'unprocessable', 'idempotency_in_flight', 'idempotency_key_reused', 'secret_shown_once'),
  },
});

const list = createRoute({
  method: 'get',
  path: '/v1/webhook-endpoints',
  operationId: 'listWebhookEndpoints',
  tags,
  summary: 'Your org’s webhook endpoints',
  security,
  middleware: adminOnly,
  request: { query: PageQuery },
  responses: { 200: json(pageOf(EndpointSchema, 'WebhookEndpointPage'), 'A page of endpoints'), ...errorResponses(...COMMON_ERRORS) },
});

const get = createRoute({
  method: 'get',
  path: '/v1/webhook-endpoints/{id}',
  operationId: 'getWebhookEndpoint',
  tags,
  summary: 'One webhook endpoint',
  security,
  middleware: adminOnly,
  request: { params: EndpointParam },
  responses: { 200: json(EndpointSchema, 'The endpoint'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const remove = createRoute({
  method: 'delete',
  path: '/v1/webhook-endpoints/{id}',
  operationId: 'deleteWebhookEndpoint',
  tags,
  summary: 'Delete a webhook endpoint; its pending deliveries are dropped',
  security,
  middleware: adminOnly,
  request: { params: EndpointParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const rotate = createRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/rotate-secret',
  operationId: 'rotateWebhookSecret',
  tags,
  summary: 'New signing secret; the previous one keeps signing for 24 hours',
  description: 'During the overlap every delivery carries both signatures in `webhook-signature`.',
  security,
  middleware: adminOnly,
  request: { headers: IdempotencyHeader, params: EndpointParam },
  responses: {
    200: json(
      EndpointSchema.extend({ secret: SecretField, previousSecretExpiresAt: Timestamp.openapi({ description: 'When the previous secret stops signing' }) }).openapi('RotatedWebhookEndpoint'),
      'The endpoint, with its new secret',
    ),
    ...errorResponses(...COMMON_ERRORS, 'not_found', 'contention', 'idempotency_in_flight', 'idempotency_key_reused', 'secret_shown_once'),
  },
});

const test = createRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/test',
  operationId: 'testWebhookEndpoint',
  tags,
  summary: 'Queue a `webhook.test` event for this endpoint',
  description:
    'Answers at once with the test delivery, `pending`; its first attempt runs right after, and the delivery log (`GET …/deliveries`) shows the outcome. ' +
    'An endpoint has at most 5 test events and retries waiting for their attempt; one more answers 429 with `Retry-After`. Test events are not in `GET /v1/events`.',
  security,
  middleware: adminOnly,
  request: { params: EndpointParam },
  responses: { 202: json(DeliverySchema, 'The test delivery, queued (`pending`, no attempt yet)'), ...errorResponses(...COMMON_ERRORS, 'not_found', 'invalid_state') },
});

const deliveries = createRoute({
  method: 'get',
  path: '/v1/webhook-endpoints/{id}/deliveries',
  operationId: 'listWebhookDeliveries',
  tags,
  summary: 'Delivery log of an endpoint, newest first (kept 30 days)',
  security,
  middleware: adminOnly,
  request: { params: EndpointParam, query: PageQuery },
  responses: { 200: json(pageOf(DeliverySchema, 'WebhookDeliveryPage'), 'A page of deliveries'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const retry = createRoute({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/deliveries/{deliveryId}/retry',
  operationId: 'retryWebhookDelivery',
  tags,
  summary: 'Queue another attempt of a delivery (also a failed or succeeded one)',
  description:
    'Answers at once with the delivery, `pending` and due now; the attempt runs right after, with the same `webhook-id`, and the delivery log shows the outcome. ' +
    '409 while an attempt of it is running. An endpoint has at most 5 test events and retries waiting for their attempt; one more answers 429 with `Retry-After`.',
  security,
  middleware: adminOnly,
  request: { params: DeliveryParams },
  responses: { 202: json(DeliverySchema, 'The delivery, queued for its next attempt'), ...errorResponses(...COMMON_ERRORS, 'not_found', 'invalid_state') },
});

/** The webhook endpoints API, over `services.webhooks` (the endpoint service). */
export function registerWebhookRoutes(app: App, services: Services): void {
  const service = required(services.webhooks, 'webhooks');
  app.openapi(create, async (c) => {
    const { endpoint, secret } = await service.create(principalOf(c), c.req.valid('json'));
    return c.json(output(create, 201, { ...endpoint, secret }), 201);
  });
  app.openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const principal = principalOf(c);
    const scope = listScope('webhook-endpoints', principal);
    const page = await service.list(principal, { limit, cursor: await services.cursors.open(scope, cursor) });
    return c.json(output(list, 200, { ...page, nextCursor: await services.cursors.seal(scope, page.nextCursor) }), 200);
  });
  app.openapi(get, async (c) => c.json(output(get, 200, await service.get(principalOf(c), c.req.valid('param').id)), 200));
  app.openapi(remove, async (c) => {
    await service.remove(principalOf(c), c.req.valid('param').id);
    return c.body(null, 204);
  });
  app.openapi(rotate, async (c) => {
    const { endpoint, secret, previousSecretExpiresAt } = await service.rotateSecret(principalOf(c), c.req.valid('param').id);
    return c.json(output(rotate, 200, { ...endpoint, secret, previousSecretExpiresAt }), 200);
  });
  app.openapi(test, async (c) => c.json(output(test, 202, await service.sendTest(principalOf(c), c.req.valid('param').id)), 202));
  app.openapi(deliveries, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const principal = principalOf(c);
    const { id } = c.req.valid('param');
    const scope = listScope('deliveries', principal, id);
    const page = await service.listDeliveries(principal, id, { limit, cursor: await services.cursors.open(scope, cursor) });
    return c.json(output(deliveries, 200, { ...page, nextCursor: await services.cursors.seal(scope, page.nextCursor) }), 200);
  });
  app.openapi(retry, async (c) => {
    const { id, deliveryId } = c.req.valid('param');
    return c.json(output(retry, 202, await service.retryDelivery(principalOf(c), id, deliveryId)), 202);
  });
}
