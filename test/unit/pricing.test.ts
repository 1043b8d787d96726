import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { refundFor } from '#domain/cancellation.ts';
import { divideRoundHalfUp, eur, formatMoney, sumMoney } from '#domain/money.ts';
import {
  assertValidPriceBook,
  defaultPriceBook,
  durationTierFor,
  leadTimeTierFor,
  onDemandCharge,
  priceReservation,
  utilizationFactorBps,
  type PriceBook,
  type PriceInput,
} from '#domain/pricing.ts';
import { DAY_MS, HOUR_MS } from '#domain/time.ts';
import { invoiceTotals, taxTreatmentFor } from '#domain/vat.ts';

const LABEL = 'H100 SXM 80GB · Valence–Rovaltain';
const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (hoursFromT0: number): Date => new Date(T0 + hoursFromT0 * HOUR_MS);

const input = (overrides: Partial<PriceInput> = {}): PriceInput => ({
  poolLabel: LABEL,
  priceBook: defaultPriceBook(295),
  gpus: 8,
  start: at(0),
  end: at(1),
  now: at(0),
  utilizationBps: 5000,
  ...overrides,
});

const amounts = (r: { lines: { kind: string; amount: { amount: number } }[] }): Record<string, number> =>
  Object.fromEntries(r.lines.map((l) => [l.kind, l.amount.amount]));

describe('worked example of docs/pricing.md', () => {
  const start = new Date('2026-04-16T00:00:00Z');
  const example = priceReservation({
    poolLabel: LABEL,
    priceBook: defaultPriceBook(295),
    gpus: 8,
    start,
    end: new Date('2026-04-23T00:00:00Z'),
    now: new Date('2026-03-02T09:17:00Z'),
    utilizationBps: 7200,
  });
  const docs = readFileSync(new URL('../../docs/pricing.md', import.meta.url), 'utf8');

  it('prices to the cent as documented', () => {
    expect(example.gpuHours).toBe(1344);
    expect(example.utilizationFactorBps).toBe(11100);
    expect(example.lines).toEqual([
      { kind: 'base', description: '8 GPUs × 168 h × €2.95/GPU-h (H100 SXM 80GB · Valence–Rovaltain)', amount: eur(396480) },
      { kind: 'duration_discount', description: 'Duration discount ≥ 7 days (−5 %)', amount: eur(-19824) },
      { kind: 'lead_time_discount', description: 'Lead-time discount ≥ 30 days ahead (−3 %)', amount: eur(-11300) },
      { kind: 'utilization', description: 'Utilization adjustment: pool 72 % utilized (+11 %)', amount: eur(40190) },
    ]);
    expect(example.total).toEqual(eur(405546));
    expect(example.unitPrice).toEqual(eur(302));
  });

  it('is the example the document shows, line by line', () => {
    for (const line of example.lines) {
      const row = docs.split('\n').find((l) => l.startsWith(line.description));
      expect(row, line.description).toBeDefined();
      expect(row!.trim().endsWith(formatMoney(line.amount))).toBe(true);
    }
    expect(docs).toContain(`Total **${formatMoney(example.total)}**`);
    expect(docs).toContain(`unit price ${formatMoney(example.unitPrice)}/GPU-h`);
  });

  it('has the documented VAT and refund figures', () => {
    const lines = example.lines.map((l) => l.amount);
    const french = invoiceTotals(lines, taxTreatmentFor({ country: 'FR', vatNumber: 'FR40303265045' }).rateBps);
    expect(french).toEqual({ subtotal: eur(405546), tax: eur(81109), total: eur(486655) });
    expect(docs).toContain(`sum **${formatMoney(french.tax)}**; total **${formatMoney(french.total)}**`);
    const german = invoiceTotals(lines, taxTreatmentFor({ country: 'DE', vatNumber: 'DE129273398' }).rateBps);
    expect(german.total).toEqual(example.total);
    const refund = refundFor({ paid: example.total, start, now: new Date('2026-04-11T08:00:00Z') });
    expect(refund.percent).toBe(50);
    expect(docs).toContain(`50 % refund = **${formatMoney(refund.amount)}**`);
  });
});

