/**
 * Issue 15, finding 1 (OWASP API6): one org may not hold a pool hostage. Hold limits per org (open
 * holds, unconfirmed GPUs per pool, holds of one window per hour) answer `409 …/hold-limit` naming
 * the limit, hold under concurrency, are freed by confirm, cancel and expiry, can be changed by an
 * operator per pool and per org, and `GET /v1/limits` shows them with usage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HOLD_LIMITS } from '../../shared/domain/limits.ts';
import { sweepDueReservations } from '../../shared/services/sweeper.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ holdLimits: DEFAULT_HOLD_LIMITS });
});
afterAll(() => t.close());

const B200 = { site: 'marseille', gpuType: 'b200-sxm-192gb' }; // marseille-b200: 128 GPUs
let slot = 0;
/** A fresh 2-hour window far enough out for each hold (unless one is given). */
async function hold(key: string, gpus: number, window?: { start: string; end: string }, pool = B200) {
  slot++;
  const w = window ?? { start: hoursFrom(t.clock, 24 * 20 + slot * 3), end: hoursFrom(t.clock, 24 * 20 + slot * 3 + 2) };
  const q = await t.call('POST', '/v1/quotes', { key, body: { ...pool, gpus, ...w } });
  expect(q.status, JSON.stringify(q.body)).toBe(201);
  return t.call('POST', '/v1/reservations', { key, body: { quoteId: q.body.id } });
}
const limitsOf = async (key: string) => Object.fromEntries(((await t.call('GET', '/v1/limits', { key })).body.data as { name: string; limit: number; used: number; resetsAt: string | null }[]).map((l) => [l.name, l]));
const setOrgLimits = (orgId: string, body: unknown) => t.call('PUT', `/v1/orgs/${orgId}/limits`, { key: t.keys.operator, body });
const cancelAll = async (key: string, ids: string[]) => {
  for (const id of ids) expect((await t.call('POST', `/v1/reservations/${id}/cancel`, { key })).status).toBe(200);
};

