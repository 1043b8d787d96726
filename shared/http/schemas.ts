/** Wire schemas shared by several routes. Each field is documented once, here. */
import { z } from '@hono/zod-openapi';

export const Timestamp = z.iso
  .datetime({ offset: true })
  .openapi({ description: 'RFC 3339 timestamp (UTC recommended)', example: '2026-12-01T08:00:00Z' });

export const MoneySchema = z
  .object({
    amount: z.number().int().openapi({ description: 'Integer minor units (EUR cents)', example: 123456 }),
    currency: z.literal('EUR'),
  })
  .openapi('Money');

export const LineSchema = z
  .object({ description: z.string().openapi({ example: '8 GPUs × 168 h × €2.95/GPU-h' }), amount: MoneySchema })
  .openapi('Line');

export const Slug = (example: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a lowercase slug')
    .openapi({ example });

export const SiteSchema = z
  .object({
    id: z.string().openapi({ example: 'valence-rovaltain' }),
    name: z.string().openapi({ example: 'Valence–Rovaltain' }),
    city: z.string(),
    country: z.string().openapi({ description: 'ISO 3166-1 alpha-2', example: 'FR' }),
    timezone: z.string().openapi({ example: 'Europe/Paris' }),
    powerMw: z.number().openapi({ example: 24 }),
    cooling: z.string().openapi({ example: 'direct liquid cooling' }),
    status: z.enum(['active', 'planned', 'maintenance']),
    opensAt: z.string(),
  })
  .openapi('Site');

export const GpuTypeSchema = z
  .object({
    id: z.string().openapi({ example: 'h100-sxm-80gb' }),
    vendor: z.string().openapi({ example: 'NVIDIA' }),
    name: z.string().openapi({ example: 'H100 SXM 80GB' }),
    memoryGb: z.number().int(),
    interconnect: z.string(),
    peakBf16Tflops: z.number(),
  })
  .openapi('GpuType');

export const PoolSchema = z
  .object({
    id: z.string().openapi({ example: 'valence-rovaltain-h100' }),
    site: z.string(),
    gpuType: z.string(),
    totalGpus: z.number().int(),
    gpusPerNode: z.number().int(),
    minGpus: z.number().int(),
    stepGpus: z.number().int(),
    onDemandRate: MoneySchema.openapi({ description: 'Per GPU-hour' }),
    reservedRate: MoneySchema.openapi({ description: 'List price per GPU-hour of reserved capacity before discounts and utilization' }),
    durationDiscounts: z.array(z.object({ minHours: z.number().int(), discountBps: z.number().int() })),
    leadTimeDiscounts: z.array(z.object({ minDaysAhead: z.number().int(), discountBps: z.number().int() })),
    bookableFrom: z.string(),
  })
  .openapi('Pool');

export const QuoteSchema = z
  .object({
    id: z.string().openapi({ example: 'qt_01jabc' }),
    site: z.string(),
    gpuType: z.string(),
    poolId: z.string(),
    gpus: z.number().int(),
    start: z.string(),
    end: z.string(),
    gpuHours: z.number().int(),
    unitPrice: MoneySchema.openapi({ description: 'Effective price per GPU-hour, for display' }),
    lines: z.array(LineSchema),
    total: MoneySchema,
    expiresAt: z.string(),
    createdAt: z.string(),
  })
  .openapi('Quote');

export const RefundSchema = z
  .object({ percent: z.number().int(), amount: MoneySchema, rule: z.string() })
  .openapi('Refund');

export const ReservationSchema = z
  .object({
    id: z.string().openapi({ example: 'res_01jabc' }),
    kind: z.enum(['reserved', 'on_demand']),
    status: z.enum(['held', 'confirmed', 'active', 'completed', 'expired', 'cancelled', 'stopped']),
    site: z.string(),
    gpuType: z.string(),
    poolId: z.string(),
    gpus: z.number().int(),
    start: z.string(),
    end: z.string().nullable().openapi({ description: 'null while an on-demand reservation runs' }),
    holdExpiresAt: z.string().nullable(),
    quoteId: z.string().nullable(),
    price: MoneySchema.nullable().openapi({ description: 'Total price of a reserved booking; on-demand is billed by metered usage' }),
    lines: z.array(LineSchema),
    invoiceId: z.string().nullable(),
    refund: RefundSchema.nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    confirmedAt: z.string().nullable(),
    cancelledAt: z.string().nullable(),
    stoppedAt: z.string().nullable(),
  })
  .openapi('Reservation');

export const EventSchema = z
  .object({
    id: z.string().openapi({ example: 'evt_01jabc' }),
    type: z.string().openapi({ example: 'reservation.confirmed' }),
    createdAt: z.string(),
    orgId: z.string(),
    sequence: z.number().int().openapi({ description: 'Gapless, increasing per org; poll with `after=<sequence>`' }),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi('Event');

export const pageOf = <T extends z.ZodTypeAny>(item: T, name: string) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() }).openapi(name);

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: 'Page size (1-200)', example: 50 }),
  cursor: z.string().max(2048).optional().openapi({ description: 'nextCursor of the previous page' }),
});

export const IdParam = (name: string, example: string) =>
  z.object({ id: z.string().min(1).max(100).openapi({ param: { name: 'id', in: 'path' }, example, description: `${name} id` }) });

export const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .openapi({ param: { name: 'idempotency-key', in: 'header' }, description: 'Same key and body replays the first response; another body → 422; still running → 409. Kept 48 h.' }),
});