describe('priceReservation', () => {
  it('is the base alone when no tier applies and the pool is at its target', () => {
    const r = priceReservation(input({ gpus: 1 }));
    expect(r.lines).toEqual([{ kind: 'base', description: `1 GPU × 1 h × €2.95/GPU-h (${LABEL})`, amount: eur(295) }]);
    expect(r.total).toEqual(eur(295));
    expect(r.unitPrice).toEqual(eur(295));
    expect(r.utilizationFactorBps).toBe(10000);
  });

  it.each([
    [167, undefined],
    [168, -500],
    [719, -500],
    [720, -1200],
    [2159, -1200],
    [2160, -2000],
    [8760, -2000],
  ])('a %i-hour booking gets the right duration tier', (hours, expectedBps) => {
    const r = priceReservation(input({ gpus: 1, end: at(hours), priceBook: defaultPriceBook(10000) }));
    const base = hours * 10000;
    expect(amounts(r).duration_discount).toBe(expectedBps === undefined ? undefined : (base * expectedBps) / 10000);
  });

  it('names the tier reached in the description', () => {
    const month = priceReservation(input({ end: at(720) }));
    expect(month.lines.find((l) => l.kind === 'duration_discount')?.description).toBe('Duration discount ≥ 30 days (−12 %)');
    const quarter = priceReservation(input({ end: at(2160) }));
    expect(quarter.lines.find((l) => l.kind === 'duration_discount')?.description).toBe('Duration discount ≥ 90 days (−20 %)');
  });

  it('picks the duration tier from tierHours when given (extensions)', () => {
    const extension = priceReservation(input({ gpus: 1, start: at(168), end: at(170), now: at(0), tierHours: 170, priceBook: defaultPriceBook(10000) }));
    expect(amounts(extension).duration_discount).toBe(-1000); // 5 % of 2 × €100
    const alone = priceReservation(input({ gpus: 1, start: at(168), end: at(170), now: at(0), priceBook: defaultPriceBook(10000) }));
    expect(amounts(alone).duration_discount).toBeUndefined();
  });

  it('applies lead-time tiers on exact milliseconds', () => {
    const book = defaultPriceBook(10000);
    const priced = (aheadMs: number) =>
      amounts(priceReservation(input({ gpus: 1, start: at(24 * 200), end: at(24 * 200 + 1), now: new Date(T0 + 200 * DAY_MS - aheadMs), priceBook: book })));
    expect(priced(30 * DAY_MS - 1).lead_time_discount).toBeUndefined();
    expect(priced(30 * DAY_MS).lead_time_discount).toBe(-300);
    expect(priced(90 * DAY_MS - 1).lead_time_discount).toBe(-300);
    expect(priced(90 * DAY_MS).lead_time_discount).toBe(-600);
    expect(priced(0).lead_time_discount).toBeUndefined();
    expect(priced(-HOUR_MS).lead_time_discount).toBeUndefined();
  });

  it('compounds the factors as the contract multiplies them', () => {
    // 1 GPU × 2160 h × €100: ×0.80 (≥ 90 days) ×0.94 (≥ 90 days ahead) ×1.25 (full pool)
    const r = priceReservation(input({ gpus: 1, start: at(24 * 100), end: at(24 * 100 + 2160), now: at(0), utilizationBps: 10000, priceBook: defaultPriceBook(10000) }));
    expect(amounts(r)).toEqual({ base: 21_600_000, duration_discount: -4_320_000, lead_time_discount: -1_036_800, utilization: 4_060_800 });
    expect(r.total).toEqual(eur(20_304_000)); // 21,600,000 × 0.8 × 0.94 × 1.25
  });

  it('rounds the running price once per factor and keeps total = sum of lines', () => {
    // base 295; ×0.95 = 280.25 → 280; ×0.97 = 271.8425 → 272; ×1.11 = 301.745175 → 302
    const r = priceReservation(input({ gpus: 1, now: at(-24 * 31), tierHours: 168, utilizationBps: 7200 }));
    expect(amounts(r)).toEqual({ base: 295, duration_discount: -15, lead_time_discount: -8, utilization: 30 });
    expect(r.total).toEqual(eur(302));
    const tiny = priceReservation(input({ gpus: 1, now: at(-24 * 31), utilizationBps: 7200, priceBook: defaultPriceBook(1) }));
    // 1 cent × 0.97 = 0.97 → 1 and × 1.11 = 1.0767 → 1: no change, so no line
    expect(tiny.lines.map((l) => l.kind)).toEqual(['base']);
    expect(tiny.total).toEqual(eur(1));
  });

  it('makes idle windows cheaper and scarce ones dearer within the band', () => {
    const idle = priceReservation(input({ utilizationBps: 0 }));
    expect(idle.utilizationFactorBps).toBe(9000);
    expect(amounts(idle).utilization).toBe(-236); // 8 × 295 = 2360 × −10 %
    expect(idle.lines.at(-1)?.description).toBe('Utilization adjustment: pool 0 % utilized (−10 %)');
    const full = priceReservation(input({ utilizationBps: 10000 }));
    expect(full.utilizationFactorBps).toBe(12500);
    expect(amounts(full).utilization).toBe(590);
  });

  it('prices 365 days × 1024 GPUs exactly', () => {
    const hours = 365 * 24;
    const rate = 99_999;
    const r = priceReservation(input({ gpus: 1024, start: at(24 * 365), end: at(24 * 365 + hours), now: at(0), utilizationBps: 9999, priceBook: defaultPriceBook(rate) }));
    const base = 1024n * BigInt(hours) * BigInt(rate);
    const factor = utilizationFactorBps(defaultPriceBook(rate).utilization, 9999); // 10000 + 2499.5 → 12500
    const expected = divideRoundHalfUp(base * 8000n * 9400n * BigInt(factor), 10000n ** 3n);
    expect(r.gpuHours).toBe(1024 * hours);
    expect(BigInt(r.lines[0]!.amount.amount)).toBe(base);
    expect(BigInt(r.total.amount)).toBe(expected);
    expect(BigInt(sumMoney(r.lines.map((l) => l.amount)).amount)).toBe(expected);
  });

  it('rejects invalid windows and GPU counts with RangeError', () => {
    const bad: Partial<PriceInput>[] = [
      { gpus: 0 },
      { gpus: -8 },
      { gpus: 1.5 },
      { start: at(1), end: at(1) },
      { start: at(2), end: at(1) },
      { start: new Date(T0 + 30 * 60_000), end: at(2) },
      { end: new Date(T0 + HOUR_MS + 1) },
      { end: new Date(Number.NaN) },
      { utilizationBps: -1 },
      { utilizationBps: 10001 },
      { utilizationBps: 50.5 },
      { tierHours: 0 },
      { tierHours: 1.5 },
      { priceBook: { ...defaultPriceBook(295), reservedRatePerGpuHour: 2.95 } },
    ];
    for (const overrides of bad) expect(() => priceReservation(input(overrides)), JSON.stringify(overrides)).toThrow(RangeError);
  });
});

