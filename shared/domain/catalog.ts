import { capacityAt, peakCapacityFrom, type CapacitySchedule } from './capacity.ts';
import { DomainError } from './errors.ts';
import { HOUR_MS, epochHour } from './time.ts';
import type { Money } from './money.ts';
import type { DurationTier, LeadTimeTier, PriceBook, UtilizationBand } from './pricing.ts';

export type SiteStatus = 'active' | 'planned' | 'maintenance';

export interface Site {
  id: string;
  name: string;
  city: string;
  country: string;
  timezone: string;
  powerMw: number;
  cooling: string;
  status: SiteStatus;
  opensAt: string;
  /** Power usage effectiveness: facility energy ÷ IT energy (≥ 1, e.g. 1.2). */
  pue: number;
  /** Carbon intensity of the grid that feeds the site, grams CO2e per kWh. */
  gridCarbonGramsPerKwh: number;
  /** Fraction (0–1) of the facility's heat that is recovered and reused (e.g. a district-heating loop). */
  heatReuseFraction: number;
}

export interface GpuType {
  id: string;
  vendor: string;
  name: string;
  memoryGb: number;
  interconnect: string;
  peakBf16Tflops: number;
  /** Board power of one GPU at full load, watts (what an hour of a reserved GPU is assumed to draw). */
  boardPowerWatts: number;
}

/**
 * A scheduled capacity change of a pool (`POST /v1/pools/{id}/capacity-changes`): from `effectiveFrom`
 * (a whole UTC hour) the pool has `totalGpus` GPUs, until its next change.
 */
export interface CapacityChange {
  effectiveFrom: string;
  totalGpus: number;
  /** When it was scheduled, and by which operator key. */
  createdAt: string;
  actor: string;
}

export interface Pool {
  id: string;
  site: string;
  gpuType: string;
  /** The GPUs the pool was created with: its capacity before its first scheduled change. */
  totalGpus: number;
  /** Scheduled capacity changes, sorted by `effectiveFrom` (absent: none). */
  capacityChanges?: CapacityChange[] | undefined;
  gpusPerNode: number;
  minGpus: number;
  stepGpus: number;
  onDemandRate: Money;
  priceBook: PriceBook;
  bookableFrom: string;
  /** Platform fee on resold GPU-hours, basis points of the buyer's price (default 1000 = 10 %). */
  resaleFeeBps?: number | undefined;
  /** Whether bookings take the operator's free GPUs before listed ones (default) or listings first. */
  resaleOrder?: 'operator_first' | 'listings_first' | undefined;
}

export interface Catalog {
  sites: Site[];
  gpuTypes: GpuType[];
  pools: Pool[];
}

/**
 * The pool's capacity over time as the catalog knows it. The copy the booking core decides with is
 * the one kept beside the pool's on-demand total (shared/store/capacity.ts), written in the same
 * transaction as this one; this copy serves display and request checks.
 */
export const poolSchedule = (pool: Pool): CapacitySchedule => ({
  totalGpus: pool.totalGpus,
  steps: (pool.capacityChanges ?? []).map((c) => ({ fromHour: Math.floor(Date.parse(c.effectiveFrom) / HOUR_MS), totalGpus: c.totalGpus })),
});

/**
 * A site's status rules bookings (SPEC: `planned` → `active` → `maintenance`, with `opensAt`): a site
 * under maintenance is closed site-wide and takes no new booking (quote, hold, extension, on-demand
 * start) until it is active again; a planned or active site takes bookings from `opensAt` on only.
 * Existing bookings are never touched: a site with bookings to serve cannot enter maintenance, nor
 * open later than them (catalog-admin).
 */
export function siteClosed(site: Site): DomainError | null {
  if (site.status !== 'maintenance') return null;
  return new DomainError('site_closed', `site: ${site.id} is closed for maintenance and takes no new bookings until it is active again`, {
    errors: [{ path: 'site', message: `${site.id} is under maintenance` }],
  });
}

/** The first instant a pool can be booked: its own `bookableFrom` or its site's `opensAt`, whichever is later. */
export const bookableFromOf = (pool: Pool, site: Site | undefined): Date =>
  new Date(Math.max(Date.parse(pool.bookableFrom), site ? Date.parse(site.opensAt) : Number.NEGATIVE_INFINITY));

