/**
 * A burst of 100 parallel holds (and on-demand starts) against a small remaining budget: the budget
 * check runs in each booking's transaction, so no burst overshoots. What the burst answers 503
 * (contention of one org's bookings on the booking core; `rush` works on that) is retried by the
 * client, one at a time, as a client would after Retry-After; then every request is decided and
 * exactly what fits was booked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingTest, type BillingTest } from './billing.fixtures.ts';
import type { TestContext } from '../support/app.ts';
import { budget, eur, newOrg, onDemandRate, quote, setBudget, H100, VALENCE } from './budgets.fixtures.ts';

type Answer = { status: number; body: any };

/** Sends every request at once; then what was answered 503 again, one at a time, until decided. */
async function burst(t: TestContext, label: string, send: ((i: number) => Promise<Answer>)[]): Promise<Answer[]> {
  const started = Date.now();
  const answers = await Promise.all(send.map((f, i) => f(i)));
  const first = answers.reduce<Record<number, number>>((acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }), {});
  const seconds = (Date.now() - started) / 1000;
  for (let i = 0; i < answers.length; i++) {
    // 409 idempotency-in-flight: the burst's attempt with that key is still recorded as running (its
    // release failed under the same contention); the key's lease (60 s of the API's clock) runs out.
    const again = (a: Answer) => a.status === 503 || (a.status === 409 && String(a.body?.type).endsWith('/idempotency-in-flight'));
    for (let attempt = 0; again(answers[i]!) && attempt < 30; attempt++) {
      if (answers[i]!.status === 409) t.clock.advance(61_000);
      answers[i] = await send[i]!(i);
    }
  }
  const decided = answers.reduce<Record<string, number>>((acc, a) => {
    const k = a.status >= 400 ? `${a.status} ${String(a.body?.type).split('/').pop()}` : String(a.status);
    return { ...acc, [k]: (acc[k] ?? 0) + 1 };
  }, {});
  console.info(`budget storm, ${label}: burst of ${send.length} in ${seconds.toFixed(1)} s → ${JSON.stringify(first)}; after client retries of the 503s → ${JSON.stringify(decided)}`);
  return answers;
}

let bt: BillingTest;
beforeAll(async () => {
  bt = await createBillingTest({ stripe: false, start: '2026-11-10T10:00:00Z' });
});
afterAll(() => bt.close());

describe('budget storm', () => {
  it('100 parallel holds against room for 7: exactly 7 held, 93 refused with 402, committed within the limit', async () => {
    const { t } = bt;
    const { key } = await newOrg(t);
    // 1-hour windows on distinct hours so capacity is never what refuses.
    const quotes = [];
    for (let i = 0; i < 100; i++) quotes.push(await quote(t, key, { startIn: 24 + (i % 50), hours: 1 }));
    const prices = quotes.map((q) => q.total.amount);
    const max = Math.max(...prices);
    const limit = 7 * max + Math.floor(Math.min(...prices) / 2);
    await setBudget(t, key, { monthlyLimit: eur(limit), alertThresholdsPct: [100], enforce: true, stopOnDemandAtLimit: false });

    const answers = await burst(
      t,
      '100 holds',
      quotes.map((q) => () => t.call('POST', '/v1/reservations', { key, headers: { 'idempotency-key': `storm-hold-${q.id}` }, body: { quoteId: q.id } })),
    );
    const byStatus = answers.reduce<Record<number, number>>((acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }), {});

    const held = answers.filter((a) => a.status === 201);
    const committed = held.reduce((sum, a) => sum + a.body.price.amount, 0);
    expect(answers.every((a) => a.status === 201 || a.status === 402), JSON.stringify(byStatus)).toBe(true);
    expect(committed).toBeLessThanOrEqual(limit);
    // Nothing more is refused than must be: after the burst, no refused quote would still fit.
    const figures = await budget(t, key);
    expect(figures.committed).toEqual(eur(committed));
    const refusedPrices = answers.flatMap((a, i) => (a.status === 402 ? [prices[i]!] : []));
    expect(Math.min(...refusedPrices)).toBeGreaterThan(limit - committed);
    expect(held.length).toBeGreaterThanOrEqual(7);
    const reservations = (await t.call('GET', '/v1/reservations?limit=200', { key })).body.data as { status: string }[];
    expect(reservations.filter((r) => r.status === 'held')).toHaveLength(held.length);
  });

  it('100 parallel on-demand starts against room for 5 first hours: exactly 5 run', async () => {
    const { t } = bt;
    const { key } = await newOrg(t);
    const hour = 8 * (await onDemandRate(t));
    await setBudget(t, key, { monthlyLimit: eur(5 * hour + hour / 2), alertThresholdsPct: [100], enforce: true, stopOnDemandAtLimit: false });
    // One Idempotency-Key per request: a client's retry of a 503 whose write did commit finds it.
    const answers = await burst(
      t,
      '100 on-demand starts',
      Array.from({ length: 100 }, (_, i) => () =>
        t.call('POST', '/v1/reservations', { key, headers: { 'idempotency-key': `storm-od-${i}` }, body: { kind: 'on_demand', site: VALENCE, gpuType: H100, gpus: 8 } }),
      ),
    );
    const byStatus = answers.reduce<Record<number, number>>((acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }), {});
    expect(byStatus).toEqual({ 201: 5, 402: 95 });
    expect((await budget(t, key)).committed).toEqual(eur(5 * hour));
  });
});
