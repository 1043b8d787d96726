/** Reservation and invoice pages in Chromium: detail, extend and cancel through their previews, on-demand start and stop, HTML 404s. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hoursFrom } from '../support/app.ts';
import { checkPage, freshPage, signIn, startPortal, type PortalHarness } from '../support/browser.ts';

let h: PortalHarness;
beforeAll(async () => {
  h = await startPortal();
}, 120_000);
afterAll(async () => {
  await h?.close();
});

async function bookConfirmed(startIn: number, hours: number): Promise<{ id: string; end: string }> {
  const { t } = h;
  const quote = await t.call('POST', '/v1/quotes', { body: { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 16, start: hoursFrom(t.clock, startIn), end: hoursFrom(t.clock, startIn + hours) } });
  expect(quote.status, quote.text).toBe(201);
  const held = await t.call('POST', '/v1/reservations', { body: { quoteId: quote.body.id } });
  expect(held.status, held.text).toBe(201);
  const confirmed = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`);
  expect(confirmed.status, confirmed.text).toBe(200);
  return { id: held.body.id, end: confirmed.body.end };
}

describe('reservation and invoice pages', () => {
  it('shows a reservation, previews and confirms an extension, previews and confirms a cancellation, and its invoices with the credit note', async () => {
    const { id, end } = await bookConfirmed(72, 24);
    const { context, page } = await freshPage(h);
    await signIn(page, h.t.keys.customer);
    await page.goto('/reservations');
    await page.getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Reservation ${id}` }).waitFor();
    const timeline = (await page.getByRole('list').filter({ hasText: 'Confirmed at' }).textContent())!;
    expect(timeline).toMatch(/Held: 16 GPUs[\s\S]*Confirmed at €[\d,]+\.\d\d excluding VAT[\s\S]*Invoice inv_/);
    expect(await page.getByRole('table', { name: `Invoices and credit notes of ${id}` }).getByRole('link', { name: /^Invoice inv_/ }).count()).toBe(1);
    await checkPage(page, 'reservation-confirmed');

    const newEnd = new Date(Date.parse(end) + 6 * 3_600_000).toISOString().slice(0, 16);
    await page.getByLabel('New end').fill(newEnd);
    await page.getByRole('button', { name: 'Preview extension' }).click();
    await page.getByRole('heading', { name: 'Price of the extension' }).waitFor();
    const lines = page.getByRole('table', { name: 'Extension price lines' });
    expect(await lines.getByRole('row', { name: /^VAT \(20 %\) €[\d,]+\.\d\d$/ }).count()).toBe(1);
    expect(await lines.getByRole('row', { name: /^Total including VAT €[\d,]+\.\d\d$/ }).count()).toBe(1);
    expect(await page.locator('.preview').textContent()).toContain('(96 GPU-hours)');
    const before = await h.t.call('GET', `/v1/reservations/${id}`);
    expect(before.body.end).toBe(end);
    await checkPage(page, 'reservation-extend-preview');
    await page.getByRole('button', { name: 'Confirm extension' }).click();
    await page.getByRole('status').filter({ hasText: 'now ends' }).waitFor();
    expect(await page.getByRole('table', { name: `Invoices and credit notes of ${id}` }).getByRole('link', { name: /^Extension invoice inv_/ }).count()).toBe(1);
    expect(Date.parse((await h.t.call("GET", `/v1/reservations/${id}`)).body.end)).toBe(Date.parse(`${newEnd}:00Z`));

    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('heading', { name: 'What cancelling now refunds' }).waitFor();
    const facts = (await page.locator('dl.facts').textContent())!;
    expect(facts).toMatch(/Refund€[\d,]+\.\d\d excluding VAT \(50 %\)/);
    expect(facts).toContain('50 % refund: cancelled at least 48 hours (but less than 7 days) before the start');
    expect((await h.t.call('GET', `/v1/reservations/${id}`)).body.status).toBe('confirmed');
    await checkPage(page, 'reservation-cancel-preview');
    await page.getByRole('button', { name: 'Confirm cancellation' }).click();
    await page.getByRole('status').filter({ hasText: 'is cancelled' }).waitFor();
    expect(await page.getByRole('table', { name: `Invoices and credit notes of ${id}` }).getByRole('row', { name: /Credit note cn_/ }).count()).toBeGreaterThan(0);
    await checkPage(page, 'reservation-cancelled');

    await page.getByRole('table', { name: `Invoices and credit notes of ${id}` }).getByRole('link', { name: /^Invoice inv_/ }).click();
    await page.getByRole('heading', { name: /^Reservation invoice inv_/ }).waitFor();
    expect(await page.getByRole('row', { name: /^VAT \(20 % of the subtotal\) €[\d,]+\.\d\d$/ }).count()).toBe(1);
    expect(await page.getByRole('row', { name: /^Net amount €[\d,]+\.\d\d$/ }).count()).toBe(1);
    expect(await page.getByRole('table', { name: /^Credit notes on inv_/ }).getByRole('row', { name: /cn_/ }).count()).toBe(1);
    expect(await page.getByText(/Stripe is not configured|stand-in|sk_test/).count()).toBe(0);
    await checkPage(page, 'invoice');
    await context.close();
  }, 400_000);

  it('starts on demand with the hourly rate shown, then stops it from its page', async () => {
    const { context, page } = await freshPage(h);
    await signIn(page, h.t.keys.customer);
    await page.goto('/reservations');
    await page.getByRole('link', { name: 'Start on demand' }).click();
    await page.getByRole('heading', { name: 'Start on demand' }).waitFor();
    expect(await page.getByRole('table', { name: 'On-demand rates (excluding VAT)' }).getByRole('row', { name: /H100 SXM 80GB at Valence–Rovaltain €2\.49/ }).count()).toBe(1);
    await checkPage(page, 'on-demand');
    await page.getByLabel('Pool').selectOption({ label: 'H100 SXM 80GB at Valence–Rovaltain — €2.49 per GPU-hour' });
    await page.getByLabel('GPUs').fill('8');
    await page.getByRole('button', { name: 'Start on demand' }).click();
    await page.getByRole('status').filter({ hasText: 'is running' }).waitFor();
    expect(await page.locator('dl.facts').textContent()).toContain('€2.49 per GPU-hour (€19.92 per hour for 8 GPUs)');
    await checkPage(page, 'reservation-on-demand');
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByRole('status').filter({ hasText: 'is stopped' }).waitFor();
    expect(await page.locator('dl.facts').textContent()).toContain('stopped');
    await context.close();
  }, 300_000);

  it('answers HTML 404 pages to a browser, never raw JSON', async () => {
    const { context, page } = await freshPage(h);
    await signIn(page, h.t.keys.customer);
    const missing = await page.goto('/reservations/res_does_not_exist');
    expect(missing?.status()).toBe(404);
    expect(missing?.headers()['content-type']).toContain('text/html');
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    await checkPage(page, 'not-found-reservation');
    const nowhere = await page.goto('/no-such-page');
    expect(nowhere?.status()).toBe(404);
    expect(nowhere?.headers()['content-type']).toContain('text/html');
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    await checkPage(page, 'not-found');
    const invoice = await page.goto('/invoices/inv_nope');
    expect(invoice?.status()).toBe(404);
    const api = await h.t.call('GET', '/v1/nothing-here');
    expect(api.headers.get('content-type')).toContain('application/problem+json');
    await context.close();
  }, 300_000);
});
