/**
 * The pure offer search (shared/domain/offers.ts) against brute force on random pool loads: every
 * offer fits and keeps to the search, its price is priceWindow's, the order and the spread are the
 * documented ones, and `nearest` finds what an exhaustive scan finds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUCKET_HOURS, minAvailable, shiftHours, type Bucket, type PoolLoad } from '../../shared/domain/capacity.ts';
import type { Pool } from '../../shared/domain/catalog.ts';
import { eur } from '../../shared/domain/money.ts';
import { earliestFitBeyond, findOffers, mostGpusFree, type OfferSearch, type PoolInput } from '../../shared/domain/offers.ts';
import { defaultPriceBook } from '../../shared/domain/pricing.ts';
import { epochHour, fromEpochHour } from '../../shared/domain/time.ts';
import { priceWindow } from '../../shared/domain/window-price.ts';

const NOW = new Date('2026-11-24T10:20:00Z');
const H0 = epochHour(NOW) + 1;

const pool = (id: string, totalGpus: number, rate: number, bookableFrom = '2025-01-01T00:00:00Z'): Pool => ({
  id,
  site: id,
  gpuType: 'h100-sxm-80gb',
  totalGpus,
  gpusPerNode: 8,
  minGpus: 8,
  stepGpus: 8,
  onDemandRate: eur(rate + 50),
  priceBook: defaultPriceBook(rate),
  bookableFrom,
});

/** A load with reservations [offset from H0, hours, gpus] applied. */
function loadOf(p: Pool, bookings: [number, number, number][], onDemand = 0): PoolLoad {
  let l: PoolLoad = { totalGpus: p.totalGpus, onDemand, buckets: new Map<number, Bucket>() };
  for (const [at, hours, gpus] of bookings) {
    const changed = shiftHours(l, H0 + at, H0 + at + hours, gpus);
    const buckets = new Map(l.buckets);
    for (const b of changed) buckets.set(b.bucket, b);
    l = { ...l, buckets };
  }
  return l;
}

