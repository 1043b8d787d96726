import { createRoute, z } from '../zod.ts';
import {
  MAX_BUCKETS,
  MAX_EVENTS_PER_REQUEST,
  USAGE_REJECTION_REASONS,
  type MeteringService,
  type UsageRejectionReason,
} from '../../services/metering.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, security } from '../route.ts';
import { IdempotencyHeader, MAX, Timestamp } from '../schemas.ts';


const UsageEventSchema = z
  .object({
    id: z.string().min(1).max(128).openapi({ description: 'Unique id of the event, chosen by the meter; an id is counted once (ids are remembered 40 days)', example: 'vr-node-0042-2026-11-24T10:00:00Z' }),
    reservationId: z.string().min(1).max(100).openapi({ example: 'res_01jabc' }),
    start: Timestamp.openapi({ description: 'Start of the measured interval (truncated to the second)', example: '2026-11-24T10:00:00Z' }),
    end: Timestamp.openapi({ description: 'End of the measured interval, exclusive; at most 24 h after start and 5 minutes after the server clock', example: '2026-11-24T10:01:00Z' }),
    gpus: z.number().int().positive().max(100_000).openapi({ description: 'GPUs in use during the interval; at most the GPUs of the reservation', example: 8 }),
    energyWh: z
      .number()
      .int()
      .min(0)
      .max(100_000_000_000)
      .optional()
      .openapi({ description: 'Measured IT energy of these GPUs over the interval, Wh (optional); when sent, the reservation’s footprint uses it instead of GPU-seconds × board power', example: 93 }),
  })
  .strict()
  .openapi('UsageEvent');

const IngestRequestSchema = z
  .object({ events: z.array(UsageEventSchema).min(1).max(MAX_EVENTS_PER_REQUEST).openapi({ description: `1 to ${MAX_EVENTS_PER_REQUEST} events` }) })
  .strict()
  .openapi('UsageBatch');

const reasonNames = Object.keys(USAGE_REJECTION_REASONS) as [UsageRejectionReason, ...UsageRejectionReason[]];
const IngestResultSchema = z
  .object({
    accepted: z.number().int().openapi({ description: 'Events counted by this request', example: 998 }),
    duplicates: z.number().int().openapi({ description: 'Events whose id was already counted (earlier request, concurrent request, or repeated identically in this one)', example: 1 }),
    rejected: z
      .array(
        z.object({
          id: z.string().max(MAX.id),
          reason: z.enum(reasonNames).openapi({
            description: Object.entries(USAGE_REJECTION_REASONS)
              .map(([code, meaning]) => `\`${code}\`: ${meaning}`)
              .join('; '),
          }),
        }),
      ).max(MAX_EVENTS_PER_REQUEST)
      .openapi({ description: 'Events not counted, with a stable reason; their ids stay free' }),
  })
  .openapi('UsageIngestResult');

const ingest = createRoute({
  method: 'post',
  path: '/v1/usage',
  operationId: 'postUsage',
  tags: ['Usage'],
  summary: 'Report GPU usage events of this meter’s site (exactly once per event id)',
  description:
    'Partial acceptance: every event is counted, recognised as a duplicate, or rejected with a reason. An event id is counted at most once, ever (40 days). On 503, resend the whole batch: events already counted come back as duplicates.',
  security,
  middleware: [requireRole(['meter'])],
  request: { headers: IdempotencyHeader, body: { required: true, content: { 'application/json': { schema: IngestRequestSchema } } } },
  responses: {
    200: json(IngestResultSchema, 'What happened to each event'),
    ...errorResponses(...COMMON_ERRORS, 'malformed_json', 'payload_too_large', 'idempotency_in_flight', 'idempotency_key_reused', 'contention'),
  },
});

const UsageReportSchema = z
  .object({
    reservationId: z.string().max(MAX.id).nullable().openapi({ description: 'null for org-wide totals' }),
    orgId: z.string().max(MAX.id),
    granularity: z.enum(['hour', 'day']),
    from: Timestamp.openapi({ description: 'Start of the first bucket (aligned to the granularity, UTC)' }),
    to: Timestamp.openapi({ description: 'End of the last bucket, exclusive' }),
    gpuSeconds: z.number().int().openapi({ description: 'Metered GPU-seconds in [from, to): exact sum of the buckets', example: 86400 }),
    buckets: z
      .array(z.object({ start: Timestamp, gpuSeconds: z.number().int() })).max(MAX.list)
      .openapi({ description: 'One per hour or UTC day in [from, to), zeros included' }),
    reservedGpuHours: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'GPU-hours the reserved booking holds in [from, to) (0 if it was never confirmed); null for on-demand and org totals' }),
    usedGpuHours: z.number().openapi({ description: 'gpuSeconds / 3600, rounded to 3 decimals, for display', example: 24 }),
  })
  .openapi('UsageReport');

const read = createRoute({
  method: 'get',
  path: '/v1/usage',
  operationId: 'getUsage',
  tags: ['Usage'],
  summary: 'Metered GPU-seconds of a reservation or an org, per hour or day',
  description: `Customers read their own org; finance reads any (\`orgId\` required without \`reservationId\`). Defaults: for a reservation, its window up to now (at most the last ${MAX_BUCKETS.hour} hours or ${MAX_BUCKETS.day} days); for an org, the last 24 hours or 30 days.`,
  security,
  middleware: [requireRole(['customer', 'finance'])],
  request: {
    query: z.object({
      reservationId: z.string().min(1).max(100).optional().openapi({ example: 'res_01jabc' }),
      orgId: z.string().min(1).max(100).optional().openapi({ description: 'Org whose totals to read (finance); a customer may only name its own', example: 'org_lumiere' }),
      from: Timestamp.optional().openapi({ description: 'Rounded down to the hour or UTC day' }),
      to: Timestamp.optional().openapi({ description: 'Exclusive; rounded up to the hour or UTC day' }),
      granularity: z.enum(['hour', 'day']).default('hour'),
    }),
  },
  responses: { 200: json(UsageReportSchema, 'Usage buckets and totals'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

export function registerUsageRoutes(app: App, metering: MeteringService) {
  app.openapi(ingest, async (c) => {
    const result = await metering.ingest(principalOf(c), c.req.valid('json').events);
    return c.json(IngestResultSchema.parse(result), 200);
  });
  app.openapi(read, async (c) => c.json(UsageReportSchema.parse(await metering.usage(principalOf(c), c.req.valid('query'))), 200));
}
