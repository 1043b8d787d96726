/**
 * Reserved and on-demand pricing (docs/pricing.md). Pure: no clock, no I/O; `now` and the pool's
 * utilization come in with the input.
 *
 * Reserved price = GPU-hours × rate × (1 − duration discount) × (1 − lead-time discount) × utilization factor,
 * computed exactly and rounded once to the cent. The quote shows it as lines: the base, then one line per
 * factor equal to the change that factor makes to the running price; the lines add up to the total exactly.
 */
import { BPS_PER_UNIT, eur, formatBpsAsPercent, formatMoney, mulRound, sumMoney, type Money } from './money.ts';
import { DAY_MS, HOUR_MS, isWholeHour } from './time.ts';

export interface DurationTier {
  /** The booking lasts at least this many hours. */
  minHours: number;
  discountBps: number;
}

export interface LeadTimeTier {
  /** The booking starts at least this many days (of 24 h) after it is quoted. */
  minDaysAhead: number;
  discountBps: number;
}

/** factor = 10000 + slope × (u − target) / 10000, clamped to [floor, ceiling]; all in bps. */
export interface UtilizationBand {
  floorBps: number;
  ceilingBps: number;
  targetBps: number;
  slopeBps: number;
}

export interface PriceBook {
  /** Cents per GPU-hour. */
  reservedRatePerGpuHour: number;
  durationTiers: DurationTier[];
  leadTimeTiers: LeadTimeTier[];
  utilization: UtilizationBand;
}

export interface PriceInput {
  /** e.g. "H100 SXM 80GB · Valence–Rovaltain" */
  poolLabel: string;
  priceBook: PriceBook;
  gpus: number;
  start: Date;
  end: Date;
  now: Date;
  /** Booked fraction of the pool over the quoted window, in bps (0..10000). */
  utilizationBps: number;
  /** Duration used to pick the duration tier; defaults to the window length (extensions pass the whole booking's). */
  tierHours?: number;
}

export type PriceLineKind = 'base' | 'duration_discount' | 'lead_time_discount' | 'utilization';

export interface PriceLine {
  kind: PriceLineKind;
  description: string;
  amount: Money;
  /**
   * The hours this line prices when they are not the booking's quoted window: an extension's extra
   * hours (ISO instants, start inclusive, end exclusive). Absent on a quote's own lines. Billing reads
   * it to tell a quote's window from its extensions' and to count a base line's GPU-hours; the
   * description is for people only and is never parsed back.
   */
  window?: { start: string; end: string };
}

/** The lines of an extension of a booking from `start` to `end`: each names and carries that window. */
export const extensionLines = (lines: readonly PriceLine[], start: Date, end: Date): PriceLine[] =>
  lines.map((l) => ({ ...l, description: `Extension ${start.toISOString()} → ${end.toISOString()}: ${l.description}`, window: { start: start.toISOString(), end: end.toISOString() } }));

export interface PriceResult {
  gpuHours: number;
  /** Effective rate per GPU-hour (total ÷ GPU-hours, rounded half up), for display only. */
  unitPrice: Money;
  lines: PriceLine[];
  total: Money;
  utilizationFactorBps: number;
}

export const DEFAULT_UTILIZATION_BAND: Readonly<UtilizationBand> = Object.freeze({
  floorBps: 9000,
  ceilingBps: 12500,
  targetBps: 5000,
  slopeBps: 5000,
});

export const defaultPriceBook = (reservedRatePerGpuHour: number): PriceBook => ({
  reservedRatePerGpuHour,
  durationTiers: [
    { minHours: 168, discountBps: 500 },
    { minHours: 720, discountBps: 1200 },
    { minHours: 2160, discountBps: 2000 },
  ],
  leadTimeTiers: [
    { minDaysAhead: 30, discountBps: 300 },
    { minDaysAhead: 90, discountBps: 600 },
  ],
  utilization: { ...DEFAULT_UTILIZATION_BAND },
});

const isNonNegativeInteger = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
const isBps = (n: number): boolean => isNonNegativeInteger(n) && n <= BPS_PER_UNIT;