const booking = (range: number) => fc.tuple(fc.integer({ min: 0, max: range }), fc.integer({ min: 1, max: 60 }), fc.constantFrom(8, 16, 24, 32));
const scenario = fc.record({
  bookingsA: fc.array(booking(200), { maxLength: 8 }),
  bookingsB: fc.array(booking(200), { maxLength: 8 }),
  measuredA: fc.integer({ min: 0, max: 9000 }),
  gpus: fc.constantFrom(8, 16, 32),
  minHours: fc.integer({ min: 1, max: 40 }),
  extraHours: fc.integer({ min: 0, max: 60 }),
  fromOffset: fc.integer({ min: 0, max: 40 }),
  span: fc.integer({ min: 40, max: 240 }),
  sort: fc.constantFrom('price' as const, 'start' as const),
  limit: fc.integer({ min: 1, max: 20 }),
  cap: fc.option(fc.integer({ min: 170, max: 260 }), { nil: null }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;
function build(s: Scenario) {
  const a = pool('a', 48, 199);
  const b = pool('b', 40, 189);
  const inputs: PoolInput[] = [
    { pool: a, label: 'A', load: loadOf(a, s.bookingsA), measuredUtilizationBps: s.measuredA },
    { pool: b, label: 'B', load: loadOf(b, s.bookingsB), measuredUtilizationBps: 0 },
  ];
  const search: OfferSearch = {
    gpus: s.gpus,
    minHours: s.minHours,
    maxHours: s.minHours + s.extraHours,
    fromHour: H0 + s.fromOffset,
    toHour: H0 + s.fromOffset + s.span,
    lastStartHour: H0 + 24 * 366,
    now: NOW,
    sort: s.sort,
    limit: s.limit,
    maxPricePerGpuHour: s.cap,
  };
  return { inputs, search };
}

describe('findOffers', () => {
  it('every offer fits, keeps to the search, is priced by priceWindow, in the order asked and spread out', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { inputs, search } = build(s);
        const offers = findOffers(inputs, search);
        expect(offers.length).toBeLessThanOrEqual(search.limit);
        const input = (o: { pool: Pool }) => inputs.find((i) => i.pool === o.pool)!;
        for (const o of offers) {
          const hours = o.endHour - o.startHour;
          expect(o.startHour).toBeGreaterThanOrEqual(search.fromHour);
          expect(o.endHour).toBeLessThanOrEqual(search.toHour);
          expect(hours).toBeGreaterThanOrEqual(search.minHours);
          expect(hours).toBeLessThanOrEqual(search.maxHours);
          expect(minAvailable(input(o).load, o.startHour, o.endHour)).toBeGreaterThanOrEqual(search.gpus);
          const i = input(o);
          expect(o.price).toEqual(priceWindow({ pool: i.pool, poolLabel: i.label, load: i.load, gpus: search.gpus, startHour: o.startHour, endHour: o.endHour, now: NOW, measuredUtilizationBps: i.measuredUtilizationBps }));
          if (search.maxPricePerGpuHour !== null) expect(o.price.unitPrice.amount).toBeLessThanOrEqual(search.maxPricePerGpuHour);
        }
        for (let k = 1; k < offers.length; k++) {
          const [x, y] = [offers[k - 1]!, offers[k]!];
          if (search.sort === 'price') {
            expect(x.price.unitPrice.amount).toBeLessThanOrEqual(y.price.unitPrice.amount);
            if (x.price.unitPrice.amount === y.price.unitPrice.amount) expect(x.endHour - x.startHour).toBeGreaterThanOrEqual(y.endHour - y.startHour);
          } else {
            expect(x.startHour).toBeLessThanOrEqual(y.startHour);
          }
        }
        // Spread: within a pool, only the pool's cheapest and earliest may overlap each other by more than half.
        for (const i of inputs) {
          const mine = offers.filter((o) => o.pool === i.pool);
          let tooClose = 0;
          for (const [k, x] of mine.entries()) {
            for (const y of mine.slice(k + 1)) {
              const overlap = Math.min(x.endHour, y.endHour) - Math.max(x.startHour, y.startHour);
              if (overlap * 2 > Math.max(x.endHour - x.startHour, y.endHour - y.startHour)) tooClose++;
            }
          }
          expect(tooClose).toBeLessThanOrEqual(1);
        }
        // No exact duplicates.
        expect(new Set(offers.map((o) => `${o.pool.id}/${o.startHour}/${o.endHour}`)).size).toBe(offers.length);
        // Nothing fits anywhere ⇔ no offers (when no price cap and the limit allows one).
        if (search.maxPricePerGpuHour === null) {
          let fits = false;
          for (const i of inputs) {
            for (let h = search.fromHour; h + search.minHours <= search.toHour && !fits; h++) fits = minAvailable(i.load, h, h + search.minHours) >= search.gpus;
          }
          expect(offers.length > 0).toBe(fits);
        }
      }),
      { numRuns: 150, seed: 7 },
    );
  });

  it('per pool the cheapest and the earliest window come first in the pick, exhaustive check', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { inputs, search } = build({ ...s, cap: null, extraHours: 0, limit: 4 });
        const offers = findOffers(inputs, search);
        for (const i of inputs) {
          let cheapest = Infinity;
          let earliest = Infinity;
          for (let h = search.fromHour; h + search.minHours <= search.toHour; h++) {
            if (minAvailable(i.load, h, h + search.minHours) < search.gpus) continue;
            const p = priceWindow({ pool: i.pool, poolLabel: i.label, load: i.load, gpus: search.gpus, startHour: h, endHour: h + search.minHours, now: NOW, measuredUtilizationBps: i.measuredUtilizationBps });
            cheapest = Math.min(cheapest, p.unitPrice.amount);
            earliest = Math.min(earliest, h);
          }
          if (earliest === Infinity) continue;
          const mine = offers.filter((o) => o.pool === i.pool);
          expect(mine.some((o) => o.startHour === earliest)).toBe(true);
          expect(mine.some((o) => o.price.unitPrice.amount === cheapest)).toBe(true);
        }
      }),
      { numRuns: 100, seed: 11 },
    );
  });

  it('with a duration range on an idle pool, the longest windows (duration discount) come first', () => {
    const p = pool('idle', 64, 199);
    const offers = findOffers([{ pool: p, label: 'idle', load: loadOf(p, []), measuredUtilizationBps: 0 }], {
      gpus: 8,
      minHours: 24,
      maxHours: 24 * 8,
      fromHour: H0,
      toHour: H0 + 24 * 20,
      lastStartHour: H0 + 24 * 366,
      now: NOW,
      sort: 'price',
      limit: 6,
      maxPricePerGpuHour: null,
    });
    // Every 8-day window costs the same (idle pool, ≥ 7 days discount); they are picked a half-length
    // apart. Every shorter window (no discount) would lie more than half inside one of them.
    expect(offers.map((o) => [o.startHour - H0, o.endHour - o.startHour])).toEqual([
      [0, 192],
      [96, 192],
      [192, 192],
      [288, 192],
    ]);
    expect(offers[0]!.price.lines.map((l) => l.kind)).toEqual(['base', 'duration_discount', 'utilization']);
  });

  it('a pool that opens later offers nothing before it opens', () => {
    const later = pool('later', 64, 150, fromEpochHour(H0 + 100).toISOString());
    const offers = findOffers([{ pool: later, label: 'later', load: loadOf(later, []), measuredUtilizationBps: 0 }], {
      gpus: 8, minHours: 10, maxHours: 10, fromHour: H0, toHour: H0 + 200, lastStartHour: H0 + 1000, now: NOW, sort: 'start', limit: 3, maxPricePerGpuHour: null,
    });
    expect(offers[0]!.startHour).toBe(H0 + 100);
  });
});

