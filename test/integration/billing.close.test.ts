/**
 * The monthly close of on-demand, end to end: billed per second for the GPUs held from start to stop
 * (metered usage shown beside, never the billed quantity), exact charges, idempotent reruns, late
 * usage changing nothing billed, then the finance reports over the same months (reconciliation to
 * the cent, revenue by site and GPU type, receivables by age).
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
/** Lumière: 8 GPUs held 2 h 10 min in November. */
const FR_HELD = 4316;
/** Rheinwerk: 16 GPUs held 158 h in November and 33 h in December. */
const DE_NOVEMBER = 2528 * RATE;
const DE_DECEMBER = 528 * RATE;
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

    // Lumière holds 8 GPUs for 2 h 10 min and meters nothing; Rheinwerk's 16 GPUs keep running, 30 min metered.
    t.clock.set('2026-11-24T12:10:00Z');
    expect((await t.call('POST', `/v1/reservations/${state.frOnDemand}/stop`)).status).toBe(200);
    t.clock.set('2026-11-25T12:00:00Z');
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

  it('closing November bills each org the GPUs its on-demand held, per second, at the on-demand rate, metered usage beside, and sends it to Stripe', async () => {
    const { t, standIn } = b;
    t.clock.set('2026-12-02T09:00:00Z');
    const first = await close('2026-11');
    expect(first.created).toBe(2);
    expect(first.invoices.map((i) => i.orgId).sort()).toEqual(['org_lumiere', 'org_rheinwerk']);
    const fr = first.invoices.find((i) => i.orgId === 'org_lumiere')!;
    // Held 2 h 10 min with nothing metered: 8 GPUs × 7 800 s = 62 400 GPU-s × €2.49/3 600 = €43.16 exactly; VAT 20 % = €8.632 → €8.63.
    expect(FR_HELD).toBe(onDemandCharge(8 * (2 * 3600 + 10 * 60), RATE).amount);
    expect(fr.lines).toHaveLength(1);
    expect(fr.lines[0]).toMatchObject({ amount: { amount: FR_HELD }, usagePeriod: '2026-11', gpuHours: '17.3333', meteredGpuHours: '0' });
    expect(fr.lines[0]!.description).toBe('On-demand H100 SXM 80GB · Valence–Rovaltain, 2026-11: 17.3333 GPU-h held × €2.49/GPU-h (metered 0 GPU-h, 0 % of the time held)');
    expect([fr.subtotal.amount, fr.tax.amount, fr.total.amount]).toEqual([4316, 863, 5179]);
    expect(fr.status).toBe('open');
    // Still running at the month's end: 16 GPUs × 158 h (24 Nov 10:00 → 1 Dec 00:00) = 2 528 GPU-h × €2.49, although 8 GPU-h were metered.
    const de = first.invoices.find((i) => i.orgId === 'org_rheinwerk')!;
    expect(de.lines[0]).toMatchObject({ gpuHours: '2528', meteredGpuHours: '8' });
    expect([de.subtotal.amount, de.tax.amount, de.total.amount]).toEqual([DE_NOVEMBER, 0, DE_NOVEMBER]);
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

  it('usage of November reported after its close changes nothing billed: the GPUs held are', async () => {
    const { t } = b;
    await postUsage([{ reservationId: state.frOnDemand, start: '2026-11-24T11:00:00Z', end: '2026-11-24T11:30:00Z', gpus: 8 }]);
    await postUsage([{ reservationId: state.deOnDemand, start: '2026-12-01T10:00:00Z', end: '2026-12-01T11:00:00Z', gpus: 16 }]);
    // Rheinwerk stops on 2 Dec at 09:00: 33 h of December held.
    expect((await t.call('POST', `/v1/reservations/${state.deOnDemand}/stop`, { key: t.keys.customer2 })).status).toBe(200);
    const again = await close('2026-11');
    expect(again.created).toBe(0);
    const fr = await invoice(t, again.invoices.find((i) => i.orgId === 'org_lumiere')!.id);
    expect(fr.subtotal.amount).toBe(FR_HELD);
    const rec = await t.call('GET', '/v1/billing/reconciliation?period=2026-11', { key: t.keys.finance });
    expect(rec.body.usageAwaitingNextClose).toEqual({ amount: 0, currency: 'EUR' });
  });

  it('November reconciles to the cent: invoiced = priced reservations + metered usage − credit notes', async () => {
    const { t } = b;
    const rec = await t.call('GET', '/v1/billing/reconciliation?period=2026-11', { key: t.keys.finance });
    expect(rec.status).toBe(200);
    expect(rec.body).toMatchObject({
      period: '2026-11',
      pricedReservations: { amount: state.priced },
      meteredUsage: { amount: FR_HELD + DE_NOVEMBER },
      refundsByPolicy: { amount: state.refund },
      creditNotes: { count: 1, subtotal: { amount: state.refund } },
      invoiced: { amount: state.priced + FR_HELD + DE_NOVEMBER - state.refund },
      expected: { amount: state.priced + FR_HELD + DE_NOVEMBER - state.refund },
      difference: { amount: 0 },
      checks: { invoicesMatchPricedReservationsAndUsage: true, creditNotesMatchPolicyRefunds: true },
      balanced: true,
    });
    expect(rec.body.invoices.count).toBe(5);
    expect(rec.body.invoices.subtotal.amount).toBe(state.priced + FR_HELD + DE_NOVEMBER);
  });

  it('closing December bills the hours held in December, once; November’s late usage adds nothing', async () => {
    const { t, service } = b;
    t.clock.set('2027-01-03T08:00:00Z');
    const dec = await close('2026-12');
    expect(dec.created).toBe(1);
    const [de] = dec.invoices;
    expect(de!.orgId).toBe('org_rheinwerk');
    // 1 Dec 00:00 → 2 Dec 09:00 = 33 h × 16 GPUs = 528 GPU-h × €2.49 = €1 314.72; 16 GPU-h metered beside (3 %).
    expect(de!.lines.map((l) => [l.usagePeriod, l.amount.amount, l.gpuHours])).toEqual([['2026-12', DE_DECEMBER, '528']]);
    expect(de!.lines[0]!.description).toBe('On-demand H100 SXM 80GB · Valence–Rovaltain, 2026-12: 528 GPU-h held × €2.49/GPU-h (metered 16 GPU-h, 3 % of the time held)');
    expect([de!.subtotal.amount, de!.tax.amount, de!.total.amount]).toEqual([DE_DECEMBER, 0, DE_DECEMBER]);
    // Nothing more, however often it runs (the scheduled job closes the previous month the same way).
    expect((await close('2026-12')).created).toBe(0);
    expect((await service.closePreviousPeriod()).created).toBe(0);
    expect((await close('2026-11')).created).toBe(0);
    // Every second held in November invoiced exactly once: 2 h 10 min × 8 GPUs.
    const all = (await t.call('GET', '/v1/invoices?orgId=org_lumiere&limit=200', { key: t.keys.finance })).body.data as { lines: { usagePeriod: string | null; amount: { amount: number } }[] }[];
    const novemberUsage = all.flatMap((i) => i.lines).filter((l) => l.usagePeriod === '2026-11');
    expect(novemberUsage.reduce((s, l) => s + l.amount.amount, 0)).toBe(onDemandCharge(8 * 7800, RATE).amount);
  });

  it('December reconciles too', async () => {
    const { t } = b;
    const rec = await t.call('GET', '/v1/billing/reconciliation?period=2026-12', { key: t.keys.finance });
    expect(rec.body).toMatchObject({ meteredUsage: { amount: DE_DECEMBER }, pricedReservations: { amount: 0 }, usageAwaitingNextClose: { amount: 0 }, balanced: true });
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
        invoiced: { amount: state.priced + FR_HELD + DE_NOVEMBER, currency: 'EUR' },
        credited: { amount: state.refund, currency: 'EUR' },
        net: { amount: state.priced + FR_HELD + DE_NOVEMBER - state.refund, currency: 'EUR' },
      },
    ]);
    // Reserved 8 × 3 h + 8 × 2 h (extension) + 8 × 3 h, on-demand held 17.33 + 2 528 GPU-h.
    expect(res.body.rows[0].gpuHours).toBe(2609.33);
    expect(res.body.total.net.amount).toBe(state.priced + FR_HELD + DE_NOVEMBER - state.refund);
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