/** Throws RangeError naming the first field of the price book that is out of range. */
export const assertValidPriceBook = (book: PriceBook): void => {
  const fail = (field: string, rule: string): never => {
    throw new RangeError(`priceBook.${field} ${rule}`);
  };
  if (!isNonNegativeInteger(book.reservedRatePerGpuHour)) fail('reservedRatePerGpuHour', 'must be a non-negative integer number of cents');
  book.durationTiers.forEach((t, i) => {
    if (!Number.isSafeInteger(t.minHours) || t.minHours < 1) fail(`durationTiers[${i}].minHours`, 'must be a positive integer');
    if (!isBps(t.discountBps)) fail(`durationTiers[${i}].discountBps`, 'must be an integer in 0..10000');
  });
  book.leadTimeTiers.forEach((t, i) => {
    if (!Number.isSafeInteger(t.minDaysAhead) || t.minDaysAhead < 1) fail(`leadTimeTiers[${i}].minDaysAhead`, 'must be a positive integer');
    if (!isBps(t.discountBps)) fail(`leadTimeTiers[${i}].discountBps`, 'must be an integer in 0..10000');
  });
  const u = book.utilization;
  if (!isNonNegativeInteger(u.floorBps)) fail('utilization.floorBps', 'must be a non-negative integer');
  if (!Number.isSafeInteger(u.ceilingBps) || u.ceilingBps < u.floorBps) fail('utilization.ceilingBps', 'must be an integer ≥ floorBps');
  if (!isBps(u.targetBps)) fail('utilization.targetBps', 'must be an integer in 0..10000');
  if (!isNonNegativeInteger(u.slopeBps)) fail('utilization.slopeBps', 'must be a non-negative integer');
};

/** The tier with the highest threshold that `hours` reaches, if any. */
export const durationTierFor = (tiers: readonly DurationTier[], hours: number): DurationTier | undefined =>
  tiers.filter((t) => hours >= t.minHours).reduce<DurationTier | undefined>((best, t) => (!best || t.minHours > best.minHours ? t : best), undefined);

/** The tier with the highest threshold that the gap from `now` to `start` reaches (exact milliseconds), if any. */
export const leadTimeTierFor = (tiers: readonly LeadTimeTier[], start: Date, now: Date): LeadTimeTier | undefined => {
  const aheadMs = start.getTime() - now.getTime();
  return tiers
    .filter((t) => aheadMs >= t.minDaysAhead * DAY_MS)
    .reduce<LeadTimeTier | undefined>((best, t) => (!best || t.minDaysAhead > best.minDaysAhead ? t : best), undefined);
};

/** 10000 + slope × (u − target) / 10000 (rounded half away from zero to a whole bp), clamped to the band. */
export const utilizationFactorBps = (band: UtilizationBand, utilizationBps: number): number => {
  const raw = BPS_PER_UNIT + mulRound(band.slopeBps, utilizationBps - band.targetBps, BPS_PER_UNIT);
  return Math.min(band.ceilingBps, Math.max(band.floorBps, raw));
};

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** 168 → "7 days", 36 → "36 h". */
const durationLabel = (hours: number): string => (hours % 24 === 0 ? plural(hours / 24, 'day', 'days') : `${hours} h`);

/** A signed percent change for a label: −500 → "−5 %", 1100 → "+11 %". */
const signedPercent = (changeBps: number): string => `${changeBps > 0 ? '+' : ''}${formatBpsAsPercent(changeBps)} %`;

const validateInput = (input: PriceInput): number => {
  const { gpus, start, end, now, utilizationBps, tierHours } = input;
  if (!Number.isSafeInteger(gpus) || gpus < 1) throw new RangeError(`gpus must be a positive integer, got ${gpus}`);
  for (const [name, d] of [['start', start], ['end', end], ['now', now]] as const) {
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new RangeError(`${name} must be a valid date`);
  }
  if (!isWholeHour(start) || !isWholeHour(end)) throw new RangeError('start and end must be whole UTC hours');
  if (end.getTime() <= start.getTime()) throw new RangeError('end must be after start');
  if (!isBps(utilizationBps)) throw new RangeError(`utilizationBps must be an integer in 0..10000, got ${utilizationBps}`);
  if (tierHours !== undefined && (!Number.isSafeInteger(tierHours) || tierHours < 1)) {
    throw new RangeError(`tierHours must be a positive integer, got ${tierHours}`);
  }
  assertValidPriceBook(input.priceBook);
  return (end.getTime() - start.getTime()) / HOUR_MS;
};