/** The most GPUs the pool ever has (its first capacity or any scheduled one): a booking asking more can never fit. */
export const peakCapacity = (pool: Pool): number => peakCapacityFrom(poolSchedule(pool), Number.MIN_SAFE_INTEGER);

/** The GPUs the pool has in the hour of `at` (its schedule applied). */
export const capacityNow = (pool: Pool, at: Date): number => capacityAt(poolSchedule(pool), epochHour(at));

export const poolLabel = (pool: Pool, catalog: Catalog): string => {
  const gpu = catalog.gpuTypes.find((g) => g.id === pool.gpuType);
  const site = catalog.sites.find((s) => s.id === pool.site);
  return `${gpu?.name ?? pool.gpuType} · ${site?.name ?? pool.site}`;
};

/** The platform's share of a resold GPU-hour's price unless the pool says otherwise (10 %). */
export const DEFAULT_RESALE_FEE_BPS = 1_000;
/** Highest resale fee an operator may set on a pool (50 %). */
export const MAX_RESALE_FEE_BPS = 5_000;
/** Which capacity a booking takes first where both are free: the operator's, or customers' listings. */
export type ResaleOrder = 'operator_first' | 'listings_first';

/** A pool as the API shows it (`GET /v1/pools`) and takes it (`POST /v1/pools`): the price book spelled out field by field. */
export interface PublicPool {
  id: string;
  site: string;
  gpuType: string;
  totalGpus: number;
  gpusPerNode: number;
  minGpus: number;
  stepGpus: number;
  onDemandRate: Money;
  reservedRate: Money;
  durationDiscounts: DurationTier[];
  leadTimeDiscounts: LeadTimeTier[];
  utilizationBand: UtilizationBand;
  bookableFrom: string;
  /** Optional on create and update; shown once set (absent: 1000 bps, `operator_first`). */
  resaleFeeBps?: number | undefined;
  resaleOrder?: ResaleOrder | undefined;
}

/** `at`: show the capacity in force then (the API shows now); without it, the capacity the pool was created with. */
export const toPublicPool = (p: Pool, at?: Date): PublicPool => ({
  id: p.id,
  site: p.site,
  gpuType: p.gpuType,
  totalGpus: at ? capacityNow(p, at) : p.totalGpus,
  gpusPerNode: p.gpusPerNode,
  minGpus: p.minGpus,
  stepGpus: p.stepGpus,
  onDemandRate: p.onDemandRate,
  reservedRate: { amount: p.priceBook.reservedRatePerGpuHour, currency: 'EUR' },
  durationDiscounts: p.priceBook.durationTiers.map((t) => ({ minHours: t.minHours, discountBps: t.discountBps })),
  leadTimeDiscounts: p.priceBook.leadTimeTiers.map((t) => ({ minDaysAhead: t.minDaysAhead, discountBps: t.discountBps })),
  utilizationBand: { ...p.priceBook.utilization },
  bookableFrom: p.bookableFrom,
  ...(p.resaleFeeBps !== undefined ? { resaleFeeBps: p.resaleFeeBps } : {}),
  ...(p.resaleOrder !== undefined ? { resaleOrder: p.resaleOrder } : {}),
});

export const fromPublicPool = (p: PublicPool): Pool => ({
  id: p.id,
  site: p.site,
  gpuType: p.gpuType,
  totalGpus: p.totalGpus,
  gpusPerNode: p.gpusPerNode,
  minGpus: p.minGpus,
  stepGpus: p.stepGpus,
  onDemandRate: p.onDemandRate,
  priceBook: {
    reservedRatePerGpuHour: p.reservedRate.amount,
    durationTiers: p.durationDiscounts.map((t) => ({ minHours: t.minHours, discountBps: t.discountBps })),
    leadTimeTiers: p.leadTimeDiscounts.map((t) => ({ minDaysAhead: t.minDaysAhead, discountBps: t.discountBps })),
    utilization: { ...p.utilizationBand },
  },
  bookableFrom: p.bookableFrom,
  ...(p.resaleFeeBps !== undefined ? { resaleFeeBps: p.resaleFeeBps } : {}),
  ...(p.resaleOrder !== undefined ? { resaleOrder: p.resaleOrder } : {}),
});
