/**
 * Offer search, pure: given each candidate pool's load over the searched range, find windows that fit
 * the GPUs asked in every hour, rank them, and pick a spread of them (docs/offers.md). The cost grows
 * with pools × hours of the range: each pool's hours are scanned a constant number of times, and only
 * the offers returned are priced in full (by `priceWindow`, the function quotes use).
 */
import { availableAt, capacityAt, type PoolLoad } from './capacity.ts';
import { peakCapacity, type Pool } from './catalog.ts';
import { BPS_PER_UNIT } from './money.ts';
import { durationTierFor, utilizationFactorBps, type PriceResult } from './pricing.ts';
import { DAY_MS, HOUR_MS } from './time.ts';
import { priceWindow } from './window-price.ts';

export type OfferSort = 'price' | 'start';

export interface OfferSearch {
  gpus: number;
  /** Window lengths asked, in hours: every length in [minHours, maxHours] is acceptable. */
  minHours: number;
  maxHours: number;
  /** Offers lie within [fromHour, toHour) (UTC epoch hours). */
  fromHour: number;
  toHour: number;
  /** The latest hour a booking may start (the 12-month lead limit). */
  lastStartHour: number;
  now: Date;
  sort: OfferSort;
  limit: number;
  /** Cents; an offer's price per GPU-hour (as shown, rounded to the cent) must not exceed it. */
  maxPricePerGpuHour: number | null;
}

export interface PoolInput {
  pool: Pool;
  label: string;
  /** The pool's load, covering at least [searchStartOf(pool, fromHour), toHour). */
  load: PoolLoad;
  measuredUtilizationBps: number;
}

export interface Offer {
  pool: Pool;
  gpus: number;
  startHour: number;
  endHour: number;
  price: PriceResult;
}

/** The first whole hour a pool takes bookings from (quotes refuse a start before `bookableFrom`). */
export const openHourOf = (pool: Pool): number => Math.ceil(Date.parse(pool.bookableFrom) / HOUR_MS);

/** The first hour of the range a pool can offer: the range's start, or later if the pool opens later. */
export const searchStartOf = (pool: Pool, fromHour: number): number => Math.max(fromHour, openHourOf(pool));

/** Can a booking of `gpus` be made in this pool at all (whole nodes, at least the minimum, at most its size at its largest)? */
export const poolTakes = (pool: Pool, gpus: number): boolean =>
  gpus >= pool.minGpus && gpus % pool.stepGpus === 0 && gpus <= peakCapacity(pool);

/** One pool's free GPUs over its part of the range, with what ranking needs precomputed. */
interface Profile {
  input: PoolInput;
  /** Epoch hour of index 0. */
  first: number;
  n: number;
  avail: Int32Array;
  /** booked[i] = GPUs booked (capacity − free) summed over hours [first, first + i): utilization in O(1). */
  booked: Float64Array;
  /** capacity[i] = capacity in force summed over hours [first, first + i) (the schedule may change it). */
  capacity: Float64Array;
  /** run[i] = how many consecutive hours from first + i have at least `gpus` free. */
  run: Int32Array;
}

function profileOf(input: PoolInput, fromHour: number, toHour: number, gpus: number): Profile {
  const first = searchStartOf(input.pool, fromHour);
  const n = Math.max(0, toHour - first);
  const avail = new Int32Array(n);
  const booked = new Float64Array(n + 1);
  const capacity = new Float64Array(n + 1);
  const run = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const a = availableAt(input.load, first + i);
    const c = capacityAt(input.load, first + i);
    avail[i] = a;
    booked[i + 1] = booked[i]! + (c - a);
    capacity[i + 1] = capacity[i]! + c;
  }
  for (let i = n - 1; i >= 0; i--) run[i] = avail[i]! >= gpus ? run[i + 1]! + 1 : 0;
  return { input, first, n, avail, booked, capacity, run };
}

/**
 * Exact price per GPU-hour of a window before rounding to the cent, in cents (rate × every factor
 * pricing applies): the ranking key. Uses the same tiers, band and utilization formula as pricing;
 * the price shown is then computed by `priceWindow` for the offers picked.
 */