/**
 * Prices a reserved window. Lines: the base (always), then the duration discount, the lead-time
 * discount and the utilization adjustment, each omitted when it is zero. Line k is
 * round(base × f1 × … × fk) − round(base × f1 × … × fk−1), so every line is a whole number of cents,
 * discounts are never positive, and the lines sum exactly to round(base × all factors) = total.
 * Throws RangeError on invalid input (fractional hours, end ≤ start, non-positive or fractional GPUs, …).
 */
export const priceReservation = (input: PriceInput): PriceResult => {
  const hours = validateInput(input);
  const { priceBook: book, gpus } = input;
  const gpuHours = mulRound(gpus, hours, 1);
  const rate = book.reservedRatePerGpuHour;
  const base = mulRound(gpuHours, rate, 1);

  const durationTier = durationTierFor(book.durationTiers, input.tierHours ?? hours);
  const leadTimeTier = leadTimeTierFor(book.leadTimeTiers, input.start, input.now);
  const factorBps = utilizationFactorBps(book.utilization, input.utilizationBps);

  const adjustments: { kind: PriceLineKind; factorBps: number; description: string }[] = [];
  if (durationTier) {
    adjustments.push({
      kind: 'duration_discount',
      factorBps: BPS_PER_UNIT - durationTier.discountBps,
      description: `Duration discount ≥ ${durationLabel(durationTier.minHours)} (${signedPercent(-durationTier.discountBps)})`,
    });
  }
  if (leadTimeTier) {
    adjustments.push({
      kind: 'lead_time_discount',
      factorBps: BPS_PER_UNIT - leadTimeTier.discountBps,
      description: `Lead-time discount ≥ ${plural(leadTimeTier.minDaysAhead, 'day', 'days')} ahead (${signedPercent(-leadTimeTier.discountBps)})`,
    });
  }
  adjustments.push({
    kind: 'utilization',
    factorBps,
    description: `Utilization adjustment: pool ${formatBpsAsPercent(input.utilizationBps)} % utilized (${signedPercent(factorBps - BPS_PER_UNIT)})`,
  });

  const lines: PriceLine[] = [
    {
      kind: 'base',
      description: `${plural(gpus, 'GPU', 'GPUs')} × ${hours} h × ${formatMoney(eur(rate))}/GPU-h (${input.poolLabel})`,
      amount: eur(base),
    },
  ];
  let numerator = 1n;
  let denominator = 1n;
  let running = base;
  for (const adjustment of adjustments) {
    numerator *= BigInt(adjustment.factorBps);
    denominator *= BigInt(BPS_PER_UNIT);
    const next = mulRound(base, numerator, denominator);
    if (next !== running) lines.push({ kind: adjustment.kind, description: adjustment.description, amount: eur(next - running) });
    running = next;
  }

  const total = sumMoney(lines.map((l) => l.amount));
  return { gpuHours, unitPrice: eur(mulRound(total.amount, 1, gpuHours)), lines, total, utilizationFactorBps: factorBps };
};

/** On-demand charge: gpuSeconds × rate / 3600, exact, rounded half up once (per charge, not per usage event). */
export const onDemandCharge = (gpuSeconds: number, ratePerGpuHour: number): Money => {
  if (!isNonNegativeInteger(gpuSeconds)) throw new RangeError(`gpuSeconds must be a non-negative integer, got ${gpuSeconds}`);
  if (!isNonNegativeInteger(ratePerGpuHour)) throw new RangeError(`ratePerGpuHour must be a non-negative integer, got ${ratePerGpuHour}`);
  return eur(mulRound(gpuSeconds, ratePerGpuHour, 3600));
};
