/**
 * Reservation invoices through the API and the real Stripe SDK against the stand-in: exact totals for
 * each VAT case, subtotal = the quote's total, extensions, listing and paging, the CSV export, and
 * tenant isolation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_MENTION, REVERSE_CHARGE_MENTION } from '../../shared/domain/vat.ts';
import { BEING_ISSUED_NOTE } from '../../shared/billing/invoice-wire.ts';
import { getInvoice, invoiceReplace } from '../../shared/store/invoices.ts';
import { getOrg } from '../../shared/store/orgs.ts';
import { transact } from '../../shared/store/transact.ts';
import { hoursFrom } from '../support/app.ts';
import { addOrg, book, createBillingTest, invoice, parseCsv, stripeInvoicesFor, type BillingTest } from './billing.fixtures.ts';

let b: BillingTest;
beforeAll(async () => {
  b = await createBillingTest();
});
afterAll(() => b.close());

/**
 * 8 H100 GPUs × 3 h at €1.99/GPU-h, 24 h ahead, pool nearly idle (utilization factor at its floor ×0.90):
 * base 4776, utilization −478, subtotal 4298 cents.
 */
const BASE = 4776;
const UTILIZATION = -478;
const SUBTOTAL = 4298;

describe('invoice on confirm', () => {
  it('French customer: lines are the quote’s, subtotal = the quote total, VAT 20 % on the subtotal rounded once, total = subtotal + tax', async () => {
    const { t, standIn } = b;
    const r = await book(t, t.keys.customer);
    expect(r.invoiceId).toMatch(/^inv_/);
    expect(r.quote.total.amount).toBe(SUBTOTAL);
    const inv = await invoice(t, r.invoiceId!, t.keys.customer);
    expect(inv.lines.map((l: { description: string; amount: { amount: number } }) => [l.description, l.amount.amount])).toEqual(
      r.quote.lines.map((l) => [l.description, l.amount.amount]),
    );
    expect(inv.lines.map((l: { amount: { amount: number } }) => l.amount.amount)).toEqual([BASE, UTILIZATION]);
    // VAT once on the subtotal: 4298 × 20 % = 859.6 → 860 (the lines rounded one by one would give 955 − 96 = 859).
    // Each line's share: 955.2 → 955 and −95.6 → −96, the missing cent on the largest line.
    expect(inv.lines.map((l: { tax: { amount: number } }) => l.tax.amount)).toEqual([956, -96]);
    expect(inv.subtotal).toEqual({ amount: SUBTOTAL, currency: 'EUR' });
    expect(inv.tax).toEqual({ amount: 860, currency: 'EUR' });
    expect(inv.total).toEqual({ amount: 5158, currency: 'EUR' });
    expect(inv).toMatchObject({ kind: 'reservation', reservationId: r.id, period: '2026-11', taxTreatment: 'fr_vat', legalMention: null });
    expect(inv.lines[0]).toMatchObject({ site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpuHours: '24', unitPrice: { amount: 199, currency: 'EUR' } });
    // Each line carries the energy and carbon of the GPU-hours it charges: the booking's, from its reserved hours.
    const reservation = (await t.call('GET', `/v1/reservations/${r.id}`, { key: t.keys.customer })).body;
    expect(inv.lines[0].footprint).toEqual(reservation.footprint);
    expect(inv.lines[0].footprint).toMatchObject({ basis: 'reserved' });
    expect(inv.lines[0].footprint.itEnergyKwh).toBeGreaterThan(0);
    expect(inv.lines[1].footprint).toBeNull();
    // Pushed to Stripe after the commit: finalized, our amounts to the cent.
    expect(inv).toMatchObject({ status: 'open', stripeSync: 'synced', note: null });
    const [stripe, ...more] = stripeInvoicesFor(standIn!, inv.id);
    expect(more).toHaveLength(0);
    expect(stripe).toMatchObject({ id: inv.stripeInvoiceId, status: 'open', subtotal: SUBTOTAL, total: 5158 });
    expect(stripe!.lines.data.map((l) => l.taxes?.[0]?.amount)).toEqual([956, -96]);
    expect(stripe!.lines.data.map((l) => l.amount)).toEqual([BASE, UTILIZATION]);
    expect(inv.hostedInvoiceUrl).toContain(stripe!.id);
    // One Stripe customer for the org, stored on the org.
    const org = await getOrg(t.db, 'org_lumiere');
    expect(org!.stripeCustomerId).toBe(stripe!.customer);
    expect(inv.stripeCustomerId).toBe(stripe!.customer);
    const customer = standIn!.customers().find((c) => c.id === stripe!.customer)!;
    expect(customer).toMatchObject({ name: 'Lumière AI SAS', email: 'billing@lumiere-ai.example', tax_exempt: 'none', address: { country: 'FR' } });
  });

  it('a second booking of the org reuses its Stripe customer', async () => {
    const { t, standIn } = b;
    const before = standIn!.customers().length;
    const r = await book(t, t.keys.customer);
    const inv = await invoice(t, r.invoiceId!);
    expect(standIn!.customers()).toHaveLength(before);
    expect(inv.stripeCustomerId).toBe((await getOrg(t.db, 'org_lumiere'))!.stripeCustomerId);
  });

  it('German business with a VAT number: reverse charge, no VAT, the legal mention on our invoice and Stripe’s', async () => {
    const { t, standIn } = b;
    const r = await book(t, t.keys.customer2);
    const inv = await invoice(t, r.invoiceId!, t.keys.customer2);
    expect(inv).toMatchObject({ taxTreatment: 'eu_reverse_charge', legalMention: REVERSE_CHARGE_MENTION, status: 'open' });
    expect([inv.subtotal.amount, inv.tax.amount, inv.total.amount]).toEqual([SUBTOTAL, 0, SUBTOTAL]);
    const [stripe] = stripeInvoicesFor(standIn!, inv.id);
    expect(stripe).toMatchObject({ total: SUBTOTAL, footer: REVERSE_CHARGE_MENTION });
    const customer = standIn!.customers().find((c) => c.id === stripe!.customer)! as unknown as { tax_exempt: string; tax_ids: { type: string; value: string }[] };
    expect(customer.tax_exempt).toBe('reverse');
    expect(customer.tax_ids).toEqual([{ type: 'eu_vat', value: 'DE123456789' }]);
  });

  it('customer outside the EU: no VAT, the export mention', async () => {
    const { t, standIn } = b;
    const { key } = await addOrg(t, { country: 'US', name: 'Boston Robotics Inc.' });
    const r = await book(t, key);
    const inv = await invoice(t, r.invoiceId!, key);
    expect(inv).toMatchObject({ taxTreatment: 'export_none', legalMention: EXPORT_MENTION, status: 'open' });
    expect([inv.subtotal.amount, inv.tax.amount, inv.total.amount]).toEqual([SUBTOTAL, 0, SUBTOTAL]);
    const [stripe] = stripeInvoicesFor(standIn!, inv.id);
    expect(stripe).toMatchObject({ total: SUBTOTAL, footer: EXPORT_MENTION });
    expect(standIn!.customers().find((c) => c.id === stripe!.customer)).toMatchObject({ tax_exempt: 'exempt', address: { country: 'US' } });
  });

  it('EU customer without a VAT number pays French VAT', async () => {
    const { t } = b;
    const { key } = await addOrg(t, { country: 'BE', vatNumber: null });
    const r = await book(t, key);
    const inv = await invoice(t, r.invoiceId!, key);
    expect(inv).toMatchObject({ taxTreatment: 'eu_vat', legalMention: null });
    expect([inv.subtotal.amount, inv.tax.amount, inv.total.amount]).toEqual([SUBTOTAL, 860, 5158]);
  });

  it('a quote with every discount: invoice subtotal is exactly the quote total', async () => {
    const { t } = b;
    // 200 days × 16 GPUs starting 100 days ahead: duration −20 %, lead time −6 %, utilization floor.
    const r = await book(t, t.keys.customer, { startIn: 100 * 24, hours: 200 * 24, gpus: 16 });
    const inv = await invoice(t, r.invoiceId!);
    expect(inv.lines).toHaveLength(4);
    expect(inv.subtotal.amount).toBe(r.quote.total.amount);
    expect(inv.subtotal.amount).toBe(inv.lines.reduce((s: number, l: { amount: { amount: number } }) => s + l.amount.amount, 0));
    expect(inv.total.amount).toBe(inv.subtotal.amount + inv.tax.amount);
    expect(inv.tax.amount).toBe(inv.lines.reduce((s: number, l: { tax: { amount: number } }) => s + l.tax.amount, 0));
    expect(inv.lines[0].gpuHours).toBe(String(16 * 200 * 24));
  });
});

