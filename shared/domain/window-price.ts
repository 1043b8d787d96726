/**
 * The price of one window of one pool, as a quote charges it. `POST /v1/quotes` and `GET /v1/offers`
 * both call this, with the pool's load read for the window and the pool's measured demand, so an
 * offer and the quote for the same window cannot disagree while nothing changed in between.
 */
import { utilizationBps, type PoolLoad } from './capacity.ts';
import type { Pool } from './catalog.ts';
import { priceReservation, type PriceResult } from './pricing.ts';
import { fromEpochHour } from './time.ts';

export interface WindowPriceInput {
  pool: Pool;
  /** e.g. "H100 SXM 80GB · Valence–Rovaltain" (poolLabel in catalog.ts). */
  poolLabel: string;
  /** The pool's load, covering at least [startHour, endHour). */
  load: PoolLoad;
  gpus: number;
  startHour: number;
  endHour: number;
  now: Date;
  /** Metered demand of the pool (bps of capacity, last 7 days); 0 when not measured. */
  measuredUtilizationBps: number;
}

/** Pricing's utilization input: the larger of the window's booked fraction and the pool's measured demand. */
export const windowUtilizationBps = (load: PoolLoad, startHour: number, endHour: number, measuredBps: number): number =>
  Math.max(utilizationBps(load, startHour, endHour), measuredBps);

export const priceWindow = (input: WindowPriceInput): PriceResult =>
  priceReservation({
    poolLabel: input.poolLabel,
    priceBook: input.pool.priceBook,
    gpus: input.gpus,
    start: fromEpochHour(input.startHour),
    end: fromEpochHour(input.endHour),
    now: input.now,
    utilizationBps: windowUtilizationBps(input.load, input.startHour, input.endHour, input.measuredUtilizationBps),
  });