describe('price book', () => {
  it('has the documented defaults', () => {
    expect(defaultPriceBook(199)).toEqual({
      reservedRatePerGpuHour: 199,
      durationTiers: [
        { minHours: 168, discountBps: 500 },
        { minHours: 720, discountBps: 1200 },
        { minHours: 2160, discountBps: 2000 },
      ],
      leadTimeTiers: [
        { minDaysAhead: 30, discountBps: 300 },
        { minDaysAhead: 90, discountBps: 600 },
      ],
      utilization: { floorBps: 9000, ceilingBps: 12500, targetBps: 5000, slopeBps: 5000 },
    });
  });

  it('gives each call its own copy', () => {
    const a = defaultPriceBook(1);
    a.utilization.floorBps = 0;
    a.durationTiers.pop();
    expect(defaultPriceBook(1).utilization.floorBps).toBe(9000);
    expect(defaultPriceBook(1).durationTiers).toHaveLength(3);
  });

  it('validates ranges', () => {
    const book = defaultPriceBook(295);
    expect(() => assertValidPriceBook(book)).not.toThrow();
    const broken: PriceBook[] = [
      { ...book, reservedRatePerGpuHour: -1 },
      { ...book, durationTiers: [{ minHours: 0, discountBps: 500 }] },
      { ...book, durationTiers: [{ minHours: 168, discountBps: 10001 }] },
      { ...book, leadTimeTiers: [{ minDaysAhead: 30, discountBps: -1 }] },
      { ...book, leadTimeTiers: [{ minDaysAhead: 0.5, discountBps: 300 }] },
      { ...book, utilization: { ...book.utilization, ceilingBps: 8000 } },
      { ...book, utilization: { ...book.utilization, floorBps: -1, ceilingBps: 12500 } },
      { ...book, utilization: { ...book.utilization, targetBps: 10001 } },
      { ...book, utilization: { ...book.utilization, slopeBps: -5 } },
    ];
    for (const b of broken) expect(() => assertValidPriceBook(b), JSON.stringify(b)).toThrow(RangeError);
  });

  it('picks the highest threshold reached, whatever the order of the tiers', () => {
    const tiers = [
      { minHours: 720, discountBps: 1200 },
      { minHours: 168, discountBps: 500 },
    ];
    expect(durationTierFor(tiers, 800)?.discountBps).toBe(1200);
    expect(durationTierFor(tiers, 200)?.discountBps).toBe(500);
    expect(durationTierFor([], 10_000)).toBeUndefined();
    const lead = [
      { minDaysAhead: 90, discountBps: 600 },
      { minDaysAhead: 30, discountBps: 300 },
    ];
    expect(leadTimeTierFor(lead, new Date(T0 + 100 * DAY_MS), new Date(T0))?.discountBps).toBe(600);
  });

  it.each([
    [0, 9000],
    [3000, 9000],
    [4000, 9500],
    [5000, 10000],
    [7200, 11100],
    [9000, 12000],
    [10000, 12500],
  ])('utilization %i bps → factor %i bps', (u, factor) => {
    expect(utilizationFactorBps(defaultPriceBook(1).utilization, u)).toBe(factor);
  });

  it('rounds the factor to a whole bp, half away from zero, before clamping', () => {
    const band = { floorBps: 0, ceilingBps: 20000, targetBps: 5000, slopeBps: 3333 };
    expect(utilizationFactorBps(band, 5015)).toBe(10005); // 3333 × 15 / 10000 = 4.9995 → 5
    expect(utilizationFactorBps(band, 4985)).toBe(9995); // −4.9995 → −5
    expect(utilizationFactorBps({ ...band, slopeBps: 5000 }, 5001)).toBe(10001); // 0.5 → 1
    expect(utilizationFactorBps({ ...band, slopeBps: 5000 }, 4999)).toBe(9999); // −0.5 → −1
  });
});

