/** Wire schemas shared by several routes. Each field is documented once, here. */
import { z } from './zod.ts';
import { MAX_RESALE_FEE_BPS } from '#domain/catalog.ts';

export { MAX } from './wire-limits.ts';
import { MAX } from './wire-limits.ts';

export const Timestamp = z.iso
  .datetime({ offset: true })
  .max(64)
  .openapi({ description: 'RFC 3339 timestamp (UTC recommended)', example: '2026-12-01T08:00:00Z' });

/** A calendar month, `YYYY-MM` (billing periods). */
export const Period = z
  .string()
  .max(7)
  .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM')
  .openapi({ description: 'Calendar month (UTC), YYYY-MM', example: '2026-11' });

export const MoneySchema = z
  .object({
    amount: z.number().int().openapi({ description: 'Integer minor units (EUR cents)', example: 123456 }),
    currency: z.literal('EUR'),
  })
  .openapi('Money');

export const LineSchema = z
  .object({ description: z.string().max(MAX.text).openapi({ example: '8 GPUs × 168 h × €2.95/GPU-h' }), amount: MoneySchema })
  .openapi('Line');

export const Slug = (example: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a lowercase slug')
    .openapi({ example });

/** Site fields, each described once; `SiteSchema` (responses) and the operator's create and patch bodies are built from them. */
export const SiteFields = {
  id: Slug('valence-rovaltain').openapi({ description: 'Slug id, unique', example: 'valence-rovaltain' }),
  name: z.string().min(1).max(200).openapi({ description: 'Display name', example: 'Valence–Rovaltain' }),
  city: z.string().min(1).max(200).openapi({ description: 'City or commune', example: 'Alixan' }),
  country: z.string().max(2).regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2 code, upper case').openapi({ description: 'ISO 3166-1 alpha-2', example: 'FR' }),
  timezone: z.string().min(1).max(64).openapi({ description: 'IANA time zone', example: 'Europe/Paris' }),
  powerMw: z.number().positive().max(100_000).openapi({ description: 'IT power of the site, megawatts', example: 24 }),
  cooling: z.string().min(1).max(500).openapi({ description: 'How the site is cooled', example: 'direct liquid cooling' }),
  status: z.enum(['active', 'planned', 'maintenance']).openapi({ description: '`planned` (being built; capacity sold ahead), `active`, `maintenance` (closed site-wide)' }),
  opensAt: Timestamp.openapi({ description: 'When the site opens (or opened)', example: '2025-06-01T00:00:00Z' }),
  pue: z.number().min(1).max(3).openapi({ description: 'Power usage effectiveness: facility energy ÷ IT energy', example: 1.2 }),
  gridCarbonGramsPerKwh: z.number().min(0).max(2000).openapi({ description: 'Carbon intensity of the grid supplying the site, g CO2e per kWh', example: 45 }),
  heatReuseFraction: z.number().min(0).max(1).openapi({ description: 'Fraction (0–1) of the facility’s heat recovered and reused', example: 0.3 }),
};

export const SiteSchema = z.object(SiteFields).openapi('Site');

export const GpuTypeFields = {
  id: Slug('h100-sxm-80gb').openapi({ description: 'Slug id, unique', example: 'h100-sxm-80gb' }),
  vendor: z.string().min(1).max(100).openapi({ description: 'Manufacturer', example: 'NVIDIA' }),
  name: z.string().min(1).max(200).openapi({ description: 'Display name', example: 'H100 SXM 80GB' }),
  memoryGb: z.number().int().positive().max(100_000).openapi({ description: 'GPU memory, GB', example: 80 }),
  interconnect: z.string().min(1).max(500).openapi({ description: 'GPU-to-GPU and node-to-node fabric', example: 'NVLink 4 (900 GB/s), 3.2 Tb/s InfiniBand' }),
  peakBf16Tflops: z.number().positive().max(1_000_000).openapi({ description: 'Peak dense BF16 TFLOPS', example: 989 }),
  boardPowerWatts: z.number().int().positive().max(10_000).openapi({ description: 'Board power of one GPU at full load, watts (basis of reserved-hour energy)', example: 700 }),
};

export const GpuTypeSchema = z.object(GpuTypeFields).openapi('GpuType');

const Cents = (description: string, example: number) =>
  z
    .object({
      amount: z.number().int().min(0).max(100_000_000).openapi({ description, example }),
      currency: z.literal('EUR').openapi({ description: 'Always EUR' }),
    })
    .strict();

export const DurationTierSchema = z
  .object({
    minHours: z.number().int().positive().max(8760).openapi({ description: 'The booking lasts at least this many hours', example: 168 }),
    discountBps: z.number().int().min(0).max(9999).openapi({ description: 'Discount in basis points (500 = 5 %)', example: 500 }),
  })
  .strict()
  .openapi('DurationTier');

export const LeadTimeTierSchema = z
  .object({
    minDaysAhead: z.number().int().positive().max(366).openapi({ description: 'The booking starts at least this many days after it is quoted', example: 30 }),
    discountBps: z.number().int().min(0).max(9999).openapi({ description: 'Discount in basis points', example: 300 }),
  })
  .strict()
  .openapi('LeadTimeTier');

export const UtilizationBandSchema = z
  .object({
    floorBps: z.number().int().min(1).max(10_000).openapi({ description: 'Lowest utilization factor (9000 = ×0.90, idle windows)', example: 9000 }),
    ceilingBps: z.number().int().min(10_000).max(30_000).openapi({ description: 'Highest utilization factor (12500 = ×1.25, scarce windows)', example: 12500 }),
    targetBps: z.number().int().min(0).max(10_000).openapi({ description: 'Utilization at which the factor is ×1.00', example: 5000 }),
    slopeBps: z.number().int().min(0).max(50_000).openapi({ description: 'Factor change per unit of utilization above or below the target', example: 5000 }),
  })
  .strict()
  .openapi('UtilizationBand');

export const PoolFields = {
  id: Slug('valence-rovaltain-h100').openapi({ description: 'Slug id, unique', example: 'valence-rovaltain-h100' }),
  site: Slug('valence-rovaltain').openapi({ description: 'Site id' }),
  gpuType: Slug('h100-sxm-80gb').openapi({ description: 'GPU type id (one pool per GPU type and site)' }),
  totalGpus: z.number().int().min(0).max(10_000_000).openapi({ description: 'GPUs installed now, whole nodes (maintenance not deducted). On create, the pool’s capacity until its first scheduled change; on update, a change from the current hour, checked like `POST /v1/pools/{id}/capacity-changes` (409 capacity-conflict rather than shrinking what is sold). Future changes: `GET /v1/pools/{id}/capacity-changes`', example: 1024 }),
  gpusPerNode: z.number().int().positive().max(1024).openapi({ description: 'GPUs per node', example: 8 }),
  minGpus: z.number().int().positive().max(10_000_000).openapi({ description: 'Smallest booking, a multiple of stepGpus', example: 8 }),
  stepGpus: z.number().int().positive().max(10_000_000).openapi({ description: 'Bookings come in multiples of this; divides gpusPerNode or is whole nodes', example: 8 }),
  onDemandRate: Cents('On-demand price per GPU-hour, cents', 249).openapi({ description: 'Per GPU-hour' }),
  reservedRate: Cents('Reserved list price per GPU-hour, cents', 199).openapi({ description: 'List price per GPU-hour of reserved capacity before discounts and utilization' }),
  durationDiscounts: z.array(DurationTierSchema).max(20).openapi({ description: 'Duration tiers, sorted by minHours ascending; the highest reached applies' }),
  leadTimeDiscounts: z.array(LeadTimeTierSchema).max(20).openapi({ description: 'Lead-time tiers, sorted by minDaysAhead ascending; the highest reached applies' }),
  utilizationBand: UtilizationBandSchema.openapi({ description: 'Bounds and slope of the utilization factor' }),
  bookableFrom: Timestamp.openapi({ description: 'First hour that can be booked (whole UTC hour)', example: '2025-06-01T00:00:00Z' }),
  resaleFeeBps: z
    .number()
    .int()
    .min(0)
    .max(MAX_RESALE_FEE_BPS)
    .optional()
    .openapi({ description: 'Platform fee on resold GPU-hours, in basis points of the buyer’s price (docs/resale.md); absent until an operator sets it, meaning 1000 = 10 %; at most 5000', example: 1000 }),
  resaleOrder: z
    .enum(['operator_first', 'listings_first'])
    .optional()
    .openapi({ description: 'Where both are free, whether a booking takes the operator’s GPUs first (default) or customers’ listed GPUs first; absent until set, meaning `operator_first`', example: 'operator_first' }),
};

export const PoolSchema = z.object(PoolFields).openapi('Pool');

export const QuoteSchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ example: 'qt_01jabc' }),
    site: z.string().max(MAX.id),
    gpuType: z.string().max(MAX.id),
    poolId: z.string().max(MAX.id),
    gpus: z.number().int(),
    start: Timestamp,
    end: Timestamp,
    gpuHours: z.number().int(),
    unitPrice: MoneySchema.openapi({ description: 'Effective price per GPU-hour, for display' }),
    lines: z.array(LineSchema).max(MAX.list),
    total: MoneySchema,
    expiresAt: Timestamp,
    createdAt: Timestamp,
  })
  .openapi('Quote');

