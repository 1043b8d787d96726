/**
 * What makes a catalog entry valid (pure). The operator API, `npm start`'s seed and the bootstrap
 * command all check sites, GPU types and pools with these rules before anything is written. Each
 * error names the field as the API spells it (`durationDiscounts[1].minHours`, `utilizationBand.floorBps`).
 */
import type { FieldError } from './errors.ts';
import type { Catalog, GpuType, Pool, Site } from './catalog.ts';
import type { PriceBook } from './pricing.ts';

const BPS = 10_000;
const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n);
const isFiniteNumber = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);
/** Catalog dates lie between these years: a typo (year 20260) is refused rather than scheduled. */
const EARLIEST = Date.parse('2000-01-01T00:00:00Z');
const LATEST = Date.parse('2100-01-01T00:00:00Z');
const isInstant = (s: unknown): boolean =>
  typeof s === 'string' &&
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s) &&
  Date.parse(s) >= EARLIEST &&
  Date.parse(s) < LATEST;
const isWholeHourInstant = (s: string): boolean => isInstant(s) && Date.parse(s) % 3_600_000 === 0;

// Built on first use: creating it loads ICU's region names, about 35 ms that every Lambda's init paid.
let regions: Intl.DisplayNames | undefined;
/** An assigned ISO 3166-1 alpha-2 code (`FR`), not merely two letters (`XX`). */
export const isCountryCode = (code: string): boolean => {
  if (!/^[A-Z]{2}$/.test(code)) return false;
  regions ??= new Intl.DisplayNames(['en'], { type: 'region' });
  const name = regions.of(code);
  return !!name && name !== code && name !== 'Unknown Region';
};

/** An IANA time zone the runtime knows (`Europe/Paris`). */
export const isTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return tz.length > 0;
  } catch {
    return false;
  }
};

export function siteErrors(site: Site): FieldError[] {
  const errors: FieldError[] = [];
  const fail = (path: string, message: string) => errors.push({ path, message });
  if (!isCountryCode(site.country)) fail('country', 'must be an ISO 3166-1 alpha-2 country code, e.g. FR');
  if (!isTimeZone(site.timezone)) fail('timezone', 'must be an IANA time zone, e.g. Europe/Paris');
  if (!isFiniteNumber(site.powerMw) || site.powerMw <= 0) fail('powerMw', 'must be a positive number of megawatts');
  if (!isInstant(site.opensAt)) fail('opensAt', 'must be an RFC 3339 timestamp between 2000 and 2100');
  if (!isFiniteNumber(site.pue) || site.pue < 1 || site.pue > 3) fail('pue', 'must be between 1 and 3 (facility energy ÷ IT energy)');
  if (!isFiniteNumber(site.gridCarbonGramsPerKwh) || site.gridCarbonGramsPerKwh < 0 || site.gridCarbonGramsPerKwh > 2000) {
    fail('gridCarbonGramsPerKwh', 'must be between 0 and 2000 g CO2e/kWh');
  }
  if (!isFiniteNumber(site.heatReuseFraction) || site.heatReuseFraction < 0 || site.heatReuseFraction > 1) fail('heatReuseFraction', 'must be between 0 and 1');
  return errors;
}

export function gpuTypeErrors(gpu: GpuType): FieldError[] {
  const errors: FieldError[] = [];
  if (!isInt(gpu.memoryGb) || gpu.memoryGb <= 0) errors.push({ path: 'memoryGb', message: 'must be a positive integer' });
  if (!isFiniteNumber(gpu.peakBf16Tflops) || gpu.peakBf16Tflops <= 0) errors.push({ path: 'peakBf16Tflops', message: 'must be a positive number' });
  if (!isInt(gpu.boardPowerWatts) || gpu.boardPowerWatts <= 0 || gpu.boardPowerWatts > 10_000) {
    errors.push({ path: 'boardPowerWatts', message: 'must be a positive integer number of watts (at most 10000)' });
  }
  return errors;
}

/** Tiers strictly increasing by threshold (no two tiers for the same threshold), discounts in 0..10000 bps. */
function tierErrors<T>(tiers: readonly T[], path: string, threshold: (t: T) => number, thresholdName: string, discount: (t: T) => number): FieldError[] {
  const errors: FieldError[] = [];
  tiers.forEach((t, i) => {
    const at = threshold(t);
    if (!isInt(at) || at < 1) errors.push({ path: `${path}[${i}].${thresholdName}`, message: 'must be a positive integer' });
    const d = discount(t);
    if (!isInt(d) || d < 0 || d >= BPS) errors.push({ path: `${path}[${i}].discountBps`, message: 'must be an integer in 0..9999' });
    if (i > 0) {
      const before = threshold(tiers[i - 1]!);
      if (at === before) errors.push({ path: `${path}[${i}].${thresholdName}`, message: `overlaps tier ${i - 1}: two tiers for ${at}` });
      else if (at < before) errors.push({ path: `${path}[${i}].${thresholdName}`, message: `tiers must be sorted by ${thresholdName}, ascending` });
    }
  });
  return errors;
}