describe('pricing properties', () => {
  const book = fc.record({
    reservedRatePerGpuHour: fc.integer({ min: 0, max: 1_000_000 }),
    durationTiers: fc.array(fc.record({ minHours: fc.integer({ min: 1, max: 9000 }), discountBps: fc.integer({ min: 0, max: 10000 }) }), { maxLength: 4 }),
    leadTimeTiers: fc.array(fc.record({ minDaysAhead: fc.integer({ min: 1, max: 400 }), discountBps: fc.integer({ min: 0, max: 10000 }) }), { maxLength: 4 }),
    utilization: fc
      .record({ floorBps: fc.integer({ min: 0, max: 10000 }), spread: fc.integer({ min: 0, max: 20000 }), targetBps: fc.integer({ min: 0, max: 10000 }), slopeBps: fc.integer({ min: 0, max: 30000 }) })
      .map(({ floorBps, spread, targetBps, slopeBps }) => ({ floorBps, ceilingBps: floorBps + spread, targetBps, slopeBps })),
  });
  const quote = fc.record({
    priceBook: book,
    gpus: fc.integer({ min: 1, max: 1024 }),
    startHour: fc.integer({ min: 0, max: 24 * 366 }),
    hours: fc.integer({ min: 1, max: 24 * 365 }),
    nowOffsetMs: fc.integer({ min: -DAY_MS, max: 400 * DAY_MS }),
    utilizationBps: fc.integer({ min: 0, max: 10000 }),
    tierHours: fc.option(fc.integer({ min: 1, max: 24 * 365 }), { nil: undefined }),
  });
  const toInput = (q: { priceBook: PriceBook; gpus: number; startHour: number; hours: number; nowOffsetMs: number; utilizationBps: number; tierHours: number | undefined }): PriceInput => {
    const start = at(q.startHour);
    return {
      poolLabel: LABEL,
      priceBook: q.priceBook,
      gpus: q.gpus,
      start,
      end: at(q.startHour + q.hours),
      now: new Date(start.getTime() - q.nowOffsetMs),
      utilizationBps: q.utilizationBps,
      ...(q.tierHours === undefined ? {} : { tierHours: q.tierHours }),
    };
  };

  it('total is the exact sum of the lines, never negative, and discounts never add', () => {
    fc.assert(
      fc.property(quote, (q) => {
        const r = priceReservation(toInput(q));
        expect(r.total).toEqual(sumMoney(r.lines.map((l) => l.amount)));
        expect(r.total.amount).toBeGreaterThanOrEqual(0);
        expect(r.lines[0]?.kind).toBe('base');
        for (const line of r.lines) {
          expect(Number.isSafeInteger(line.amount.amount)).toBe(true);
          if (line.kind !== 'base') expect(line.amount.amount).not.toBe(0);
          if (line.kind === 'duration_discount' || line.kind === 'lead_time_discount') expect(line.amount.amount).toBeLessThan(0);
          if (line.kind === 'utilization') expect(Math.sign(line.amount.amount)).toBe(Math.sign(r.utilizationFactorBps - 10000));
        }
        expect(r.gpuHours).toBe(q.gpus * q.hours);
        expect(r.lines[0]!.amount.amount).toBe(q.gpus * q.hours * q.priceBook.reservedRatePerGpuHour);
      }),
    );
  });

  it('total equals the contract formula rounded once, recomputed independently', () => {
    fc.assert(
      fc.property(quote, (q) => {
        const inp = toInput(q);
        const r = priceReservation(inp);
        const tierHours = q.tierHours ?? q.hours;
        const aheadMs = inp.start.getTime() - inp.now.getTime();
        const durationBps = [...q.priceBook.durationTiers].sort((a, b) => b.minHours - a.minHours).find((t) => tierHours >= t.minHours)?.discountBps ?? 0;
        const leadBps = [...q.priceBook.leadTimeTiers].sort((a, b) => b.minDaysAhead - a.minDaysAhead).find((t) => aheadMs >= t.minDaysAhead * DAY_MS)?.discountBps ?? 0;
        const u = q.priceBook.utilization;
        // docs/pricing.md: the adjustment slope × (u − target) ÷ 10000 is rounded to a whole bp (half away
        // from zero, so −955.5 → −956), then added to 10000 and clamped.
        const adjustment = divideRoundHalfUp(BigInt(u.slopeBps) * BigInt(q.utilizationBps - u.targetBps), 10000n);
        const factor = Math.min(u.ceilingBps, Math.max(u.floorBps, 10000 + Number(adjustment)));
        expect(r.utilizationFactorBps).toBe(factor);
        const base = BigInt(q.gpus * q.hours) * BigInt(q.priceBook.reservedRatePerGpuHour);
        const exact = divideRoundHalfUp(base * BigInt(10000 - durationBps) * BigInt(10000 - leadBps) * BigInt(factor), 10n ** 12n);
        expect(BigInt(r.total.amount)).toBe(exact);
      }),
      {
        // CI's counterexample (seed -705650667): 13000 × (6231 − 6966) / 10000 = −955.5 → −956, factor 9044.
        examples: [[{ priceBook: { reservedRatePerGpuHour: 0, durationTiers: [], leadTimeTiers: [], utilization: { floorBps: 0, ceilingBps: 9045, targetBps: 6966, slopeBps: 13000 } }, gpus: 1, startHour: 0, hours: 1, nowOffsetMs: 0, utilizationBps: 6231, tierHours: undefined }]],
      },
    );
  });

  it('unit price is the total ÷ GPU-hours to the nearest cent', () => {
    fc.assert(
      fc.property(quote, (q) => {
        const r = priceReservation(toInput(q));
        expect(Math.abs(r.unitPrice.amount * r.gpuHours - r.total.amount)).toBeLessThanOrEqual(r.gpuHours / 2);
      }),
    );
  });
});

