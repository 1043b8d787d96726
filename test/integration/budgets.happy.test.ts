import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingTest, type BillingTest } from './billing.fixtures.ts';
import { budget, eur, events, expectProblem, hold, newOrg, onDemandRate, quote, setBudget, sweepBudgets, H100, VALENCE } from './budgets.fixtures.ts';

let bt: BillingTest;
beforeAll(async () => {
  bt = await createBillingTest({ stripe: false, start: '2026-11-10T10:00:00Z' });
});
afterAll(() => bt.close());

describe('org budget', () => {
  it('is set by an admin, read back with its figures, and removed', async () => {
    const { t } = bt;
    const { key } = await newOrg(t);
    expectProblem(await t.call('GET', '/v1/budget', { key }), 404, 'not-found');
    const set = await setBudget(t, key, { monthlyLimit: eur(500_000), alertThresholdsPct: [50, 80, 100], enforce: true, stopOnDemandAtLimit: false });
    expect(set).toMatchObject({
      monthlyLimit: eur(500_000),
      alertThresholdsPct: [50, 80, 100],
      enforce: true,
      stopOnDemandAtLimit: false,
      period: '2026-11',
      spent: eur(0),
      committed: eur(0),
      forecast: eur(0),
      remaining: eur(500_000),
      thresholdsReached: [],
    });
    expect(await budget(t, key)).toEqual(set);
    expect((await t.call('DELETE', '/v1/budget', { key })).status).toBe(204);
    expectProblem(await t.call('GET', '/v1/budget', { key }), 404, 'not-found');
  });

  it('refuses the hold that would overshoot, and nothing more; confirm never fails for budget reasons', async () => {
    const { t } = bt;
    const { key } = await newOrg(t);
    const q = await Promise.all([quote(t, key), quote(t, key), quote(t, key)]);
    const price = q[0]!.total.amount;
    expect(q.every((x) => x.total.amount === price)).toBe(true);
    const limit = 2 * price + Math.floor(price / 2);
    await setBudget(t, key, { monthlyLimit: eur(limit), alertThresholdsPct: [100], enforce: true, stopOnDemandAtLimit: false });

    const a = await hold(t, key, q[0]!.id);
    const b = await hold(t, key, q[1]!.id);
    expect([a.status, b.status]).toEqual([201, 201]);
    const refused = await hold(t, key, q[2]!.id);
    expectProblem(refused, 402, 'budget-exceeded');
    expect(refused.body).toMatchObject({ limit: eur(limit), amount: eur(price), remaining: eur(limit - 2 * price), period: '2026-11' });
    expect(refused.body.errors[0].path).toBe('budget.monthlyLimit');
    expect((await t.call('GET', '/v1/reservations?limit=50', { key })).body.data).toHaveLength(2);

    let figures = await budget(t, key);
    expect(figures).toMatchObject({ spent: eur(0), committed: eur(2 * price), remaining: eur(limit - 2 * price) });

    // A hold that exactly fills what remains is allowed.
    const exact = await quote(t, key, { startIn: 48, hours: 1 });
    if (exact.total.amount <= limit - 2 * price) expect((await hold(t, key, exact.id)).status).toBe(201);

    // Lowering the limit below what is held does not stop the confirmation.
    await setBudget(t, key, { monthlyLimit: eur(1), alertThresholdsPct: [100], enforce: true, stopOnDemandAtLimit: false });
    expect((await t.call('POST', `/v1/reservations/${a.body.id}/confirm`, { key })).status).toBe(200);
    figures = await budget(t, key);
    expect(figures.spent).toEqual(eur(price));
    expect(figures.breakdown.reserved).toEqual(eur(price));

    // Extending a confirmed booking is a new charge: checked.
    const extend = await t.call('POST', `/v1/reservations/${a.body.id}/extend`, { key, body: { end: new Date(Date.parse(a.body.end) + 3_600_000).toISOString() } });
    expectProblem(extend, 402, 'budget-exceeded');
    // Cancelling a hold releases what it committed.
    expect((await t.call('POST', `/v1/reservations/${b.body.id}/cancel`, { key })).status).toBe(200);
    expect((await budget(t, key)).breakdown.held.amount).toBe(figures.breakdown.held.amount - price);
  });

  it('counts nothing against a budget that is not enforced, and keeps the figures', async () => {
    const { t } = bt;
    const { key } = await newOrg(t);
    const q = await quote(t, key);
    await setBudget(t, key, { monthlyLimit: eur(1), alertThresholdsPct: [100], enforce: false, stopOnDemandAtLimit: false });
    const held = await hold(t, key, q.id);
    expect(held.status).toBe(201);
    expect((await budget(t, key)).committed).toEqual(q.total);
  });

  it('fires each threshold once per month, with the figures', async () => {
    const { t } = bt;
    const { key } = await newOrg(t);
    const qs = await Promise.all([quote(t, key), quote(t, key), quote(t, key), quote(t, key)]);
    const price = qs[0]!.total.amount;
    await setBudget(t, key, { monthlyLimit: eur(4 * price), alertThresholdsPct: [25, 50, 75, 100], enforce: false, stopOnDemandAtLimit: false });
    for (const [i, q] of qs.entries()) {
      const h = await hold(t, key, q.id);
      expect(await events(t, key, 'budget.threshold_reached')).toHaveLength(i);
      // The confirmation that moves spent across a threshold writes its alert in the same transaction.
      expect((await t.call('POST', `/v1/reservations/${h.body.id}/confirm`, { key })).status).toBe(200);
      expect(await events(t, key, 'budget.threshold_reached')).toHaveLength(i + 1);
    }
    // Setting the budget again does not fire them again.
    await setBudget(t, key, { monthlyLimit: eur(4 * price), alertThresholdsPct: [25, 50, 75, 100], enforce: false, stopOnDemandAtLimit: false });
    await sweepBudgets(t);
    const fired = await events(t, key, 'budget.threshold_reached');
    expect(fired.map((e) => e.data)).toEqual(
      [25, 50, 75, 100].map((thresholdPct, i) => ({ period: '2026-11', thresholdPct, spent: eur((i + 1) * price), monthlyLimit: eur(4 * price) })),
    );
    expect((await budget(t, key)).thresholdsReached).toEqual([25, 50, 75, 100]);
  }, 180_000);
});

