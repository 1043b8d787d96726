/**
 * Market statistics, pure: percentiles of a histogram of prices per GPU-hour (integer cents →
 * count), by the nearest-rank method: the p-th percentile of n samples is the smallest price whose
 * cumulative count reaches ⌈p × n / 100⌉. Every figure is a price some booking or quote had.
 */
export interface PriceStats {
  min: number | null;
  p50: number | null;
  p95: number | null;
  max: number | null;
  count: number;
}

export function priceStats(histogram: ReadonlyMap<number, number>): PriceStats {
  const prices = [...histogram.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const count = prices.reduce((s, [, n]) => s + n, 0);
  if (count === 0) return { min: null, p50: null, p95: null, max: null, count: 0 };
  const rank = (p: number) => {
    const want = Math.max(1, Math.ceil((p * count) / 100));
    let seen = 0;
    for (const [price, n] of prices) {
      seen += n;
      if (seen >= want) return price;
    }
    return prices.at(-1)![0];
  };
  return { min: prices[0]![0], p50: rank(50), p95: rank(95), max: prices.at(-1)![0], count };
}

/** Adds histograms (the hour buckets of a day, for instance). */
export function mergeHistograms(into: Map<number, number>, from: ReadonlyMap<number, number>): Map<number, number> {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
  return into;
}