describe('onDemandCharge', () => {
  it('charges GPU-seconds × rate / 3600, rounded half up once', () => {
    expect(onDemandCharge(3600, 249)).toEqual(eur(249));
    expect(onDemandCharge(0, 249)).toEqual(eur(0));
    expect(onDemandCharge(1, 249)).toEqual(eur(0)); // 0.069 cents
    expect(onDemandCharge(1800, 1)).toEqual(eur(1)); // 0.5 → 1
    expect(onDemandCharge(1799, 1)).toEqual(eur(0));
    expect(onDemandCharge(8 * 90 * 60, 249)).toEqual(eur(2988)); // 8 GPUs × 1.5 h
    expect(onDemandCharge(1024 * 365 * 86400, 99_999)).toEqual(eur(1024 * 365 * 24 * 99_999));
  });

  it('rejects fractional or negative inputs', () => {
    expect(() => onDemandCharge(1.5, 249)).toThrow(RangeError);
    expect(() => onDemandCharge(-1, 249)).toThrow(RangeError);
    expect(() => onDemandCharge(3600, 2.49)).toThrow(RangeError);
  });

  it('is within half a cent of the exact value (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1024 * 366 * 86400 }), fc.integer({ min: 0, max: 100_000 }), (seconds, rate) => {
        const charged = BigInt(onDemandCharge(seconds, rate).amount);
        const twiceError = 2n * charged * 3600n - 2n * BigInt(seconds) * BigInt(rate);
        expect(twiceError <= 3600n && twiceError > -3600n).toBe(true);
      }),
    );
  });
});
