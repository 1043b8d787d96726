/**
 * The budget's figures against the month's invoices, credit notes and metered usage, to the cent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hoursFrom } from '../support/app.ts';
import { createBillingTest, type BillingTest } from './billing.fixtures.ts';
import { budget, eur, hold, newOrg, quote, setBudget, H100, VALENCE } from './budgets.fixtures.ts';

let bt: BillingTest;
beforeAll(async () => {
  bt = await createBillingTest({ stripe: false, start: '2026-11-10T10:00:00Z' });
});
afterAll(() => bt.close());

describe('reconciliation', () => {
  it('spent = the month’s invoices − its credit notes, reserved and on-demand, to the cent', async () => {
    const { t } = bt;
    const { key } = await newOrg(t);
    await setBudget(t, key, { monthlyLimit: eur(100_000_000), alertThresholdsPct: [50], enforce: true, stopOnDemandAtLimit: false });
    const confirm = async (startIn: number, hours: number) => {
      const q = await quote(t, key, { startIn, hours });
      const h = await hold(t, key, q.id);
      expect(h.status).toBe(201);
      const c = await t.call('POST', `/v1/reservations/${h.body.id}/confirm`, { key });
      expect(c.status).toBe(200);
      return c.body as { id: string; end: string; price: { amount: number } };
    };
    await confirm(24, 3);
    const extended = await confirm(30, 5);
    expect((await t.call('POST', `/v1/reservations/${extended.id}/extend`, { key, body: { end: hoursFrom(t.clock, 30 + 5 + 7) } })).status).toBe(200);
    const cancelled = await confirm(24 * 10, 4);
    const cancel = await t.call('POST', `/v1/reservations/${cancelled.id}/cancel`, { key });
    expect(cancel.body.refund.percent).toBe(100);
    const late = await confirm(24 * 3, 2);
    expect((await t.call('POST', `/v1/reservations/${late.id}/cancel`, { key })).body.refund.percent).toBe(50);
    const q = await quote(t, key, { startIn: 50, hours: 2 });
    expect((await hold(t, key, q.id)).status).toBe(201);

    const od = await t.call('POST', '/v1/reservations', { key, body: { kind: 'on_demand', site: VALENCE, gpuType: H100, gpus: 16 } });
    expect(od.status).toBe(201);
    t.clock.advance(83 * 60_000 + 17_000);
    const stopped = await t.call('POST', `/v1/reservations/${od.body.id}/stop`, { key });
    expect(stopped.status).toBe(200);
    const usage = await t.call('POST', '/v1/usage', {
      key: t.keys.meter,
      body: { events: [{ id: `od-${od.body.id}`, reservationId: od.body.id, start: od.body.start, end: stopped.body.stoppedAt, gpus: 16 }] },
    });
    expect(usage.body.accepted).toBe(1);

    // The month's invoices and credit notes so far: reservations and the extension.
    const sumInvoices = async () => {
      const list = (await t.call('GET', '/v1/invoices?period=2026-11&limit=200', { key })).body.data as { id: string; kind: string; subtotal: { amount: number } }[];
      let invoiced = 0;
      let credited = 0;
      const byKind: Record<string, number> = {};
      for (const i of list) {
        invoiced += i.subtotal.amount;
        byKind[i.kind] = (byKind[i.kind] ?? 0) + i.subtotal.amount;
        const full = (await t.call('GET', `/v1/invoices/${i.id}`, { key })).body as { creditNotes: { period: string; subtotal: { amount: number } }[] };
        credited += full.creditNotes.filter((n) => n.period === '2026-11').reduce((s, n) => s + n.subtotal.amount, 0);
      }
      return { invoiced, credited, byKind };
    };
    const before = await sumInvoices();
    expect(before.credited).toBeGreaterThan(0);
    const now = await budget(t, key);
    expect(now.breakdown.reserved.amount).toBe(before.invoiced - before.credited);
    expect(now.committed).toEqual(q.total);

    // After the month: the close invoices the metered usage; the budget of November matches it.
    t.clock.set('2026-12-01T01:00:00Z');
    const close = await t.call('POST', '/v1/billing/close', { key: t.keys.finance, body: { period: '2026-11' } });
    expect(close.status, JSON.stringify(close.body)).toBe(200);
    const after = await sumInvoices();
    const november = await budget(t, key, '2026-11');
    expect(after.byKind.usage).toBeGreaterThan(0);
    expect(november.breakdown.onDemand.amount).toBe(after.byKind.usage);
    expect(november.spent.amount).toBe(after.invoiced - after.credited);
    const metered = await t.call('GET', `/v1/usage?reservationId=${od.body.id}&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z`, { key });
    const pools = await t.call('GET', `/v1/pools?site=${VALENCE}&gpuType=${H100}`);
    const rate = pools.body.data[0].onDemandRate.amount as number;
    expect(november.breakdown.onDemand.amount).toBe(Math.round((metered.body.gpuSeconds * rate) / 3600));
    // The chart adds up to what was spent.
    const chart = november.byDay.reduce((s, d) => s + d.reserved.amount + d.onDemand.amount, 0);
    expect(chart).toBe(november.spent.amount);
    // December starts from zero.
    expect((await budget(t, key)).spent).toEqual(eur(0));
  });
});