describe('extensions', () => {
  it('extending a confirmed booking invoices the extra hours on their own invoice', async () => {
    const { t, standIn } = b;
    const r = await book(t, t.keys.customer);
    const res = await t.call('POST', `/v1/reservations/${r.id}/extend`, { body: { end: new Date(Date.parse(r.end) + 2 * 3_600_000).toISOString() } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const list = await t.call('GET', `/v1/invoices?limit=200`);
    const forIt = list.body.data.filter((i: { reservationId: string }) => i.reservationId === r.id);
    expect(forIt.map((i: { kind: string }) => i.kind).sort()).toEqual(['extension', 'reservation']);
    const ext = forIt.find((i: { kind: string }) => i.kind === 'extension');
    expect(ext.subtotal).toEqual(res.body.extension.price);
    expect(ext.lines.map((l: { description: string }) => l.description)).toEqual(res.body.extension.lines.map((l: { description: string }) => l.description));
    expect(ext.lines[0].gpuHours).toBe('16');
    expect(ext.total.amount).toBe(ext.subtotal.amount + ext.tax.amount);
    expect(stripeInvoicesFor(standIn!, ext.id)).toHaveLength(1);
    // The confirmation's invoice is unchanged.
    expect((await invoice(t, r.invoiceId!)).subtotal.amount).toBe(SUBTOTAL);
  });

  it('an extension made while held is invoiced with the quote on confirm', async () => {
    const { t } = b;
    const held = await book(t, t.keys.customer, { confirm: false });
    const ext = await t.call('POST', `/v1/reservations/${held.id}/extend`, { body: { end: hoursFrom(t.clock, 24 + 5) } });
    expect(ext.status).toBe(200);
    const confirmed = await t.call('POST', `/v1/reservations/${held.id}/confirm`);
    expect(confirmed.status).toBe(200);
    const inv = await invoice(t, confirmed.body.invoiceId);
    expect(inv.subtotal).toEqual(confirmed.body.price);
    expect(inv.subtotal.amount).toBe(held.quote.total.amount + ext.body.extension.price.amount);
    const base = inv.lines.filter((l: { gpuHours: string | null }) => l.gpuHours !== null).map((l: { gpuHours: string }) => l.gpuHours);
    expect(base).toEqual(['24', '16']);
  });
});

describe('reading invoices', () => {
  it('customers see only their own org’s invoices; another org’s answers 404; other roles 403', async () => {
    const { t } = b;
    const mine = await book(t, t.keys.customer);
    const other = await t.call('GET', `/v1/invoices/${mine.invoiceId}`, { key: t.keys.customer2 });
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toContain('application/problem+json');
    const list = await t.call('GET', '/v1/invoices?limit=200', { key: t.keys.customer2 });
    expect(list.status).toBe(200);
    expect(list.body.data.every((i: { orgId: string }) => i.orgId === 'org_rheinwerk')).toBe(true);
    expect(list.body.data.some((i: { id: string }) => i.id === mine.invoiceId)).toBe(false);
    expect((await t.call('GET', '/v1/invoices?orgId=org_lumiere', { key: t.keys.customer2 })).status).toBe(404);
    expect((await t.call('GET', '/v1/invoices/export.csv?period=2026-11', { key: t.keys.customer })).status).toBe(403);
    expect((await t.call('GET', '/v1/invoices', { key: t.keys.operator })).status).toBe(403);
    expect((await t.call('GET', '/v1/invoices', { key: t.keys.meter })).status).toBe(403);
    expect((await t.call('GET', '/v1/billing/reconciliation?period=2026-11', { key: t.keys.customer })).status).toBe(403);
    expect((await t.call('POST', '/v1/billing/close', { key: t.keys.customer, body: { period: '2026-10' } })).status).toBe(403);
    expect((await t.call('GET', '/v1/invoices', { key: null })).status).toBe(401);
    expect((await t.call('GET', `/v1/invoices/${mine.invoiceId}`, { key: t.keys.finance })).body.orgId).toBe('org_lumiere');
  });

  it('finance lists every org, filters by org, period and status, and pages with a cursor without gaps or repeats', async () => {
    const { t } = b;
    const all = await t.call('GET', '/v1/invoices?limit=200', { key: t.keys.finance });
    expect(all.status).toBe(200);
    const orgs = new Set(all.body.data.map((i: { orgId: string }) => i.orgId));
    expect(orgs.has('org_lumiere') && orgs.has('org_rheinwerk')).toBe(true);
    const de = await t.call('GET', '/v1/invoices?orgId=org_rheinwerk&limit=200', { key: t.keys.finance });
    expect(de.body.data.length).toBeGreaterThan(0);
    expect(de.body.data.every((i: { orgId: string }) => i.orgId === 'org_rheinwerk')).toBe(true);
    expect((await t.call('GET', '/v1/invoices?period=2026-10', { key: t.keys.finance })).body.data).toEqual([]);
    const nov = await t.call('GET', '/v1/invoices?period=2026-11&status=open&limit=200', { key: t.keys.finance });
    expect(nov.body.data.length).toBe(all.body.data.length);
    expect((await t.call('GET', '/v1/invoices?status=paid', { key: t.keys.finance })).body.data).toEqual([]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { data: { id: string }[]; nextCursor: string | null } } = await t.call(
        'GET',
        `/v1/invoices?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        { key: t.keys.finance },
      );
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((i) => i.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.body.data.map((i: { id: string }) => i.id));
    expect(new Set(seen).size).toBe(seen.length);
    const bad = await t.call('GET', '/v1/invoices?cursor=bm90LWEtY3Vyc29y', { key: t.keys.finance });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('cursor');
    expect((await t.call('GET', '/v1/invoices?period=2026-13', { key: t.keys.finance })).status).toBe(400);
    expect((await t.call('GET', '/v1/invoices?status=sent', { key: t.keys.finance })).status).toBe(400);
  });

  it('the CSV export streams one row per invoice line, amounts exact, as an attachment', async () => {
    const { t } = b;
    const res = await t.app.request('/v1/invoices/export.csv?period=2026-11', { headers: { authorization: `Bearer ${t.keys.finance}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/csv');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="invoices-2026-11.csv"');
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.slice(0, 3)], 'UTF-8 byte-order mark, so Excel reads UTF-8').toEqual([0xef, 0xbb, 0xbf]);
    const rows = parseCsv(new TextDecoder('utf-8').decode(bytes));
    const [header, ...all_rows] = rows;
    const lines = all_rows.filter((l) => l[17] === 'invoice');
    const credits = all_rows.filter((l) => l[17] === 'credit note');
    expect(lines.length + credits.length).toBe(all_rows.length);
    for (const row of credits) {
      expect(row[5]).toMatch(/^Credit note cn_/);
      expect(Number(row[10])).toBeLessThan(0);
    }
    expect(header).toEqual([
      'Invoice ID',
      'Org',
      'Country',
      'VAT number',
      'Period',
      'Description',
      'Site',
      'GPU type',
      'GPU-hours',
      'Unit price (EUR/GPU-h)',
      'Amount (EUR)',
      'Tax (EUR)',
      'Total (EUR)',
      'Currency',
      'Status',
      'Stripe invoice ID',
      'Stripe customer ID',
      'Document',
    ]);
    const all = (await t.call('GET', '/v1/invoices?period=2026-11&limit=200', { key: t.keys.finance })).body.data as { id: string; lines: unknown[] }[];
    expect(lines).toHaveLength(all.reduce((n, i) => n + i.lines.length, 0));
    expect(new Set(lines.map((l) => l[0]))).toEqual(new Set(all.map((i) => i.id)));
    const fr = all.find((i) => lines.some((l) => l[0] === i.id && l[1] === 'org_lumiere'))!;
    const frRows = lines.filter((l) => l[0] === fr.id);
    const first = (await invoice(t, fr.id)) as { stripeInvoiceId: string; stripeCustomerId: string; lines: { description: string }[] };
    expect(frRows[0]).toEqual([
      fr.id,
      'org_lumiere',
      'FR',
      'FR32123456789',
      '2026-11',
      first.lines[0]!.description,
      'valence-rovaltain',
      'h100-sxm-80gb',
      expect.stringMatching(/^\d+$/),
      '1.99',
      expect.stringMatching(/^\d+\.\d{2}$/),
      expect.stringMatching(/^-?\d+\.\d{2}$/),
      expect.stringMatching(/^-?\d+\.\d{2}$/),
      'EUR',
      'open',
      first.stripeInvoiceId,
      first.stripeCustomerId,
      'invoice',
    ]);
    const cents = (s: string) => Math.round(Number(s.replace('.', '')));
    for (const row of [...lines, ...credits]) expect(cents(row[12]!)).toBe(cents(row[10]!) + cents(row[11]!));
    const discount = lines.find((l) => l[10] === '-4.78');
    expect(discount?.[11]).toBe('-0.96');
    expect((await t.call('GET', '/v1/invoices/export.csv?period=nope', { key: t.keys.finance })).status).toBe(400);
    const empty = parseCsv(await (await t.app.request('/v1/invoices/export.csv?period=2020-01', { headers: { authorization: `Bearer ${t.keys.finance}` } })).text());
    expect(empty).toHaveLength(1);
  });
});