function keyPricer(p: Profile, search: OfferSearch) {
  const { pool, measuredUtilizationBps } = p.input;
  const book = pool.priceBook;
  const nowMs = search.now.getTime();
  const leadTiers = book.leadTimeTiers.map((t) => ({ from: Math.ceil((nowMs + t.minDaysAhead * DAY_MS) / HOUR_MS), minDaysAhead: t.minDaysAhead, factor: BPS_PER_UNIT - t.discountBps }));
  const durationFactor = new Map<number, number>();
  const utilizationFactor = new Map<number, number>();
  return (startIndex: number, hours: number): number => {
    const startHour = p.first + startIndex;
    let lead = BPS_PER_UNIT;
    let leadDays = -1;
    for (const t of leadTiers) if (startHour >= t.from && t.minDaysAhead > leadDays) (lead = t.factor), (leadDays = t.minDaysAhead);
    let dur = durationFactor.get(hours);
    if (dur === undefined) {
      dur = BPS_PER_UNIT - (durationTierFor(book.durationTiers, hours)?.discountBps ?? 0);
      durationFactor.set(hours, dur);
    }
    const booked = p.booked[startIndex + hours]! - p.booked[startIndex]!;
    const capacity = p.capacity[startIndex + hours]! - p.capacity[startIndex]!;
    const windowBps = capacity > 0 ? Math.round((booked * BPS_PER_UNIT) / capacity) : 0;
    const u = Math.max(windowBps, measuredUtilizationBps);
    let util = utilizationFactor.get(u);
    if (util === undefined) {
      util = utilizationFactorBps(book.utilization, u);
      utilizationFactor.set(u, util);
    }
    return (book.reservedRatePerGpuHour * dur * lead * util) / BPS_PER_UNIT ** 3;
  };
}

/**
 * Finds, ranks and picks offers (docs/offers.md, "Ranking"):
 * 1. Candidates: in each pool, at each start hour where `gpus` are free for at least `minHours`, the
 *    longest window that fits (up to `maxHours`), and also the `minHours` one when that is shorter.
 * 2. Picked first, per pool: the cheapest and the earliest candidate.
 * 3. Then, in the order asked (`price`: cheapest per GPU-hour, longer first at the same price, then
 *    earliest; `start`: earliest, then cheapest, then longer), each candidate that does not overlap an
 *    offer already picked in the same pool by more than half its own length, until `limit`.
 * 4. The picked offers are returned in that order, by the price shown.
 */
export function findOffers(inputs: PoolInput[], search: OfferSearch): Offer[] {
  const { gpus, minHours, maxHours } = search;
  const profiles = inputs.map((input) => profileOf(input, search.fromHour, search.toHour, gpus));

  // 1. Candidates, in flat arrays: pool index, start index, hours, key.
  const poolOf: number[] = [];
  const startOf: number[] = [];
  const hoursOf: number[] = [];
  const keyOf: number[] = [];
  const priceCap = search.maxPricePerGpuHour;
  profiles.forEach((p, pi) => {
    const key = keyPricer(p, search);
    const lastStartIndex = Math.min(p.n - 1, search.lastStartHour - p.first);
    for (let i = 0; i <= lastStartIndex; i++) {
      const run = p.run[i]!;
      if (run < minHours) continue;
      const longest = Math.min(run, maxHours);
      for (const hours of longest > minHours ? [longest, minHours] : [longest]) {
        const k = key(i, hours);
        // The price shown is within a cent of the key; the exact check comes when the offer is priced.
        if (priceCap !== null && k > priceCap + 1) continue;
        poolOf.push(pi);
        startOf.push(p.first + i);
        hoursOf.push(hours);
        keyOf.push(k);
      }
    }
  });

  const byPrice = (a: number, b: number) =>
    keyOf[a]! - keyOf[b]! || hoursOf[b]! - hoursOf[a]! || startOf[a]! - startOf[b]! || poolOf[a]! - poolOf[b]!;
  const byStart = (a: number, b: number) =>
    startOf[a]! - startOf[b]! || keyOf[a]! - keyOf[b]! || hoursOf[b]! - hoursOf[a]! || poolOf[a]! - poolOf[b]!;
  const order = search.sort === 'price' ? byPrice : byStart;

  const priced = new Map<number, PriceResult>();
  const priceOf = (c: number): PriceResult => {
    let r = priced.get(c);
    if (!r) {
      const p = profiles[poolOf[c]!]!;
      r = priceWindow({
        pool: p.input.pool,
        poolLabel: p.input.label,
        load: p.input.load,
        gpus,
        startHour: startOf[c]!,
        endHour: startOf[c]! + hoursOf[c]!,
        now: search.now,
        measuredUtilizationBps: p.input.measuredUtilizationBps,
      });
      priced.set(c, r);
    }
    return r;
  };
  const rejected = new Set<number>();
  const withinCap = (c: number): boolean => {
    if (priceCap === null) return true;
    if (priceOf(c).unitPrice.amount <= priceCap) return true;
    rejected.add(c);
    return false;
  };

  // 2. Per pool, the cheapest and the earliest (among those whose exact price is within the cap).
  const count = keyOf.length;
  const picked = new Set<number>();
  const best = (pi: number, cmp: (a: number, b: number) => number): number | null => {
    for (;;) {
      let found: number | null = null;
      for (let c = 0; c < count; c++) if (poolOf[c] === pi && !rejected.has(c) && (found === null || cmp(c, found) < 0)) found = c;
      if (found === null || withinCap(found)) return found;
    }
  };
  const anchors: number[] = [];
  profiles.forEach((_, pi) => {
    for (const cmp of [byPrice, byStart]) {
      const c = best(pi, cmp);
      if (c !== null && !anchors.includes(c)) anchors.push(c);
    }
  });
  anchors.sort(order);
  for (const c of anchors.slice(0, search.limit)) picked.add(c);

  // 3. The next best that is not (mostly) a copy of one already picked.
  const overlapsPicked = (c: number): boolean => {
    const s = startOf[c]!;
    const e = s + hoursOf[c]!;
    for (const o of picked) {
      if (poolOf[o] !== poolOf[c]) continue;
      const overlap = Math.min(e, startOf[o]! + hoursOf[o]!) - Math.max(s, startOf[o]!);
      if (overlap * 2 > hoursOf[c]!) return true;
    }
    return false;
  };
  if (picked.size < search.limit) {
    const sorted = Array.from({ length: count }, (_, i) => i).sort(order);
    for (const c of sorted) {
      if (picked.size >= search.limit) break;
      if (picked.has(c) || rejected.has(c) || overlapsPicked(c) || !withinCap(c)) continue;
      picked.add(c);
    }
  }

  // 4. In the order asked, by the price as shown (rounded to the cent).
  const shown = (c: number) => priceOf(c).unitPrice.amount;
  const final =
    search.sort === 'price'
      ? (a: number, b: number) => shown(a) - shown(b) || hoursOf[b]! - hoursOf[a]! || startOf[a]! - startOf[b]! || poolOf[a]! - poolOf[b]!
      : (a: number, b: number) => startOf[a]! - startOf[b]! || shown(a) - shown(b) || hoursOf[b]! - hoursOf[a]! || poolOf[a]! - poolOf[b]!;
  return [...picked].sort(final).map((c) => ({
    pool: profiles[poolOf[c]!]!.input.pool,
    gpus,
    startHour: startOf[c]!,
    endHour: startOf[c]! + hoursOf[c]!,
    price: priceOf(c),
  }));
}

