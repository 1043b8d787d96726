/**
 * GET /v1/offers against DynamoDB Local: every offer fits (quoting and holding it succeeds) and is
 * priced exactly as its quote, filters hold, the ranking is the one docs/offers.md describes, and
 * `nearest` tells what would fit when nothing does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(() => t.close());

interface Offer {
  site: string;
  gpuType: string;
  poolId: string;
  gpus: number;
  start: string;
  end: string;
  durationHours: number;
  total: { amount: number; currency: string };
  pricePerGpuHour: { amount: number; currency: string };
  lines: { description: string; amount: { amount: number; currency: string } }[];
}

const HOUR = 3_600_000;
const offers = async (query: Record<string, string | number>, key?: string) => {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  const res = await t.call('GET', `/v1/offers?${qs}`, key ? { key } : {});
  expect(res.status, res.text).toBe(200);
  return res.body as { data: Offer[]; nearest: unknown; earliestStart: string; latestEnd: string };
};
const overlapHours = (a: Offer, b: Offer) => Math.max(0, (Math.min(Date.parse(a.end), Date.parse(b.end)) - Math.max(Date.parse(a.start), Date.parse(b.start))) / HOUR);
const book = async (site: string, gpuType: string, gpus: number, startIn: number, hours: number) => {
  const q = await t.call('POST', '/v1/quotes', { body: { site, gpuType, gpus, start: hoursFrom(t.clock, startIn), end: hoursFrom(t.clock, startIn + hours) } });
  expect(q.status, q.text).toBe(201);
  const r = await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } });
  expect(r.status, r.text).toBe(201);
};

describe('offers fit and are priced as quotes', () => {
  it('quoting each offer gives its total and lines, and holding each succeeds', async () => {
    // Some load so that utilization differs between windows and pools.
    await book('valence-rovaltain', 'h100-sxm-80gb', 800, 24 * 3, 48);
    await book('marseille', 'h100-sxm-80gb', 256, 24 * 5, 24);
    const res = await offers({ gpuType: 'h100-sxm-80gb', gpus: 64, durationHours: 72, latestEnd: hoursFrom(t.clock, 24 * 14), limit: 12 });
    expect(res.data.length).toBeGreaterThanOrEqual(6);
    expect(res.nearest).toBeNull();
    const quotes = [];
    for (const o of res.data) {
      expect(o).toMatchObject({ gpuType: 'h100-sxm-80gb', gpus: 64, durationHours: 72 });
      expect(Date.parse(o.end) - Date.parse(o.start)).toBe(72 * HOUR);
      expect(o.total.amount).toBe(o.lines.reduce((s, l) => s + l.amount.amount, 0));
      expect(o.total.currency).toBe('EUR');
      expect(o.pricePerGpuHour).toEqual({ amount: Math.round(o.total.amount / (64 * 72)), currency: 'EUR' });
      const q = await t.call('POST', '/v1/quotes', { body: { site: o.site, gpuType: o.gpuType, gpus: o.gpus, start: o.start, end: o.end } });
      expect(q.status, q.text).toBe(201);
      expect(q.body.total).toEqual(o.total);
      expect(q.body.lines).toEqual(o.lines);
      expect(q.body.unitPrice).toEqual(o.pricePerGpuHour);
      quotes.push(q.body);
    }
    // Nothing changed between the search and the quotes; now take them all (offers overlap by at most half).
    for (const q of quotes) {
      const held = await t.call('POST', '/v1/reservations', { body: { quoteId: q.id } });
      expect(held.status, held.text).toBe(201);
    }
  }, 240_000);

  it('a window that crosses booked hours is never offered; the offers avoid them', async () => {
    // marseille-h200 (256 GPUs): 224 booked from +30 h for 20 h, so 64 GPUs fit nowhere in that stretch.
    await book('marseille', 'h200-sxm-141gb', 224, 30, 20);
    const res = await offers({ gpuType: 'h200-sxm-141gb', gpus: 64, durationHours: 12, site: 'marseille', latestEnd: hoursFrom(t.clock, 24 * 4), limit: 50 });
    const blockedFrom = Date.parse(hoursFrom(t.clock, 30));
    const blockedTo = Date.parse(hoursFrom(t.clock, 50));
    expect(res.data.length).toBeGreaterThan(3);
    for (const o of res.data) expect(Date.parse(o.end) <= blockedFrom || Date.parse(o.start) >= blockedTo, `${o.start} → ${o.end}`).toBe(true);
    for (const o of res.data) {
      const a = await t.call('GET', `/v1/availability?site=marseille&gpuType=h200-sxm-141gb&start=${o.start}&end=${o.end}`);
      expect(a.body.pools[0].minAvailable).toBeGreaterThanOrEqual(64);
    }
  });

  it('answers any authenticated role', async () => {
    for (const key of [t.keys.customer2, t.keys.finance, t.keys.operator, t.keys.meter]) {
      const res = await offers({ gpuType: 'b200-sxm-192gb', gpus: 8, durationHours: 4, latestEnd: hoursFrom(t.clock, 48), limit: 2 }, key);
      expect(res.data).toHaveLength(2);
    }
    expect((await t.call('GET', '/v1/offers?gpuType=b200-sxm-192gb&gpus=8&durationHours=4', { key: null })).status).toBe(401);
  });
});

describe('filters', () => {
  it('keeps to the sites, the range, the duration range, the price cap and the limit', async () => {
    const earliestStart = hoursFrom(t.clock, 24 * 2);
    const latestEnd = hoursFrom(t.clock, 24 * 9);
    const all = await offers({ gpuType: 'h100-sxm-80gb', gpus: 16, minDurationHours: 24, maxDurationHours: 96, earliestStart, latestEnd, limit: 50 });
    expect(all.earliestStart).toBe(new Date(earliestStart).toISOString());
    expect(new Set(all.data.map((o) => o.site))).toEqual(new Set(['valence-rovaltain', 'marseille']));
    for (const o of all.data) {
      expect(Date.parse(o.start)).toBeGreaterThanOrEqual(Date.parse(earliestStart));
      expect(Date.parse(o.end)).toBeLessThanOrEqual(Date.parse(latestEnd));
      expect(o.durationHours).toBeGreaterThanOrEqual(24);
      expect(o.durationHours).toBeLessThanOrEqual(96);
      expect(o.gpus).toBe(16);
    }
    const prices = all.data.map((o) => o.pricePerGpuHour.amount);
    const cap = prices.slice().sort((a, b) => a - b)[Math.floor(prices.length / 2)]!;
    const capped = await offers({ gpuType: 'h100-sxm-80gb', gpus: 16, minDurationHours: 24, maxDurationHours: 96, earliestStart, latestEnd, limit: 50, maxPricePerGpuHour: cap });
    expect(capped.data.length).toBeGreaterThan(0);
    for (const o of capped.data) expect(o.pricePerGpuHour.amount).toBeLessThanOrEqual(cap);

    const one = await offers({ gpuType: 'h100-sxm-80gb', gpus: 16, durationHours: 24, site: 'marseille', earliestStart, latestEnd, limit: 3 });
    expect(one.data).toHaveLength(3);
    for (const o of one.data) expect(o).toMatchObject({ site: 'marseille', poolId: 'marseille-h100' });

    const none = await offers({ gpuType: 'h100-sxm-80gb', gpus: 16, durationHours: 24, earliestStart, latestEnd, maxPricePerGpuHour: 1 });
    expect(none.data).toEqual([]);
  });

  it('does not offer a planned site before it opens', async () => {
    // grand-est opens 2027-03-01 (the clock is at 2026-11-24).
    const res = await offers({ gpuType: 'b200-sxm-192gb', gpus: 512, durationHours: 24, site: 'grand-est', sort: 'start', limit: 3 });
    expect(res.data.length).toBe(3);
    for (const o of res.data) expect(Date.parse(o.start)).toBeGreaterThanOrEqual(Date.parse('2027-03-01T00:00:00Z'));
    expect(res.data[0]!.start).toBe('2027-03-01T00:00:00.000Z');
  });
});

describe('ranking (docs/offers.md)', () => {
  const fixedQuery = () => ({ gpuType: 'b200-sxm-192gb', gpus: 64, durationHours: 8, earliestStart: hoursFrom(t.clock, 24 * 20), latestEnd: hoursFrom(t.clock, 24 * 22) });

  it('includes per pool the cheapest and the earliest window, spreads the rest, and sorts by price', async () => {
    // Make prices differ by time: load valence-b200 (256) heavily early in the range, marseille-b200 (128) late.
    await book('valence-rovaltain', 'b200-sxm-192gb', 192, 24 * 20, 12);
    await book('marseille', 'b200-sxm-192gb', 64, 24 * 21, 24);
    const res = await offers({ ...fixedQuery(), site: 'valence-rovaltain,marseille', limit: 10 });
    expect(res.data).toHaveLength(10);
    // Brute force: quote every window of every pool.
    const cheapest = new Map<string, number>();
    const earliest = new Map<string, number>();
    for (const [site, poolId] of [['valence-rovaltain', 'valence-rovaltain-b200'], ['marseille', 'marseille-b200']] as const) {
      for (let h = 24 * 20; h + 8 <= 24 * 22; h++) {
        const q = await t.call('POST', '/v1/quotes', { body: { site, gpuType: 'b200-sxm-192gb', gpus: 64, start: hoursFrom(t.clock, h), end: hoursFrom(t.clock, h + 8) } });
        if (q.status !== 201) continue;
        cheapest.set(poolId, Math.min(cheapest.get(poolId) ?? Infinity, q.body.unitPrice.amount));
        earliest.set(poolId, Math.min(earliest.get(poolId) ?? Infinity, Date.parse(q.body.start)));
      }
    }
    const anchors = new Set<Offer>();
    for (const poolId of ['valence-rovaltain-b200', 'marseille-b200']) {
      const inPool = res.data.filter((o) => o.poolId === poolId);
      const c = inPool.find((o) => o.pricePerGpuHour.amount === cheapest.get(poolId));
      const e = inPool.find((o) => Date.parse(o.start) === earliest.get(poolId));
      expect(c, `cheapest of ${poolId}`).toBeDefined();
      expect(e, `earliest of ${poolId}`).toBeDefined();
      anchors.add(c!).add(e!);
    }
    // Sorted by price per GPU-hour, then longer, then earlier.
    for (let i = 1; i < res.data.length; i++) {
      const [a, b] = [res.data[i - 1]!, res.data[i]!];
      expect(a.pricePerGpuHour.amount).toBeLessThanOrEqual(b.pricePerGpuHour.amount);
      if (a.pricePerGpuHour.amount === b.pricePerGpuHour.amount && a.durationHours === b.durationHours) expect(Date.parse(a.start)).toBeLessThanOrEqual(Date.parse(b.start));
    }
    // No two offers of one pool overlap by more than half their length (except the pool's cheapest and earliest).
    for (const a of res.data) {
      for (const b of res.data) {
        if (a === b || a.poolId !== b.poolId || (anchors.has(a) && anchors.has(b))) continue;
        expect(overlapHours(a, b) * 2, `${a.start} and ${b.start} in ${a.poolId}`).toBeLessThanOrEqual(Math.min(a.durationHours, b.durationHours));
      }
    }
    // The cheapest offer overall is first.
    expect(res.data[0]!.pricePerGpuHour.amount).toBe(Math.min(...cheapest.values()));
  }, 240_000);

  it('sort=start puts the earliest first', async () => {
    const res = await offers({ ...fixedQuery(), sort: 'start', limit: 8 });
    for (let i = 1; i < res.data.length; i++) expect(Date.parse(res.data[i - 1]!.start)).toBeLessThanOrEqual(Date.parse(res.data[i]!.start));
    expect(res.data[0]!.start).toBe(new Date(fixedQuery().earliestStart).toISOString());
  });

  it('with a duration range, longer windows at the same or lower price come first', async () => {
    const res = await offers({ gpuType: 'h200-sxm-141gb', gpus: 8, minDurationHours: 24, maxDurationHours: 24 * 8, site: 'valence-rovaltain', earliestStart: hoursFrom(t.clock, 24 * 40), latestEnd: hoursFrom(t.clock, 24 * 60), limit: 10 });
    // Idle pool: the 8-day window reaches the ≥ 7 days discount, so the longest windows are the cheapest.
    expect(res.data[0]!.durationHours).toBe(24 * 8);
    for (let i = 1; i < res.data.length; i++) {
      const [a, b] = [res.data[i - 1]!, res.data[i]!];
      expect(a.pricePerGpuHour.amount).toBeLessThanOrEqual(b.pricePerGpuHour.amount);
      if (a.pricePerGpuHour.amount === b.pricePerGpuHour.amount) expect(a.durationHours).toBeGreaterThanOrEqual(b.durationHours);
    }
    // Never a shorter window ranked above a longer one that costs the same or less.
    for (const [i, a] of res.data.entries()) {
      for (const b of res.data.slice(i + 1)) {
        if (b.durationHours > a.durationHours) expect(b.pricePerGpuHour.amount).toBeGreaterThan(a.pricePerGpuHour.amount);
      }
    }
  });
});

describe('nearest', () => {
  it('on a full pool: no offers, the most GPUs free for the duration, and the earliest fit after the range', async () => {
    // marseille-b200 has 128 GPUs; maintenance takes 96 of them from +100 h to +240 h.
    const m = await t.call('POST', '/v1/pools/marseille-b200/maintenance', { key: t.keys.operator, body: { start: hoursFrom(t.clock, 100), end: hoursFrom(t.clock, 240), gpus: 96, reason: 'offers test' } });
    expect(m.status, m.text).toBe(201);
    const query = { gpuType: 'b200-sxm-192gb', gpus: 64, durationHours: 24, site: 'marseille', earliestStart: hoursFrom(t.clock, 120), latestEnd: hoursFrom(t.clock, 200) };
    const res = await offers(query);
    expect(res.data).toEqual([]);
    expect(res.nearest).toEqual({
      mostGpus: { site: 'marseille', poolId: 'marseille-b200', gpus: 32, start: new Date(hoursFrom(t.clock, 120)).toISOString(), end: new Date(hoursFrom(t.clock, 144)).toISOString() },
      earliestFit: { site: 'marseille', poolId: 'marseille-b200', start: new Date(hoursFrom(t.clock, 240)).toISOString(), end: new Date(hoursFrom(t.clock, 264)).toISOString() },
    });
    // The earliest fit really fits: quote and hold it.
    const fit = res.nearest as { earliestFit: { start: string; end: string } };
    const q = await t.call('POST', '/v1/quotes', { body: { site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: 64, start: fit.earliestFit.start, end: fit.earliestFit.end } });
    expect(q.status, q.text).toBe(201);
    expect((await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } })).status).toBe(201);

    // Completely full in the range: nothing bookable at all; the hold left 64 GPUs free after it, so the fit stays.
    const rest = await t.call('POST', '/v1/pools/marseille-b200/maintenance', { key: t.keys.operator, body: { start: hoursFrom(t.clock, 100), end: hoursFrom(t.clock, 240), gpus: 32, reason: 'offers test, rest' } });
    expect(rest.status, rest.text).toBe(201);
    const full = await offers(query);
    expect(full.data).toEqual([]);
    expect(full.nearest).toEqual({
      mostGpus: null,
      earliestFit: { site: 'marseille', poolId: 'marseille-b200', start: new Date(hoursFrom(t.clock, 240)).toISOString(), end: new Date(hoursFrom(t.clock, 264)).toISOString() },
    });
  });
});