describe('without Stripe', () => {
  let local: BillingTest;
  beforeAll(async () => {
    local = await createBillingTest({ stripe: false });
  });
  afterAll(() => local.close());

  it('invoices stay drafts here with a clear note; cancellation refunds become local credit notes', async () => {
    const { t, service } = local;
    expect(service.stripeConfigured).toBe(false);
    const r = await book(t, t.keys.customer, { startIn: 10 * 24 });
    const inv = await invoice(t, r.invoiceId!);
    expect(inv).toMatchObject({
      status: 'draft',
      stripeSync: 'not_configured',
      note: 'Stripe is not configured: this invoice was not sent',
      stripeInvoiceId: null,
      hostedInvoiceUrl: null,
    });
    expect([inv.subtotal.amount, inv.tax.amount, inv.total.amount]).toEqual([SUBTOTAL, 860, 5158]);
    const cancelled = await t.call('POST', `/v1/reservations/${r.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.refund.percent).toBe(100);
    const after = await invoice(t, r.invoiceId!);
    expect(after.creditNotes).toHaveLength(1);
    expect(after.creditNotes[0]).toMatchObject({
      status: 'issued',
      stripeSync: 'not_configured',
      note: 'Stripe is not configured: this credit note was not sent',
      subtotal: { amount: SUBTOTAL },
      total: { amount: 5158 },
    });
    expect(after.creditedTotal.amount).toBe(5158);
    expect(await service.syncPending()).toEqual({ synced: 0, failed: 0 });
    const hook = await t.call('POST', '/v1/stripe/webhook', { key: null, rawBody: '{}', headers: { 'stripe-signature': 't=1,v1=00' } });
    expect(hook.status).toBe(400);
  });
});

describe('an invoice whose issuing in Stripe failed (issue 15, finding 4)', () => {
  it('customers see a plain status, never the internal detail; finance sees the detail', async () => {
    const { t } = b;
    const r = await book(t, t.keys.customer, { startIn: 30 });
    const stored = (await getInvoice(t.db, 'org_lumiere', r.invoiceId!))!;
    const detail = `Stripe's invoice does not match this one: Stripe invoice in_x for ${stored.id} has subtotal ${stored.subtotal.amount + 100}, expected ${stored.subtotal.amount}`;
    await transact(t.db, [invoiceReplace(t.db, stored, { ...stored, stripeSync: 'failed', note: detail, version: stored.version + 1 })]);

    const mine = await invoice(t, stored.id, t.keys.customer);
    expect(mine).toMatchObject({ stripeSync: 'failed', note: BEING_ISSUED_NOTE });
    const listed = (await t.call('GET', '/v1/invoices?limit=200')).body.data.find((i: { id: string }) => i.id === stored.id);
    expect(listed.note).toBe(BEING_ISSUED_NOTE);
    for (const text of [JSON.stringify(mine), JSON.stringify(listed)]) expect(text).not.toMatch(/subtotal \d|expected \d|does not match|invoice in_x for/);

    expect((await invoice(t, stored.id, t.keys.finance)).note).toBe(detail);
  });
});
