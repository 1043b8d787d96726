/**
 * What an on-demand reservation is billed for: the GPUs it holds from start to stop, per second, as
 * every GPU cloud bills a running instance (SPEC "Pricing and policy", docs/pricing.md "On-demand").
 * Metered usage does not change it; it is reported beside it (utilization, footprint).
 *
 * The rule, one for every figure (invoices, reconciliation, budgets): the start and the stop are cut
 * to the whole second (milliseconds dropped) and the seconds between them counted; a running
 * reservation counts up to `now`. A month takes the seconds between its bounds, which are whole
 * seconds, so the months of a long run add up to the run exactly. GPU-seconds = GPUs × those seconds;
 * cents = round_half_up(GPU-seconds × rate per GPU-hour / 3600), once on an org's total for a month
 * and pool (`onDemandCharge`), never per reservation or per second.
 */
import { periodStart, nextPeriod } from './time.ts';

export interface HeldOnDemand {
  poolId: string;
  gpus: number;
  start: string;
  /** null while it runs. */
  stoppedAt: string | null;
}

const secondsOf = (at: string | Date): number => Math.floor(new Date(at).getTime() / 1000);

/** GPU-seconds a reservation held in billing period `YYYY-MM`, as of `now`. */
export function heldGpuSecondsIn(r: HeldOnDemand, period: string, now: Date): number {
  const from = Math.max(secondsOf(r.start), secondsOf(periodStart(period)));
  const stop = r.stoppedAt === null ? secondsOf(now) : secondsOf(r.stoppedAt);
  const to = Math.min(stop, secondsOf(periodStart(nextPeriod(period))));
  return to > from ? (to - from) * r.gpus : 0;
}

/** An org's held GPU-seconds of `period` per pool (pools with none left out). */
export function heldGpuSecondsByPool(reservations: readonly HeldOnDemand[], period: string, now: Date): Map<string, number> {
  const byPool = new Map<string, number>();
  for (const r of reservations) {
    const seconds = heldGpuSecondsIn(r, period, now);
    if (seconds > 0) byPool.set(r.poolId, (byPool.get(r.poolId) ?? 0) + seconds);
  }
  return byPool;
}
