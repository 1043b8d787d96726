/**
 * Hoarding limits (README "Limits"): how much an org may hold without committing. Defaults below; an
 * operator may override them per pool and per org (the org's override wins, then the pool's).
 */
export interface HoldLimits {
  /** Holds (reserved, not yet confirmed) an org may have open at once. */
  openHolds: number;
  /** GPUs an org may hold unconfirmed in one pool, in basis points of the pool's GPUs (5000 = 50 %). */
  heldGpusBps: number;
  /** Holds an org may place on the same pool and window within one clock hour (stops cancel + re-hold renewals). */
  sameWindowHoldsPerHour: number;
}

export const DEFAULT_HOLD_LIMITS: HoldLimits = { openHolds: 20, heldGpusBps: 5000, sameWindowHoldsPerHour: 2 };

export type HoldLimitName = 'open-holds' | 'held-gpus' | 'same-window-holds-per-hour';

/** What an org holds now, as the hold ledger records it. */
export interface HoldUsage {
  open: number;
  /** GPUs held unconfirmed in the pool being held. */
  poolGpus: number;
  /** Holds already placed on this pool and window this hour. */
  sameWindow: number;
}

export const heldGpusLimit = (limits: HoldLimits, poolTotalGpus: number): number => Math.floor((poolTotalGpus * limits.heldGpusBps) / 10_000);

export const mergeLimits = (...layers: (Partial<HoldLimits> | null | undefined)[]): HoldLimits =>
  Object.assign({}, DEFAULT_HOLD_LIMITS, ...layers.map((l) => Object.fromEntries(Object.entries(l ?? {}).filter(([, v]) => typeof v === 'number'))));

/** The first limit one more hold of `gpus` GPUs would break, or null. */
export function holdViolation(limits: HoldLimits, usage: HoldUsage, gpus: number, poolTotalGpus: number): { name: HoldLimitName; limit: number; used: number; detail: string } | null {
  if (usage.open + 1 > limits.openHolds) {
    return { name: 'open-holds', limit: limits.openHolds, used: usage.open, detail: `Hold limit "open-holds": your org has ${usage.open} open holds, the most allowed is ${limits.openHolds}; confirm or cancel one first` };
  }
  const maxGpus = heldGpusLimit(limits, poolTotalGpus);
  if (usage.poolGpus + gpus > maxGpus) {
    return {
      name: 'held-gpus',
      limit: maxGpus,
      used: usage.poolGpus,
      detail: `Hold limit "held-gpus": your org holds ${usage.poolGpus} unconfirmed GPUs in this pool; with ${gpus} more it would pass ${maxGpus} (${limits.heldGpusBps / 100} % of the pool's ${poolTotalGpus}); confirm or cancel a hold first`,
    };
  }
  if (usage.sameWindow + 1 > limits.sameWindowHoldsPerHour) {
    return {
      name: 'same-window-holds-per-hour',
      limit: limits.sameWindowHoldsPerHour,
      used: usage.sameWindow,
      detail: `Hold limit "same-window-holds-per-hour": your org already placed ${usage.sameWindow} holds on this pool and window this hour; confirm it, or hold it again next hour`,
    };
  }
  return null;
}
