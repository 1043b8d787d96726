/**
 * Resale in the portal, in Chromium: "Sell unused hours" on a reservation previews the expected
 * earnings before anything is listed, the listing appears on the Listings page with its sale once
 * another org's booking takes the hours, the rest is withdrawn, and Market prices shows the pool's
 * price history; axe and a screenshot on each page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hoursFrom } from '../support/app.ts';
import { checkPage, freshPage, signIn, startPortal, type PortalHarness } from '../support/browser.ts';
import { addCustomerOrgs } from '../support/invariants.ts';

let h: PortalHarness;
beforeAll(async () => {
  h = await startPortal();
}, 120_000);
afterAll(async () => {
  await h?.close();
});

const POOL = { site: 'marseille', gpuType: 'b200-sxm-192gb' };
async function book(key: string, gpus: number, from: number, hours: number) {
  const { t } = h;
  const q = await t.call('POST', '/v1/quotes', { key, body: { ...POOL, gpus, start: hoursFrom(t.clock, from), end: hoursFrom(t.clock, from + hours) } });
  expect(q.status, q.text).toBe(201);
  const held = await t.call('POST', '/v1/reservations', { key, body: { quoteId: q.body.id } });
  expect(held.status, held.text).toBe(201);
  const confirmed = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`, { key });
  expect(confirmed.status, confirmed.text).toBe(200);
  return confirmed.body as { id: string; start: string; price: { amount: number } };
}

describe('resale pages', () => {
  it('sells unused hours through a preview, shows the sale on Listings, and withdraws the rest', async () => {
    const S = 24 * 12;
    const seller = await book(h.t.keys.customer, 64, S, 48);
    await book(h.t.keys.customer2, 64, S, 48); // the pool is full: only listed hours are bookable
    const { context, page } = await freshPage(h);
    await signIn(page, h.t.keys.customer);
    await page.goto(`/reservations/${seller.id}`);
    await page.getByRole('button', { name: 'Sell unused hours' }).click();
    await page.getByRole('heading', { name: 'Sell unused hours' }).waitFor();
    await checkPage(page, 'resale-sell-form');

    // Nothing listed yet; the form says what is wrong, all at once.
    await page.getByLabel('GPUs').fill('0');
    await page.getByLabel(/Minimum price/).fill('abc');
    await page.getByRole('button', { name: 'Preview earnings' }).click();
    const alert = (await page.getByRole('alert').textContent())!;
    expect(alert).toContain('GPUs: a whole number from 1 to 64');
    expect(alert).toContain('Minimum price: an amount in euros');

    const from = hoursFrom(h.t.clock, S + 12).slice(0, 16);
    const to = hoursFrom(h.t.clock, S + 36).slice(0, 16);
    await page.getByLabel('From (UTC)').fill(from);
    await page.getByLabel('To (UTC)').fill(to);
    await page.getByLabel('GPUs').fill('32');
    await page.getByLabel(/Minimum price/).fill('3.50');
    await page.getByRole('button', { name: 'Preview earnings' }).click();
    await page.getByRole('heading', { name: 'Expected earnings' }).waitFor();
    // 32 GPUs × 24 h = 768 GPU-hours at €3.50 = €2,688.00; fee 10 % = €268.80; earnings €2,419.20.
    const preview = (await page.locator('section[aria-labelledby="preview-heading"] dl').textContent())!;
    expect(preview).toContain('768');
    expect(preview).toContain('€2,688.00');
    expect(preview).toContain('€268.80');
    expect(preview).toContain('€2,419.20');
    expect((await h.t.call('GET', '/v1/listings')).body.data).toHaveLength(0);
    await checkPage(page, 'resale-sell-preview');

    await page.getByRole('button', { name: 'List these hours' }).click();
    await page.getByRole('heading', { name: 'Listings' }).waitFor();
    expect(await page.getByRole('status').textContent()).toMatch(/Listed: lst_/);
    const listed = (await h.t.call('GET', '/v1/listings')).body.data as { id: string; gpus: number; minPricePerGpuHour: { amount: number } | number | null }[];
    expect(listed).toHaveLength(1);
    expect(listed[0]!.gpus).toBe(32);
    const listingId = listed[0]!.id;

    // Another org books 16 GPUs for 12 of the listed hours at its quoted price (≥ the minimum).
    const [buyer] = await addCustomerOrgs(h.t.db, 1, h.t.clock());
    const bought = await book(buyer!.key, 16, S + 12, 12);
    expect(bought.price.amount).toBeGreaterThanOrEqual(350 * 16 * 12);
    await page.reload();
    const row = page.getByRole('row').filter({ hasText: listingId });
    expect(await row.textContent()).toContain('192'); // sold GPU-hours
    const fee = Math.floor((bought.price.amount * 1000 + 5000) / 10000);
    const earnings = (bought.price.amount - fee) / 100;
    expect(await row.textContent()).toContain(`your earnings €${earnings.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`);
    await checkPage(page, 'resale-listings');

    await page.getByRole('button', { name: `Withdraw ${listingId}` }).click();
    expect(await page.getByRole('status').textContent()).toContain(`Withdrawn: ${listingId}`);
    expect((await h.t.call('GET', `/v1/listings/${listingId}`)).body.status).toBe('withdrawn');

    await context.close();
  }, 180_000);

  it('charts a pool’s market prices with a table of the same figures', async () => {
    const { context, page } = await freshPage(h);
    await signIn(page, h.t.keys.customer);
    await page.getByRole('link', { name: 'Market prices' }).click();
    await page.getByLabel('Pool').selectOption('marseille-b200');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('img', { name: /Price per GPU-hour/ }).waitFor();
    const today = h.t.clock().toISOString().slice(0, 10);
    const todayRow = (await page.getByRole('row').filter({ hasText: today }).textContent())!;
    expect(todayRow).toMatch(/€[\d,]+\.\d\d \/ €/); // the bookings confirmed today (first test): booked prices shown
    await checkPage(page, 'market-prices');
    await context.close();
  }, 180_000);
});
