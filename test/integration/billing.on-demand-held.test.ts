/**
 * Issue 15, finding 1 (hoarding): a 128-GPU on-demand reservation that metered 0 GPU-seconds used to
 * cost nothing, although it blocked the whole pool. On-demand is billed per second for the GPUs held
 * from start to stop (docs/pricing.md "On-demand"): the same reservation now costs its held time,
 * the invoice and the reconciliation stay balanced, and the rounding rule is recomputed exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldGpuSecondsByPool, heldGpuSecondsIn } from '../../shared/domain/on-demand.ts';
import { onDemandCharge } from '../../shared/domain/pricing.ts';
import { ledgerWrite } from '../../shared/store/billing-records.ts';
import { transact } from '../../shared/store/transact.ts';
import { createBillingTest, type BillingTest } from './billing.fixtures.ts';

let b: BillingTest;
beforeAll(async () => {
  b = await createBillingTest({ start: '2026-11-10T08:00:00.700Z', stripe: false });
});
afterAll(() => b.close());

describe('on-demand billed for the GPUs held (issue 15, finding 1)', () => {
  it('a 128-GPU on-demand that metered nothing costs its held time, per second; the close reconciles to the cent', async () => {
    const { t } = b;
    const pools = (await t.call('GET', '/v1/pools?site=marseille&gpuType=b200-sxm-192gb')).body.data as { id: string; totalGpus: number; onDemandRate: { amount: number } }[];
    const pool = pools[0]!;
    expect(pool.totalGpus).toBe(128);
    const run = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: 128 } });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    // The whole pool is blocked: another org gets nothing.
    expect((await t.call('POST', '/v1/reservations', { key: t.keys.customer2, body: { kind: 'on_demand', site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: 8 } })).status).toBe(409);

    // 3 h 20 min 15.5 s later it stops, with no usage metered at all.
    t.clock.set('2026-11-10T11:20:16.200Z');
    const stopped = await t.call('POST', `/v1/reservations/${run.body.id}/stop`);
    expect(stopped.status).toBe(200);

    t.clock.set('2026-12-01T03:00:00Z');
    const closed = await t.call('POST', '/v1/billing/close', { key: t.keys.finance, body: { period: '2026-11' } });
    expect(closed.status, JSON.stringify(closed.body)).toBe(200);
    const invoice = (closed.body.invoices as { orgId: string; subtotal: { amount: number }; tax: { amount: number }; total: { amount: number }; lines: { amount: { amount: number }; gpuHours: string; meteredGpuHours: string | null; description: string }[] }[]).find(
      (i) => i.orgId === 'org_lumiere',
    )!;
    // The rule recomputed: start and stop cut to the whole second (08:00:00 → 11:20:16 = 12 016 s), × 128 GPUs, × rate ÷ 3 600, rounded half up once.
    const gpuSeconds = 128 * (3 * 3600 + 20 * 60 + 16);
    const expected = onDemandCharge(gpuSeconds, pool.onDemandRate.amount).amount;
    expect(expected).toBeGreaterThan(0);
    expect(invoice.lines).toHaveLength(1);
    expect(invoice.lines[0]).toMatchObject({ amount: { amount: expected }, meteredGpuHours: '0' });
    expect(invoice.lines[0]!.description).toContain('GPU-h held');
    expect(invoice.subtotal.amount).toBe(expected);
    expect(invoice.total.amount).toBe(invoice.subtotal.amount + invoice.tax.amount);

    const rec = await t.call('GET', '/v1/billing/reconciliation?period=2026-11', { key: t.keys.finance });
    expect(rec.body).toMatchObject({ meteredUsage: { amount: expected }, difference: { amount: 0 }, usageAwaitingNextClose: { amount: 0 }, balanced: true });
  });

  it('held seconds: whole seconds between start and stop, split over months exactly, running ones up to now', () => {
    const r = { poolId: 'p', gpus: 4, start: '2026-11-30T23:59:58.900Z', stoppedAt: '2026-12-01T00:00:03.100Z' };
    // 23:59:58 → 00:00:03 = 5 s: 2 in November, 3 in December.
    expect(heldGpuSecondsIn(r, '2026-11', new Date('2027-01-01T00:00:00Z'))).toBe(4 * 2);
    expect(heldGpuSecondsIn(r, '2026-12', new Date('2027-01-01T00:00:00Z'))).toBe(4 * 3);
    expect(heldGpuSecondsIn(r, '2026-10', new Date('2027-01-01T00:00:00Z'))).toBe(0);
    const running = { ...r, stoppedAt: null };
    expect(heldGpuSecondsIn(running, '2026-12', new Date('2026-12-01T01:00:00.999Z'))).toBe(4 * 3600);
    expect(heldGpuSecondsByPool([r, { ...r, poolId: 'q', gpus: 1 }, r], '2026-12', new Date('2027-01-01T00:00:00Z'))).toEqual(new Map([['p', 24], ['q', 3]]));
  });
});

describe('a month invoiced on metered usage before the change keeps its rule', () => {
  it('late metered usage of it is still an adjustment; its held time is never billed afterwards', async () => {
    const legacy = await createBillingTest({ start: '2026-10-10T10:00:00Z', stripe: false });
    try {
      const { t } = legacy;
      const run = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8 } });
      expect(run.status).toBe(201);
      const poolId = run.body.poolId as string;
      t.clock.set('2026-10-10T14:00:00Z'); // held 4 h
      expect((await t.call('POST', `/v1/reservations/${run.body.id}/stop`)).status).toBe(200);
      // October as the old close left it: 1 metered GPU-hour × 8 GPUs invoiced, the row without a basis.
      await transact(t.db, [
        ledgerWrite(
          t.db,
          { orgId: 'org_lumiere', usagePeriod: '2026-10', poolId, gpuSeconds: 8 * 3600, amount: 8 * 249, ratePerGpuHour: 249, closes: { '2026-10': { gpuSeconds: 8 * 3600, amount: 8 * 249, invoiceId: 'inv_legacy' } }, version: 1 },
          0,
        ),
      ]);
      // 30 more minutes of October metered after that close.
      t.clock.set('2026-11-05T09:00:00Z');
      const usage = await t.call('POST', '/v1/usage', { key: t.keys.meter, body: { events: [{ id: 'ev-legacy-1', reservationId: run.body.id, start: '2026-10-10T10:00:00Z', end: '2026-10-10T11:00:00Z', gpus: 8 }, { id: 'ev-legacy-2', reservationId: run.body.id, start: '2026-10-10T11:00:00Z', end: '2026-10-10T11:30:00Z', gpus: 8 }] } });
      expect(usage.body.accepted).toBe(2);

      t.clock.set('2026-12-01T03:00:00Z');
      const closed = await t.call('POST', '/v1/billing/close', { key: t.keys.finance, body: { period: '2026-11' } });
      expect(closed.status, JSON.stringify(closed.body)).toBe(200);
      const lines = (closed.body.invoices as { orgId: string; lines: { usagePeriod: string; amount: { amount: number }; gpuHours: string; meteredGpuHours: string | null }[] }[]).find((i) => i.orgId === 'org_lumiere')!.lines;
      // Only the late metered half hour (4 GPU-h × €2.49), not the 4 h held × 8 GPUs of October.
      expect(lines).toEqual([expect.objectContaining({ usagePeriod: '2026-10', amount: { amount: 4 * 249, currency: 'EUR' }, gpuHours: '4', meteredGpuHours: null })]);
    } finally {
      await legacy.close();
    }
  });
});