export interface MostGpus {
  pool: Pool;
  gpus: number;
  startHour: number;
  endHour: number;
}

/**
 * The most GPUs any pool has free in every hour of some `hours`-long window of the range (rounded
 * down to what a booking can take: whole nodes, at least the pool's minimum), the earliest such
 * window; null when no pool has a bookable amount free anywhere in the range.
 */
export function mostGpusFree(inputs: PoolInput[], search: Pick<OfferSearch, 'fromHour' | 'toHour' | 'lastStartHour'>, hours: number): MostGpus | null {
  let out: MostGpus | null = null;
  for (const input of inputs) {
    const first = searchStartOf(input.pool, search.fromHour);
    const end = Math.min(search.toHour, search.lastStartHour + hours);
    if (end - first < hours) continue;
    // Sliding-window minimum (monotone deque of hour indices with increasing free GPUs).
    const deque: number[] = [];
    let head = 0;
    let bestFree = -1;
    let bestStart = first;
    for (let h = first; h < end; h++) {
      const a = availableAt(input.load, h);
      while (deque.length > head && availableAt(input.load, deque[deque.length - 1]!) >= a) deque.pop();
      deque.push(h);
      const start = h - hours + 1;
      if (start < first) continue;
      while (deque[head]! < start) head++;
      const free = availableAt(input.load, deque[head]!);
      if (free > bestFree) (bestFree = free), (bestStart = start);
    }
    const { pool } = input;
    const bookable = Math.floor(bestFree / pool.stepGpus) * pool.stepGpus;
    if (bookable < pool.minGpus || bookable <= 0) continue;
    if (!out || bookable > out.gpus || (bookable === out.gpus && bestStart < out.startHour)) {
      out = { pool, gpus: bookable, startHour: bestStart, endHour: bestStart + hours };
    }
  }
  return out;
}

/**
 * The earliest `hours`-long window that fits `gpus` in every hour and ends after `toHour` (beyond the
 * range), starting at the latest at `lastStartHour`; `inputs` cover [fromHour, lastStartHour + hours).
 */
export function earliestFitBeyond(
  inputs: PoolInput[],
  search: Pick<OfferSearch, 'gpus' | 'fromHour' | 'toHour' | 'lastStartHour'>,
  hours: number,
): { pool: Pool; startHour: number; endHour: number } | null {
  let out: { pool: Pool; startHour: number; endHour: number } | null = null;
  const from = Math.max(search.fromHour, search.toHour - hours + 1);
  for (const input of inputs) {
    const first = searchStartOf(input.pool, from);
    let run = 0;
    for (let h = first; h < search.lastStartHour + hours; h++) {
      if (out && h - hours + 1 >= out.startHour) break;
      run = availableAt(input.load, h) >= search.gpus ? run + 1 : 0;
      if (run >= hours) {
        const start = h - hours + 1;
        if (!out || start < out.startHour) out = { pool: input.pool, startHour: start, endHour: start + hours };
        break;
      }
    }
  }
  return out;
}
