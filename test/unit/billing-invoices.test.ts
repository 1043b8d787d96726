/** The pure invoice model: status order, refund allocation, usage deltas across closes, formatting, ids. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateRefund, creditNoteFor, quotedWindow, reservationInvoice, usageDelta, usageInvoice, usageInvoiceId } from '../../shared/billing/invoice-builders.ts';
import { canMoveTo, formatCents, formatGpuHours, INVOICE_STATUSES, withCredit, type InvoiceStatus } from '../../shared/domain/invoice.ts';
import { eur } from '../../shared/domain/money.ts';
import { extensionLines, onDemandCharge } from '../../shared/domain/pricing.ts';
import type { Org } from '../../shared/domain/principal.ts';

const org = (country: string, vatNumber: string | null = null): Org => ({
  id: 'org_x',
  name: 'X',
  country,
  vatNumber,
  billingEmail: 'x@x.example',
  stripeCustomerId: null,
  createdAt: '2026-01-01T00:00:00Z',
});
const now = new Date('2026-11-24T10:00:00Z');
const booking = { id: 'res_1', poolId: 'valence-rovaltain-h100', site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, window: { start: '2026-12-01T00:00:00Z', end: '2026-12-08T00:00:00Z' } };
const header = (o: Org) => ({ id: 'inv_1', org: o, kind: 'reservation' as const, period: '2026-11', now, stripeConfigured: true });

describe('status order', () => {
  it('moves only forward; paid and void are final; uncollectible may still be paid or voided', () => {
    const allowed = INVOICE_STATUSES.flatMap((from) => INVOICE_STATUSES.filter((to) => canMoveTo(from, to)).map((to) => `${from}→${to}`));
    expect(allowed.sort()).toEqual(
      [
        'draft→open',
        'draft→paid',
        'draft→void',
        'draft→uncollectible',
        'open→paid',
        'open→void',
        'open→uncollectible',
        'uncollectible→paid',
        'uncollectible→void',
      ].sort(),
    );
    for (const s of ['paid', 'void'] as InvoiceStatus[]) expect(INVOICE_STATUSES.some((to) => canMoveTo(s, to))).toBe(false);
  });
});

describe('invoices from the pricing lines', () => {
  const lines = [
    { kind: 'base' as const, description: '8 GPUs × 168 h × €2.95/GPU-h (H100 SXM 80GB · Valence–Rovaltain)', amount: eur(396_480) },
    { kind: 'duration_discount' as const, description: 'Duration discount ≥ 7 days (−5 %)', amount: eur(-19_824) },
    { kind: 'lead_time_discount' as const, description: 'Lead-time discount ≥ 30 days ahead (−3 %)', amount: eur(-11_300) },
    { kind: 'utilization' as const, description: 'Utilization adjustment: pool 72 % utilized (+11 %)', amount: eur(40_190) },
  ];

  it('the worked example of docs/pricing.md: French VAT €811.09, total €4,866.55; German reverse charge €4,055.46', () => {
    const fr = reservationInvoice(header(org('FR')), booking, lines, eur(405_546));
    expect([fr.subtotal.amount, fr.tax.amount, fr.total.amount]).toEqual([405_546, 81_109, 486_655]);
    expect(fr.lines.map((l) => l.tax.amount)).toEqual([79_296, -3_965, -2_260, 8_038]);
    expect(fr.lines[0]).toMatchObject({ gpuSeconds: 1344 * 3600, unitPrice: eur(295) });
    expect(fr.lines.slice(1).every((l) => l.gpuSeconds === null && l.unitPrice === null)).toBe(true);
    const de = reservationInvoice(header(org('DE', 'DE123456789')), booking, lines, eur(405_546));
    expect([de.tax.amount, de.total.amount, de.taxTreatment]).toEqual([0, 405_546, 'eu_reverse_charge']);
  });

  it('an extension’s window is data on its lines: the quoted window ends where it starts, its base line counts its own hours', () => {
    const ext = extensionLines([{ kind: 'base', description: '8 GPUs × 24 h', amount: eur(56_640) }], new Date('2026-12-08T00:00:00Z'), new Date('2026-12-09T00:00:00Z'));
    expect(ext[0]).toMatchObject({ window: { start: '2026-12-08T00:00:00.000Z', end: '2026-12-09T00:00:00.000Z' } });
    expect(quotedWindow([...lines, ...ext], '2026-12-01T00:00:00Z', '2026-12-09T00:00:00Z')).toEqual({ start: '2026-12-01T00:00:00Z', end: '2026-12-08T00:00:00.000Z' });
    expect(quotedWindow(lines, '2026-12-01T00:00:00Z', '2026-12-08T00:00:00Z')).toEqual({ start: '2026-12-01T00:00:00Z', end: '2026-12-08T00:00:00Z' });
    // Nothing reads the text: a line whose description names another window still counts the window it carries.
    const relabelled = ext.map((l) => ({ ...l, description: 'Extension 2030-01-01T00:00:00.000Z → 2030-02-01T00:00:00.000Z: 8 GPUs × 24 h' }));
    const inv = reservationInvoice({ ...header(org('FR')), kind: 'extension' }, booking, relabelled, eur(56_640));
    expect(inv.lines[0]!.gpuSeconds).toBe(8 * 24 * 3600);
  });

  it('refuses to invoice another amount than the quoted one', () => {
    expect(() => reservationInvoice(header(org('FR')), booking, lines, eur(405_547))).toThrow(/quoted price/);
  });
});

describe('refund allocation over a reservation’s invoices', () => {
  const invoices = fc.array(fc.integer({ min: 1, max: 10_000_000 }), { minLength: 1, maxLength: 6 }).map((subs) =>
    subs.map((s, i) => ({ id: `inv_${i}`, subtotal: eur(s), creditedSubtotal: eur(0) })),
  );

  it('parts add up to the refund exactly and never exceed an invoice', () => {
    fc.assert(
      fc.property(invoices, fc.integer({ min: 0, max: 10_000 }), (list, permille) => {
        const pool = list.reduce((s, i) => s + i.subtotal.amount, 0);
        const refund = Math.floor((pool * permille) / 10_000);
        const parts = allocateRefund(eur(refund), list);
        expect(parts.reduce((s, p) => s + p.amount.amount, 0)).toBe(refund);
        for (const p of parts) {
          expect(p.amount.amount).toBeGreaterThan(0);
          expect(p.amount.amount).toBeLessThanOrEqual(list.find((i) => i.id === p.invoiceId)!.subtotal.amount);
        }
      }),
    );
  });

  it('a full refund credits each invoice in full, VAT included to the cent', () => {
    fc.assert(
      fc.property(invoices, (list) => {
        const pool = list.reduce((s, i) => s + i.subtotal.amount, 0);
        const parts = allocateRefund(eur(pool), list);
        expect(parts.map((p) => p.amount.amount)).toEqual(list.map((i) => i.subtotal.amount));
      }),
    );
    const inv = reservationInvoice(header(org('FR')), booking, [{ kind: 'base', description: 'x', amount: eur(4776) }, { kind: 'utilization', description: 'y', amount: eur(-478) }], eur(4298));
    const note = creditNoteFor(inv, { id: 'cn_1', subtotal: eur(4298), reason: 'r', now, period: '2026-11', stripeConfigured: true });
    expect(note.total).toEqual(inv.total);
    // VAT on the subtotal once: 4 298 × 20 % = 859.6 → 860 (per line it would be 955 − 96 = 859).
    expect(note.tax.amount).toBe(860);
  });

  it('a partial credit carries its own VAT, and the rest of the invoice can be credited exactly afterwards', () => {
    const inv = reservationInvoice(header(org('FR')), booking, [{ kind: 'base', description: 'x', amount: eur(4776) }, { kind: 'utilization', description: 'y', amount: eur(-478) }], eur(4298));
    const half = creditNoteFor(inv, { id: 'cn_1', subtotal: eur(2149), reason: 'r', now, period: '2026-11', stripeConfigured: true });
    expect([half.subtotal.amount, half.tax.amount, half.total.amount]).toEqual([2149, 430, 2579]);
    const credited = withCredit(inv, half, now);
    const rest = creditNoteFor(credited, { id: 'cn_2', subtotal: eur(2149), reason: 'r', now, period: '2026-11', stripeConfigured: true });
    expect(half.total.amount + rest.total.amount).toBe(inv.total.amount);
    expect(() => creditNoteFor(withCredit(credited, rest, now), { id: 'cn_3', subtotal: eur(1), reason: 'r', now, period: '2026-11', stripeConfigured: true })).toThrow(RangeError);
  });
});

describe('usage across closes', () => {
  it('however usage is split over closes, the cents invoiced equal the charge of the total, rounded once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 500_000 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 2000 }), (arrivals, rate) => {
        let metered = 0;
        let ledger: { gpuSeconds: number; amount: number } | null = null;
        let invoiced = 0;
        for (const seconds of arrivals) {
          metered += seconds;
          const delta = usageDelta(metered, ledger, rate);
          if (!delta) continue;
          expect(delta.amount).toBeGreaterThan(0);
          invoiced += delta.amount;
          ledger = { gpuSeconds: delta.totalSeconds, amount: delta.totalAmount };
        }
        expect(invoiced).toBe(ledger?.amount ?? 0);
        // Every cent the metered total is worth has been invoiced, none twice.
        expect(onDemandCharge(metered, rate).amount - invoiced).toBe(0);
      }),
    );
  });

  it('nothing to invoice when no usage was added, or too little to make a cent', () => {
    expect(usageDelta(3600, { gpuSeconds: 3600, amount: 249 }, 249)).toBeNull();
    expect(usageDelta(3601, { gpuSeconds: 3600, amount: 249 }, 249)).toBeNull();
    expect(usageDelta(3600 + 15, { gpuSeconds: 3600, amount: 249 }, 249)).toEqual({ gpuSeconds: 15, amount: 1, totalSeconds: 3615, totalAmount: 250 });
  });

  it('a usage invoice lists the closed month first, then adjustments for earlier months', () => {
    const charge = (usagePeriod: string, amount: number) => ({
      usagePeriod,
      poolId: 'valence-rovaltain-h100',
      site: 'valence-rovaltain',
      gpuType: 'h100-sxm-80gb',
      poolLabel: 'H100 SXM 80GB · Valence–Rovaltain',
      gpuSeconds: amount * 3600 / 249,
      ratePerGpuHour: eur(249),
      amount: eur(amount),
      basis: 'metered' as const,
      meteredGpuSeconds: null,
    });
    const inv = usageInvoice({ id: 'inv_u', org: org('FR'), period: '2026-12', now, stripeConfigured: false }, [charge('2026-11', 996), charge('2026-12', 1992)]);
    expect(inv.lines.map((l) => [l.kind, l.usagePeriod])).toEqual([
      ['usage', '2026-12'],
      ['usage_adjustment', '2026-11'],
    ]);
    expect(inv).toMatchObject({ status: 'draft', stripeSync: 'not_configured', note: 'Stripe is not configured: this invoice was not sent', subtotal: eur(2988), tax: eur(598) });
    // 2 988 × 20 % = 597.6 → 598 once on the subtotal; the lines' shares: 398.4 → 398 and 199.2 → 199, the missing cent on the largest.
    expect(inv.lines.map((l) => l.tax.amount)).toEqual([399, 199]);
  });
});

describe('ids and formatting', () => {
  it('a usage invoice id is the same on every run, differs per org and period, and sorts by period', () => {
    expect(usageInvoiceId('org_a', '2026-11')).toBe(usageInvoiceId('org_a', '2026-11'));
    expect(usageInvoiceId('org_a', '2026-11')).not.toBe(usageInvoiceId('org_b', '2026-11'));
    expect(usageInvoiceId('org_a', '2026-11')).toMatch(/^inv_[0-9a-z]{26}$/);
    expect(usageInvoiceId('org_z', '2026-11') < usageInvoiceId('org_a', '2026-12')).toBe(true);
  });

  it('formats cents and GPU-hours exactly', () => {
    expect([formatCents(0), formatCents(5), formatCents(-5), formatCents(123_456), formatCents(-19_824)]).toEqual(['0.00', '0.05', '-0.05', '1234.56', '-198.24']);
    expect([formatGpuHours(0), formatGpuHours(5400), formatGpuHours(3600 * 1344), formatGpuHours(1), formatGpuHours(18)]).toEqual(['0', '1.5', '1344', '0.0003', '0.005']);
  });
});