describe('nearest', () => {
  it('mostGpusFree and earliestFitBeyond match an exhaustive scan', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { inputs, search } = build(s);
        const hours = search.minHours;
        const most = mostGpusFree(inputs, search, hours);
        let best = 0;
        for (const i of inputs) {
          for (let h = search.fromHour; h + hours <= search.toHour; h++) {
            best = Math.max(best, Math.floor(minAvailable(i.load, h, h + hours) / 8) * 8);
          }
        }
        expect(most?.gpus ?? 0).toBe(best);
        if (most) expect(Math.floor(minAvailable(inputs.find((i) => i.pool === most.pool)!.load, most.startHour, most.endHour) / 8) * 8).toBe(best);

        const last = search.toHour + 100;
        const fit = earliestFitBeyond(inputs, { gpus: search.gpus, fromHour: search.fromHour, toHour: search.toHour, lastStartHour: last }, hours);
        let first = Infinity;
        for (const i of inputs) {
          for (let h = Math.max(search.fromHour, search.toHour - hours + 1); h <= last && h < first; h++) {
            if (minAvailable(i.load, h, h + hours) >= search.gpus) first = Math.min(first, h);
          }
        }
        expect(fit?.startHour ?? Infinity).toBe(first);
        if (fit) expect(fit.endHour).toBeGreaterThan(search.toHour);
      }),
      { numRuns: 150, seed: 3 },
    );
  });

  it('bucket edges do not matter', () => {
    const p = pool('edge', 16, 199);
    const edge = Math.ceil(H0 / BUCKET_HOURS) * BUCKET_HOURS - H0;
    const l = loadOf(p, [[edge - 5, 10, 16]]);
    const fit = earliestFitBeyond([{ pool: p, label: 'edge', load: l, measuredUtilizationBps: 0 }], { gpus: 8, fromHour: H0 + edge - 6, toHour: H0 + edge - 5, lastStartHour: H0 + edge + 50 }, 3);
    expect(fit?.startHour).toBe(H0 + edge + 5);
  });
});
