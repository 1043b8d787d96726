/** Finance in Chromium: a credit note from the invoice page (to Stripe under our key), the monthly close previewed then run, reconciliation, revenue, receivables and the CSV with the credit note. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hoursFrom } from '../support/app.ts';
import { checkPage, freshPage, signIn, startPortal, type PortalHarness } from '../support/browser.ts';

let h: PortalHarness;
beforeAll(async () => {
  h = await startPortal({ start: '2026-10-20T10:00:00Z' });
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('finance pages', () => {
  it('credits an invoice, closes the month after a preview, reconciles it and downloads the CSV with the credit note as a negative row', async () => {
    const { t } = h;
    const quote = await t.call('POST', '/v1/quotes', { body: { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: hoursFrom(t.clock, 48), end: hoursFrom(t.clock, 60) } });
    const held = await t.call('POST', '/v1/reservations', { body: { quoteId: quote.body.id } });
    const confirmed = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`);
    expect(confirmed.status, confirmed.text).toBe(200);
    const invoiceId = confirmed.body.invoiceId as string;

    const first = await freshPage(h);
    const page = first.page;
    await signIn(page, t.keys.finance);
    await page.getByRole('link', { name: 'Invoices', exact: true }).click();
    await page.getByLabel('Period').fill('2026-10');
    await page.getByRole('button', { name: 'Show invoices' }).click();
    await page.getByRole('heading', { name: 'Invoices for 2026-10' }).waitFor();
    await checkPage(page, 'finance-invoices');
    // By org: another org's list leaves the invoice out; the org's own shows it, with period and status kept.
    await page.getByLabel('Org').selectOption('org_rheinwerk');
    await page.getByRole('button', { name: 'Show invoices' }).click();
    await page.getByRole('table', { name: /^Totals for 2026-10, Rheinwerk Labs GmbH/ }).waitFor();
    expect(await page.locator('main').textContent()).toContain('No invoices for 2026-10, Rheinwerk Labs GmbH.');
    expect(await page.getByRole('link', { name: invoiceId, exact: true }).count()).toBe(0);
    await page.getByLabel('Org').selectOption('org_lumiere');
    await page.getByLabel('Status').selectOption('open');
    await page.getByRole('button', { name: 'Show invoices' }).click();
    await page.getByRole('table', { name: /^Totals for 2026-10, Lumière AI SAS, status open/ }).waitFor();
    expect(new URL(page.url()).searchParams.get('org')).toBe('org_lumiere');
    await checkPage(page, 'finance-invoices-org');
    await page.getByRole('link', { name: invoiceId, exact: true }).click();
    await page.getByRole('heading', { name: `Reservation invoice ${invoiceId}` }).waitFor();
    await checkPage(page, 'finance-invoice');
    await page.getByLabel('Amount excluding VAT (€)').fill('10.00');
    await page.getByRole('button', { name: 'Issue credit note' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.locator('#credit-reason-error').textContent()).toContain('say why');
    await page.getByLabel('Reason').fill('Goodwill: two hours of degraded interconnect');
    await page.getByRole('button', { name: 'Issue credit note' }).click();
    await page.getByRole('status').filter({ hasText: 'was issued' }).waitFor();
    const notes = page.getByRole('table', { name: `Credit notes on ${invoiceId}` });
    expect(await notes.getByRole('row', { name: /cn_[\w-]+ .* Goodwill: two hours of degraded interconnect -€10\.00 -€2\.00 -€12\.00/ }).count()).toBe(1);
    expect(await page.getByRole('row', { name: /^Net amount €[\d,]+\.\d\d$/ }).count()).toBe(1);
    const creditNoteId = (await notes.getByRole('rowheader').first().textContent())!.trim();
    const sent = h.standIn.requests.filter((r) => r.method === 'POST' && r.path === '/v1/credit_notes' && r.status === 200);
    expect(sent.map((r) => r.idempotencyKey)).toEqual([`cn-${creditNoteId}`]);
    await checkPage(page, 'finance-invoice-credited');
    await first.context.close();

    // November: October can be closed.
    t.clock.advance(16 * 24 * 3_600_000);
    const { context, page: later } = await freshPage(h);
    await signIn(later, t.keys.finance);
    await closeAndReconcile(later, invoiceId, creditNoteId);
    await context.close();
  }, 600_000);
});

async function closeAndReconcile(page: import('playwright-core').Page, invoiceId: string, creditNoteId: string): Promise<void> {
  {
    await page.getByRole('link', { name: 'Monthly close' }).click();
    await page.getByRole('heading', { name: 'Monthly close' }).waitFor();
    expect(await page.getByLabel('Period').inputValue()).toBe('2026-10');
    await page.getByRole('button', { name: 'Preview close' }).click();
    await page.getByRole('heading', { name: 'What closing 2026-10 invoices' }).waitFor();
    await checkPage(page, 'finance-close-preview');
    await page.getByRole('button', { name: 'Close 2026-10' }).click();
    await page.getByRole('status').filter({ hasText: '2026-10 is closed' }).waitFor();

    await page.getByRole('link', { name: 'Reconciliation of 2026-10' }).click();
    await page.getByRole('heading', { name: 'Reconciliation of 2026-10' }).waitFor();
    const invoiced = page.getByRole('table', { name: 'Invoiced (excluding VAT)' });
    expect(await invoiced.getByRole('row', { name: /^Credit notes \(1\) -€10\.00$/ }).count()).toBe(1);
    expect(await page.getByRole('row', { name: /Credit notes match the policy’s refunds no/ }).count()).toBe(1);
    await checkPage(page, 'finance-reconciliation');

    await page.getByRole('link', { name: 'Revenue of 2026-10' }).click();
    await page.getByRole('heading', { name: 'Revenue of 2026-10' }).waitFor();
    expect(await page.getByRole('row', { name: /^H100 SXM 80GB at Valence–Rovaltain 96 €[\d,]+\.\d\d -€10\.00 €[\d,]+\.\d\d$/ }).count()).toBe(1);
    await checkPage(page, 'finance-revenue');

    const csv = await page.request.get('/v1/invoices/export.csv?period=2026-10');
    expect(csv.status()).toBe(200);
    const bytes = await csv.body();
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.toString('utf8');
    expect(text).toContain(`${invoiceId},org_lumiere,FR`);
    expect(text).toMatch(new RegExp(`${invoiceId},org_lumiere,FR,[^,]*,2026-10,Credit note ${creditNoteId}: Goodwill: two hours of degraded interconnect,valence-rovaltain,h100-sxm-80gb,,,-10\\.00,-2\\.00,-12\\.00,EUR,issued,`));

    await page.getByRole('link', { name: 'Receivables' }).click();
    await page.getByRole('heading', { name: 'Receivables' }).waitFor();
    await checkPage(page, 'finance-receivables');
  }
}