describe('on-demand', () => {
  it('is priced at one hour when it starts, charged per second held, and stopped at the limit when asked', { timeout: 180_000 }, async () => {
    const { t } = bt;
    const rate = await onDemandRate(t);
    const hour = 8 * rate;
    const stopping = await newOrg(t);
    const running = await newOrg(t);
    for (const org of [stopping, running]) {
      await setBudget(t, org.key, { monthlyLimit: eur(2 * hour), alertThresholdsPct: [50, 100], enforce: true, stopOnDemandAtLimit: org === stopping });
    }
    const start = (key: string) => t.call('POST', '/v1/reservations', { key, body: { kind: 'on_demand', site: VALENCE, gpuType: H100, gpus: 8 } });
    const a = await start(stopping.key);
    const b = await start(running.key);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(await budget(t, stopping.key)).toMatchObject({ spent: eur(0), committed: eur(hour), remaining: eur(hour) });

    t.clock.advance(30 * 60_000);
    const half = await budget(t, stopping.key);
    expect(half).toMatchObject({ spent: eur(hour / 2), committed: eur(hour / 2) });
    // Another start needs one more hour: it fits exactly, a third does not.
    const second = await start(stopping.key);
    expect(second.status).toBe(201);
    expectProblem(await start(stopping.key), 402, 'budget-exceeded');
    expect((await t.call('POST', `/v1/reservations/${second.body.id}/stop`, { key: stopping.key })).status).toBe(200);

    t.clock.advance(30 * 60_000);
    await sweepBudgets(t);
    expect((await t.call('GET', `/v1/reservations/${a.body.id}`, { key: stopping.key })).body.status).toBe('active');

    t.clock.advance(60 * 60_000);
    const swept = await sweepBudgets(t);
    expect(swept.stopped).toBeGreaterThanOrEqual(1);
    const stopped = (await t.call('GET', `/v1/reservations/${a.body.id}`, { key: stopping.key })).body;
    expect(stopped.status).toBe('stopped');
    const stopEvent = (await events(t, stopping.key, 'reservation.stopped')).find((e) => e.data.id === a.body.id);
    expect(stopEvent?.data.reason).toBe('budget_limit_reached');
    // Not asked: it runs on past the limit, and the alerts say so.
    expect((await t.call('GET', `/v1/reservations/${b.body.id}`, { key: running.key })).body.status).toBe('active');
    expect((await events(t, running.key, 'budget.threshold_reached')).map((e) => e.data.thresholdPct)).toEqual([50, 100]);
    const over = await budget(t, running.key);
    expect(over.spent).toEqual(eur(2 * hour));
    expect(over.remaining).toEqual(eur(0));
    // Forecast: running on-demand to the end of the month at its rate.
    const now = t.clock().getTime();
    const monthEnd = Date.parse('2026-12-01T00:00:00Z');
    expect(over.forecast.amount).toBe(2 * hour + Math.round((Math.floor((monthEnd - now) / 1000) * 8 * rate) / 3600));
  });
});