describe('hoarding limits', () => {
  it('one org cannot hold more than half a pool unconfirmed; another org still can book it', async () => {
    const whole = await hold(t.keys.customer, 128);
    expect(whole.status).toBe(409);
    expect(whole.body.type).toBe('https://gpu-market.example/problems/hold-limit');
    expect(whole.body.detail).toContain('"held-gpus"');
    const half = await hold(t.keys.customer, 64);
    expect(half.status).toBe(201);
    const more = await hold(t.keys.customer, 8);
    expect(more.status).toBe(409);
    expect(more.body.detail).toContain('"held-gpus"');
    const theirs = await hold(t.keys.customer2, 64);
    expect(theirs.status).toBe(201);
    const mine = await limitsOf(t.keys.customer);
    expect(mine['held-gpus:marseille-b200']).toEqual({ name: 'held-gpus:marseille-b200', limit: 64, used: 64, resetsAt: null });
    // Confirming frees the hold allowance (the GPUs are then committed and billed).
    expect((await t.call('POST', `/v1/reservations/${half.body.id}/confirm`)).status).toBe(200);
    expect((await limitsOf(t.keys.customer))['held-gpus:marseille-b200']!.used).toBe(0);
    expect((await hold(t.keys.customer, 8)).status).toBe(201);
    await cancelAll(t.keys.customer2, [theirs.body.id]);
  });

  it('open holds per org: the limit, an operator override, and 409 naming it; cancel frees one', async () => {
    expect((await setOrgLimits('org_rheinwerk', { openHolds: 2 })).status).toBe(200);
    const a = await hold(t.keys.customer2, 8);
    const b = await hold(t.keys.customer2, 8);
    expect([a.status, b.status]).toEqual([201, 201]);
    const c = await hold(t.keys.customer2, 8);
    expect(c.status).toBe(409);
    expect(c.body.detail).toContain('"open-holds"');
    expect(c.body.errors).toEqual([{ path: 'quoteId', message: 'limit "open-holds" (2) reached' }]);
    expect((await limitsOf(t.keys.customer2))['open-holds']).toEqual({ name: 'open-holds', limit: 2, used: 2, resetsAt: null });
    await cancelAll(t.keys.customer2, [a.body.id]);
    const d = await hold(t.keys.customer2, 8);
    expect(d.status).toBe(201);
    await cancelAll(t.keys.customer2, [b.body.id, d.body.id]);
    expect((await setOrgLimits('org_rheinwerk', {})).status).toBe(200);
  });

  it('concurrent holds of one org cannot pass the limit together', async () => {
    expect((await setOrgLimits('org_rheinwerk', { openHolds: 2 })).status).toBe(200);
    const quotes = [];
    for (let i = 0; i < 6; i++) {
      const q = await t.call('POST', '/v1/quotes', { key: t.keys.customer2, body: { ...B200, gpus: 8, start: hoursFrom(t.clock, 24 * 40 + i * 3), end: hoursFrom(t.clock, 24 * 40 + i * 3 + 1) } });
      quotes.push(q.body.id as string);
    }
    const answers = await Promise.all(quotes.map((quoteId) => t.call('POST', '/v1/reservations', { key: t.keys.customer2, body: { quoteId } })));
    const held = answers.filter((a) => a.status === 201);
    expect(held).toHaveLength(2);
    for (const a of answers.filter((x) => x.status !== 201)) expect(a.body.type).toMatch(/hold-limit$/);
    await cancelAll(t.keys.customer2, held.map((h) => h.body.id));
    expect((await setOrgLimits('org_rheinwerk', {})).status).toBe(200);
  });

  it('cancel + re-hold of the same window is limited per hour, so a window cannot be kept held for free', async () => {
    const window = { start: hoursFrom(t.clock, 24 * 60), end: hoursFrom(t.clock, 24 * 60 + 4) };
    const statuses: number[] = [];
    let last: { status: number; body: any } | undefined;
    for (let i = 0; i < DEFAULT_HOLD_LIMITS.sameWindowHoldsPerHour + 1; i++) {
      last = await hold(t.keys.customer2, 8, window);
      statuses.push(last.status);
      if (last.status === 201) await cancelAll(t.keys.customer2, [last.body.id]);
    }
    expect(statuses).toEqual([...Array(DEFAULT_HOLD_LIMITS.sameWindowHoldsPerHour).fill(201), 409]);
    expect(last!.body.detail).toContain('"same-window-holds-per-hour"');
    const shown = (await limitsOf(t.keys.customer2))['same-window-holds-per-hour']!;
    expect(shown.used).toBe(DEFAULT_HOLD_LIMITS.sameWindowHoldsPerHour);
    expect(Date.parse(shown.resetsAt!)).toBeGreaterThan(t.clock().getTime());
    t.clock.set(shown.resetsAt!);
    const nextHour = await hold(t.keys.customer2, 8, window);
    expect(nextHour.status).toBe(201);
    await cancelAll(t.keys.customer2, [nextHour.body.id]);
  });

  it('an expired hold gives its allowance back', async () => {
    const h = await hold(t.keys.customer2, 16);
    expect(h.status).toBe(201);
    expect((await limitsOf(t.keys.customer2))['open-holds']!.used).toBe(1);
    t.clock.advance(16 * 60_000);
    await sweepDueReservations({ db: t.db, clock: t.clock, booking: t.deps.booking });
    expect((await t.call('GET', `/v1/reservations/${h.body.id}`, { key: t.keys.customer2 })).body.status).toBe('expired');
    const limits = await limitsOf(t.keys.customer2);
    expect(limits['open-holds']!.used).toBe(0);
    expect(limits['held-gpus:marseille-b200']!.used).toBe(0);
  });

  it('an operator sets a pool’s limit; an org’s own override wins over it', async () => {
    expect((await t.call('PUT', '/v1/pools/marseille-b200/limits', { key: t.keys.operator, body: { heldGpusPercent: 25 } })).status).toBe(200);
    expect((await limitsOf(t.keys.customer2))['held-gpus:marseille-b200']!.limit).toBe(32);
    const over = await hold(t.keys.customer2, 40);
    expect(over.status).toBe(409);
    expect((await setOrgLimits('org_rheinwerk', { heldGpusPercent: 40 })).status).toBe(200);
    const within = await hold(t.keys.customer2, 48);
    expect(within.status).toBe(201);
    await cancelAll(t.keys.customer2, [within.body.id]);
    expect((await t.call('PUT', '/v1/pools/marseille-b200/limits', { key: t.keys.operator, body: {} })).status).toBe(200);
    expect((await setOrgLimits('org_rheinwerk', {})).status).toBe(200);
    expect((await t.call('PUT', '/v1/pools/nope/limits', { key: t.keys.operator, body: {} })).status).toBe(404);
    expect((await setOrgLimits('org_nope', {})).status).toBe(404);
  });

  it('GET /v1/limits lists hold and rate limits with usage; only customers read it and only operators set them', async () => {
    const before = await limitsOf(t.keys.customer2);
    const quotesName = Object.keys(before).find((n) => n.startsWith('quotes-'))!;
    await t.call('POST', '/v1/quotes', { key: t.keys.customer2, body: { ...B200, gpus: 8, start: hoursFrom(t.clock, 24 * 80), end: hoursFrom(t.clock, 24 * 80 + 1) } });
    const after = await limitsOf(t.keys.customer2);
    expect(after[quotesName]!.used).toBe(before[quotesName]!.used + 1);
    expect(Date.parse(after[quotesName]!.resetsAt!)).toBeGreaterThan(t.clock().getTime());
    expect(Object.keys(after)).toEqual(expect.arrayContaining(['open-holds', 'same-window-holds-per-hour', 'held-gpus:marseille-b200']));
    for (const key of [t.keys.operator, t.keys.finance, t.keys.meter]) expect((await t.call('GET', '/v1/limits', { key })).status).toBe(403);
    expect((await t.call('PUT', '/v1/orgs/org_lumiere/limits', { key: t.keys.customer, body: { openHolds: 1000 } })).status).toBe(403);
    expect((await t.call('PUT', '/v1/orgs/org_lumiere/limits', { key: t.keys.operator, body: { openHolds: -1 } })).status).toBe(400);
  });
});
