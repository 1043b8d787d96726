/**
 * The monthly close of on-demand usage, end to end: exact charges, idempotent reruns, late usage
 * billed once as an adjustment on the next close, then the finance reports over the same months
 * (reconciliation to the cent, revenue by site and GPU type, receivables by age).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onDemandCharge } from '../../shared/domain/pricing.ts';
import { book, createBillingTest, H100, invoice, stripeEvent, postStripeEvent, stripeInvoicesFor, VALENCE, type BillingTest } from './billing.fixtures.ts';

let b: BillingTest;
beforeAll(async () => {
  b = await createBillingTest({ start: '2026-11-24T10:00:00Z' });
});
afterAll(() => b.close());

/** €2.49 per GPU-hour (H100 on demand). */
const RATE = 249;
let eventCounter = 0;

async function postUsage(events: { reservationId: string; start: string; end: string; gpus: number }[]) {
  const res = await b.t.call('POST', '/v1/usage', { key: b.t.keys.meter, body: { events: events.map((e) => ({ id: `ev-close-${++eventCounter}`, ...e })) } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.accepted, JSON.stringify(res.body)).toBe(events.length);
}

async function close(period: string) {
  const res = await b.t.call('POST', '/v1/billing/close', { key: b.t.keys.finance, body: { period } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { period: string; created: number; invoices: { id: string; orgId: string; lines: { kind?: string; description: string; amount: { amount: number }; usagePeriod: string | null; gpuHours: string }[]; subtotal: { amount: number }; tax: { amount: number }; total: { amount: number }; status: string }[] };
}

const state = {
  frOnDemand: '',
  deOnDemand: '',
  priced: 0,
  refund: 0,
  novemberInvoices: [] as string[],
};

describe('monthly close', () => {
  it('November: reserved bookings, a cancellation and on-demand usage happen', async () => {
    const { t } = b;
    const fr = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: VALENCE, gpuType: H100, gpus: 8 } });
    const de = await t.call('POST', '/v1/reservations', { key: t.keys.customer2, body: { kind: 'on_demand', site: VALENCE, gpuType: H100, gpus: 16 } });
    expect([fr.status, de.status]).toEqual([201, 201]);
    state.frOnDemand = fr.body.id;
    state.deOnDemand = de.body.id;
    const kept = await book(t, t.keys.customer, { startIn: 10 * 24 });
    const extended = await t.call('POST', `/v1/reservations/${kept.id}/extend`, { body: { end: new Date(Date.parse(kept.end) + 2 * 3_600_000).toISOString() } });
    expect(extended.status).toBe(200);
    const cancelledLater = await book(t, t.keys.customer2, { startIn: 72 });
    const cancelled = await t.call('POST', `/v1/reservations/${cancelledLater.id}/cancel`, { key: t.keys.customer2 });
    expect(cancelled.body.refund.percent).toBe(50);
    state.priced = kept.price.amount + extended.body.extension.price.amount + cancelledLater.price.amount;
    state.refund = cancelled.body.refund.amount.amount;

    t.clock.set('2026-11-25T12:00:00Z');
    await postUsage([{ reservationId: state.frOnDemand, start: '2026-11-24T10:00:00Z', end: '2026-11-24T11:00:00Z', gpus: 8 }]);
    await postUsage([{ reservationId: state.deOnDemand, start: '2026-11-24T10:00:00Z', end: '2026-11-24T10:30:00Z', gpus: 16 }]);
  });

  it('refuses a month that is not over, and a malformed period', async () => {
    const { t } = b;
    const current = await t.call('POST', '/v1/billing/close', { key: t.keys.finance, body: { period: '2026-11' } });
    expect(current.status).toBe(422);
    expect(current.body.errors[0].path).toBe('period');
    expect((await t.call('POST', '/v1/billing/close', { key: t.keys.finance, body: { period: '2026-13' } })).status).toBe(400);
    expect((await t.call('POST', '/v1/billing/close', { key: t.keys.finance, body: {} })).status).toBe(400);
  });

  it('closing November invoices each org’s usage per pool at the on-demand rate, exact to the cent, and sends it to Stripe', async () => {
    const { t, standIn } = b;
    t.clock.set('2026-12-02T09:00:00Z');
    const first = await close('2026-11');
    expect(first.created).toBe(2);
    expect(first.invoices.map((i) => i.orgId).sort()).toEqual(['org_lumiere', 'org_rheinwerk']);
    const fr = first.invoices.find((i) => i.orgId === 'org_lumiere')!;
    // 8 GPUs × 1 h = 8 GPU-h × €2.49 = €19.92; VAT 20 % = €3.984 → €3.98.
    expect(fr.lines).toHaveLength(1);
    expect(fr.lines[0]).toMatchObject({ amount: { amount: 1992 }, usagePeriod: '2026-11', gpuHours: '8' });
    expect(fr.lines[0]!.description).toBe('On-demand H100 SXM 80GB · Valence–Rovaltain, 2026-11: 8 GPU-h × €2.49/GPU-h');
    expect([fr.subtotal.amount, fr.tax.amount, fr.total.amount]).toEqual([1992, 398, 2390]);
    expect(fr.status).toBe('open');
    const de = first.invoices.find((i) => i.orgId === 'org_rheinwerk')!;
    expect([de.subtotal.amount, de.tax.amount, de.total.amount]).toEqual([1992, 0, 1992]);
    for (const i of first.invoices) expect(stripeInvoicesFor(standIn!, i.id)).toHaveLength(1);
    state.novemberInvoices = first.invoices.map((i) => i.id).sort();
  });

  it('closing November again creates nothing and returns the same invoices', async () => {
    const { t, standIn } = b;
    const stripeInvoices = standIn!.invoices().length;
    const posts = standIn!.requests.filter((r) => r.method === 'POST').length;
    const again = await close('2026-11');
    expect(again.created).toBe(0);
    expect(again.invoices.map((i) => i.id).sort()).toEqual(state.novemberInvoices);
    expect(standIn!.invoices()).toHaveLength(stripeInvoices);
    expect(standIn!.requests.filter((r) => r.method === 'POST').length).toBe(posts);
    const concurrent = await Promise.all([close('2026-11'), close('2026-11')]);
    for (const c of concurrent) expect(c.invoices.map((i) => i.id).sort()).toEqual(state.novemberInvoices);
    const list = await t.call('GET', '/v1/invoices?period=2026-11&limit=200', { key: t.keys.finance });
    expect(list.body.data.filter((i: { kind: string }) => i.kind === 'usage')).toHaveLength(2);
  });

  it('usage of November reported after its close is not on November’s invoice: it waits for the next close', async () => {
    const { t } = b;
    await postUsage([{ reservationId: state.frOnDemand, start: '2026-11-30T12:00:00Z', end: '2026-11-30T12:30:00Z', gpus: 8 }]);
    await postUsage([{ reservationId: state.frOnDemand, start: '2026-12-01T10:00:00Z', end: '2026-12-01T11:00:00Z', gpus: 8 }]);
    const again = await close('2026-11');
    expect(again.created).toBe(0);
    const fr = await invoice(t, again.invoices.find((i) => i.orgId === 'org_lumiere')!.id);
    expect(fr.subtotal.amount).toBe(1992);
    const rec = await t.call('GET', '/v1/billing/reconciliation?period=2026-11', { key: t.keys.finance });
    // 8 GPUs × 30 min = 4 GPU-h × €2.49 = €9.96, metered but not yet invoiced.
    expect(rec.body.usageAwaitingNextClose).toEqual({ amount: 996, currency: 'EUR' });
  });

  it('November reconciles to the cent: invoiced = priced reservations + metered usage − credit notes', async () => {
    const { t } = b;
    const rec = await t.call('GET', '/v1/billing/reconciliation?period=2026-11', { key: t.keys.finance });
    expect(rec.status).toBe(200);
    expect(rec.body).toMatchObject({
      period: '2026-11',
      pricedReservations: { amount: state.priced },
      meteredUsage: { amount: 1992 + 1992 },
      refundsByPolicy: { amount: state.refund },
      creditNotes: { count: 1, subtotal: { amount: state.refund } },
      invoiced: { amount: state.priced + 3984 - state.refund },
      expected: { amount: state.priced + 3984 - state.refund },
      difference: { amount: 0 },
      checks: { invoicesMatchPricedReservationsAndUsage: true, creditNotesMatchPolicyRefunds: true },
      balanced: true,
    });
    expect(rec.body.invoices.count).toBe(5);
    expect(rec.body.invoices.subtotal.amount).toBe(state.priced + 3984);
  });

  it('closing December bills December’s usage and November’s late usage once, as an adjustment line', async () => {
    const { t, service } = b;
    t.clock.set('2027-01-03T08:00:00Z');
    const dec = await close('2026-12');
    expect(dec.created).toBe(1);
    const [fr] = dec.invoices;
    expect(fr!.orgId).toBe('org_lumiere');
    expect(fr!.lines.map((l) => [l.usagePeriod, l.amount.amount, l.gpuHours])).toEqual([
      ['2026-12', 1992, '8'],
      ['2026-11', 996, '4'],
    ]);
    expect(fr!.lines[1]!.description).toBe(
      'Adjustment: on-demand usage of 2026-11 reported after it was invoiced, H100 SXM 80GB · Valence–Rovaltain: 4 GPU-h × €2.49/GPU-h',
    );
    // VAT once on the subtotal: 2988 × 20 % = 597.6 → 598 (not 398 + 199 line by line).
    expect([fr!.subtotal.amount, fr!.tax.amount, fr!.total.amount]).toEqual([2988, 598, 2988 + 598]);
    // Nothing more, however often it runs (the scheduled job closes the previous month the same way).
    expect((await close('2026-12')).created).toBe(0);
    expect((await service.closePreviousPeriod()).created).toBe(0);
    expect((await close('2026-11')).created).toBe(0);
    // Every GPU-second of November invoiced exactly once: 1 h + 30 min × 8 GPUs.
    const all = (await t.call('GET', '/v1/invoices?orgId=org_lumiere&limit=200', { key: t.keys.finance })).body.data as { lines: { usagePeriod: string | null; amount: { amount: number } }[] }[];
    const novemberUsage = all.flatMap((i) => i.lines).filter((l) => l.usagePeriod === '2026-11');
    expect(novemberUsage.reduce((s, l) => s + l.amount.amount, 0)).toBe(onDemandCharge(8 * 5400, RATE).amount);
  });

  it('December reconciles too, the late usage counted in December’s metered usage', async () => {
    const { t } = b;
    const rec = await t.call('GET', '/v1/billing/reconciliation?period=2026-12', { key: t.keys.finance });
    expect(rec.body).toMatchObject({ meteredUsage: { amount: 2988 }, pricedReservations: { amount: 0 }, usageAwaitingNextClose: { amount: 0 }, balanced: true });
    const nov = await t.call('GET', '/v1/billing/reconciliation?period=2026-11', { key: t.keys.finance });
    expect(nov.body).toMatchObject({ usageAwaitingNextClose: { amount: 0 }, balanced: true });
  });

  it('revenue by site and GPU type, net of credit notes, excluding VAT', async () => {
    const { t } = b;
    const res = await t.call('GET', '/v1/billing/revenue?period=2026-11', { key: t.keys.finance });
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([
      {
        site: VALENCE,
        gpuType: H100,
        gpuHours: expect.any(Number),
        invoiced: { amount: state.priced + 3984, currency: 'EUR' },
        credited: { amount: state.refund, currency: 'EUR' },
        net: { amount: state.priced + 3984 - state.refund, currency: 'EUR' },
      },
    ]);
    // Reserved 8 × 3 h + 8 × 2 h (extension) + 8 × 3 h, on-demand 8 + 8 GPU-h.
    expect(res.body.rows[0].gpuHours).toBe(24 + 16 + 24 + 16);
    expect(res.body.total.net.amount).toBe(state.priced + 3984 - state.refund);
  });

  it('receivables: open invoices by age; a paid one leaves them', async () => {
    const { t, standIn } = b;
    const res = await t.call('GET', '/v1/billing/receivables', { key: t.keys.finance });
    expect(res.status).toBe(200);
    const open = (await t.call('GET', '/v1/invoices?status=open&limit=200', { key: t.keys.finance })).body.data as { id: string; total: { amount: number }; creditedTotal: { amount: number } }[];
    const outstanding = open.map((i) => i.total.amount - i.creditedTotal.amount).filter((a) => a > 0);
    expect(res.body.invoices).toHaveLength(outstanding.length);
    expect(res.body.total.amount).toBe(outstanding.reduce((s, a) => s + a, 0));
    const byBucket = Object.fromEntries(res.body.buckets.map((x: { bucket: string; count: number }) => [x.bucket, x.count]));
    // Finalized on 24 Nov (40 days ago) and 2 Dec (32 days): 31-60; January's: 0-30.
    expect(byBucket).toEqual({ '0-30': 1, '31-60': outstanding.length - 1, '61-90': 0, '>90': 0 });
    const december = res.body.invoices.find((i: { period: string }) => i.period === '2026-12');
    expect(december.bucket).toBe('0-30');
    // The customer pays it: Stripe says so, it leaves the receivables.
    const stripe = stripeInvoicesFor(standIn!, december.invoiceId)[0]!;
    const paid = standIn!.markPaid(stripe.id);
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.paid', paid))).status).toBe(200);
    const after = await t.call('GET', '/v1/billing/receivables', { key: t.keys.finance });
    expect(after.body.invoices.map((i: { invoiceId: string }) => i.invoiceId)).not.toContain(december.invoiceId);
    // On 1 March: November's reservation invoices (24 Nov) are 97 days old, November's usage invoices (2 Dec) 89.
    t.clock.set('2027-03-01T08:00:00Z');
    const later = await t.call('GET', '/v1/billing/receivables', { key: t.keys.finance });
    expect(Object.fromEntries(later.body.buckets.map((x: { bucket: string; count: number }) => [x.bucket, x.count]))).toEqual({ '0-30': 0, '31-60': 0, '61-90': 2, '>90': 3 });
  });
});