export function priceBookErrors(book: PriceBook): FieldError[] {
  const errors: FieldError[] = [];
  if (!isInt(book.reservedRatePerGpuHour) || book.reservedRatePerGpuHour < 0) {
    errors.push({ path: 'reservedRate.amount', message: 'must be a non-negative integer number of cents' });
  }
  errors.push(...tierErrors(book.durationTiers, 'durationDiscounts', (t) => t.minHours, 'minHours', (t) => t.discountBps));
  errors.push(...tierErrors(book.leadTimeTiers, 'leadTimeDiscounts', (t) => t.minDaysAhead, 'minDaysAhead', (t) => t.discountBps));
  const u = book.utilization;
  if (!isInt(u.floorBps) || u.floorBps < 1 || u.floorBps > BPS) errors.push({ path: 'utilizationBand.floorBps', message: 'must be an integer in 1..10000' });
  if (!isInt(u.ceilingBps) || u.ceilingBps < BPS || u.ceilingBps > 3 * BPS) errors.push({ path: 'utilizationBand.ceilingBps', message: 'must be an integer in 10000..30000' });
  if (!isInt(u.targetBps) || u.targetBps < 0 || u.targetBps > BPS) errors.push({ path: 'utilizationBand.targetBps', message: 'must be an integer in 0..10000' });
  if (!isInt(u.slopeBps) || u.slopeBps < 0 || u.slopeBps > 5 * BPS) errors.push({ path: 'utilizationBand.slopeBps', message: 'must be an integer in 0..50000' });
  return errors;
}

/**
 * A pool's own rules and its place in the catalog: its site and GPU type exist, it is the only pool of
 * that GPU type at that site, bookings come in steps that tile nodes (a step divides `gpusPerNode` or
 * is a whole number of nodes), the minimum is a whole number of steps, capacity is whole nodes.
 */
export function poolErrors(pool: Pool, catalog: Catalog): FieldError[] {
  const errors: FieldError[] = [];
  const fail = (path: string, message: string) => errors.push({ path, message });
  if (!catalog.sites.some((s) => s.id === pool.site)) fail('site', `unknown site "${pool.site}"`);
  if (!catalog.gpuTypes.some((g) => g.id === pool.gpuType)) fail('gpuType', `unknown GPU type "${pool.gpuType}"`);
  const twin = catalog.pools.find((p) => p.id !== pool.id && p.site === pool.site && p.gpuType === pool.gpuType);
  if (twin) fail('gpuType', `site "${pool.site}" already has a ${pool.gpuType} pool (${twin.id})`);
  const { gpusPerNode: node, stepGpus: step, minGpus: min, totalGpus: total } = pool;
  const positive = (path: string, n: number) => {
    if (!isInt(n) || n < 1) {
      fail(path, 'must be a positive integer');
      return false;
    }
    return true;
  };
  const nodeOk = positive('gpusPerNode', node);
  const stepOk = positive('stepGpus', step);
  const minOk = positive('minGpus', min);
  if (!isInt(total) || total < 0) fail('totalGpus', 'must be a non-negative integer');
  else if (nodeOk && total % node !== 0) fail('totalGpus', `must be whole nodes: a multiple of gpusPerNode (${node})`);
  if (nodeOk && stepOk && node % step !== 0 && step % node !== 0) {
    fail('stepGpus', `must divide gpusPerNode (${node}) or be a whole number of nodes (a multiple of ${node})`);
  }
  if (stepOk && minOk && min % step !== 0) fail('minGpus', `must be a multiple of stepGpus (${step})`);
  if (!isInt(pool.onDemandRate.amount) || pool.onDemandRate.amount < 0) fail('onDemandRate.amount', 'must be a non-negative integer number of cents');
  if (!isWholeHourInstant(pool.bookableFrom)) fail('bookableFrom', 'must be an RFC 3339 timestamp on a whole UTC hour, between 2000 and 2100');
  errors.push(...priceBookErrors(pool.priceBook));
  return errors;
}

/** Every rule over a whole catalog (the versioned file `npm start` and the bootstrap command write). */
export function catalogErrors(catalog: Catalog): FieldError[] {
  const errors: FieldError[] = [];
  const unique = (kind: string, ids: string[]) =>
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i) errors.push({ path: `${kind}[${i}].id`, message: `duplicate id "${id}"` });
    });
  unique('sites', catalog.sites.map((s) => s.id));
  unique('gpuTypes', catalog.gpuTypes.map((g) => g.id));
  unique('pools', catalog.pools.map((p) => p.id));
  catalog.sites.forEach((s, i) => errors.push(...siteErrors(s).map((e) => ({ ...e, path: `sites[${i}].${e.path}` }))));
  catalog.gpuTypes.forEach((g, i) => errors.push(...gpuTypeErrors(g).map((e) => ({ ...e, path: `gpuTypes[${i}].${e.path}` }))));
  catalog.pools.forEach((p, i) => errors.push(...poolErrors(p, catalog).map((e) => ({ ...e, path: `pools[${i}].${e.path}` }))));
  return errors;
}