export const RefundSchema = z
  .object({ percent: z.number().int(), amount: MoneySchema, rule: z.string().max(MAX.text) })
  .openapi('Refund');

export const FootprintSchema = z
  .object({
    itEnergyKwh: z.number().openapi({ description: 'Energy drawn by the GPUs, kWh (3 decimals)', example: 134.4 }),
    facilityEnergyKwh: z.number().openapi({ description: 'IT energy × the site’s PUE, kWh', example: 161.28 }),
    co2eKg: z.number().openapi({ description: 'Facility energy × the site’s grid carbon intensity (location-based), kg CO2e', example: 7.258 }),
    heatReusedKwh: z.number().openapi({ description: 'Facility energy × the site’s heat-reuse fraction, kWh', example: 48.384 }),
    basis: z.enum(['metered', 'reserved']).openapi({ description: '`metered` once the meter has reported GPU-seconds (or measured energy); `reserved` from the reserved GPU-hours before that' }),
    method: z.string().max(MAX.text).openapi({ description: 'How the figures were computed, with the factors used' }),
  })
  .openapi('Footprint');

export const ReservationSchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ example: 'res_01jabc' }),
    kind: z.enum(['reserved', 'on_demand']),
    status: z.enum(['held', 'confirmed', 'active', 'completed', 'expired', 'cancelled', 'stopped']),
    site: z.string().max(MAX.id),
    gpuType: z.string().max(MAX.id),
    poolId: z.string().max(MAX.id),
    gpus: z.number().int(),
    start: Timestamp,
    end: Timestamp.nullable().openapi({ description: 'null while an on-demand reservation runs' }),
    holdExpiresAt: Timestamp.nullable(),
    quoteId: z.string().max(MAX.id).nullable(),
    price: MoneySchema.nullable().openapi({ description: 'Total price of a reserved booking; on-demand is billed by metered usage' }),
    lines: z.array(LineSchema).max(MAX.list),
    invoiceId: z.string().max(MAX.id).nullable(),
    refund: RefundSchema.nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    confirmedAt: Timestamp.nullable(),
    cancelledAt: Timestamp.nullable(),
    stoppedAt: Timestamp.nullable(),
    footprint: FootprintSchema.nullable().openapi({ description: 'Energy and carbon of the booking (docs/footprint.md); null when the catalog lacks the site’s or GPU type’s figures' }),
  })
  .openapi('Reservation');

export const EventSchema = z
  .object({
    id: z.string().max(MAX.id).openapi({ example: 'evt_01jabc' }),
    type: z.string().max(MAX.id).openapi({ example: 'reservation.confirmed' }),
    createdAt: Timestamp,
    orgId: z.string().max(MAX.id),
    sequence: z.number().int().openapi({ description: 'Gapless, increasing per org; poll with `after=<sequence>`' }),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi('Event');

export const pageOf = <T extends z.ZodTypeAny>(item: T, name: string) =>
  z.object({ data: z.array(item).max(MAX.page), nextCursor: z.string().max(MAX.cursor).nullable() }).openapi(name);

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
