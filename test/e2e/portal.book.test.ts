/** Booking by choosing in Chromium: selects, a whole-node stepper, UTC pickers, the pool's availability beside the form, every error at once. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPage, freshPage, signIn, startPortal, type PortalHarness } from '../support/browser.ts';

let h: PortalHarness;
beforeAll(async () => {
  h = await startPortal();
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('Book page', () => {
  it('books by choosing: site and GPU type selects, GPUs stepper, UTC pickers that start at the next hour, availability redrawn beside the form', async () => {
    const { context, page } = await freshPage(h);
    await signIn(page, h.t.keys.customer);
    await page.goto('/book');
    await page.getByRole('heading', { name: 'Book GPU capacity' }).waitFor();
    const site = page.getByLabel('Site', { exact: true });
    expect(await site.evaluate((el) => el.tagName)).toBe('SELECT');
    expect(await site.locator('option').allTextContents()).toContain('Grand Est (planned, opens 2027-03-01)');
    const gpus = page.getByLabel('GPUs', { exact: true });
    expect(await gpus.getAttribute('type')).toBe('number');
    expect(await gpus.getAttribute('step')).toBe('8');
    const start = page.getByLabel('Start', { exact: true });
    expect(await start.getAttribute('type')).toBe('datetime-local');
    expect(await start.getAttribute('min')).toBe('2026-11-24T11:00');
    await checkPage(page, 'book-empty');

    await page.getByRole('button', { name: 'Get quote' }).click();
    await page.getByRole('alert').waitFor();
    const alert = (await page.getByRole('alert').textContent())!;
    for (const text of ['Site: choose a site', 'GPU type: choose a GPU type', 'GPUs: enter how many GPUs', 'Start: enter a UTC date', 'End: enter a UTC date']) expect(alert).toContain(text);
    expect(await page.locator('#site-error').textContent()).toBe('Error: choose a site');
    expect(await page.locator('#start-error').textContent()).toContain('enter a UTC date');
    await checkPage(page, 'book-errors');

    await site.selectOption({ label: 'Valence–Rovaltain' });
    await page.getByLabel('GPU type', { exact: true }).selectOption('h100-sxm-80gb');
    await gpus.fill('16');
    await start.fill('2026-12-01T08:00');
    await page.getByLabel('End', { exact: true }).fill('2026-12-03T08:00');
    await page.getByRole('img', { name: /Free capacity of H100 SXM 80GB at Valence–Rovaltain per hour/ }).waitFor();
    expect(await page.locator('#book-availability').textContent()).toContain('Your window: 2026-12-01 08:00 UTC to 2026-12-03 08:00 UTC');
    await checkPage(page, 'book-availability');

    await page.getByRole('button', { name: 'Get quote' }).click();
    await page.getByRole('heading', { name: /^Quote qt_/ }).waitFor();
    const lines = page.getByRole('table', { name: 'Price lines' });
    expect(await lines.getByRole('row', { name: /VAT \(20 %\) €[\d,]+\.\d\d/ }).count()).toBe(1);
    expect(await lines.getByRole('row', { name: /Total including VAT €[\d,]+\.\d\d/ }).count()).toBe(1);
    await checkPage(page, 'book-quote');
    await page.getByRole('button', { name: 'Reserve' }).click();
    await page.getByRole('heading', { name: /^Reservation res_/ }).waitFor();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText(/^Confirmed at/).waitFor();
    await checkPage(page, 'book-confirmed');
    await context.close();
  }, 300_000);

  it('names a planned site’s opening date and a step that is not a whole node, both at once, next to their fields', async () => {
    const { context, page } = await freshPage(h);
    await signIn(page, h.t.keys.customer);
    await page.goto('/book?site=grand-est&gpuType=h200-sxm-141gb&gpus=12&start=2026-12-01T08:00&end=2026-12-02T08:00');
    expect(await page.locator('#book-availability').textContent()).toContain('Grand Est opens 2027-03-01');
    await page.getByRole('button', { name: 'Get quote' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.locator('#gpus-error').textContent()).toContain('must be a multiple of 8');
    expect(await page.locator('#start-error').textContent()).toContain('Grand Est opens 2027-03-01');
    await context.close();
  }, 300_000);

  // A day the first test's booking (2026-12-01 08:00 to 2026-12-03 08:00) leaves wholly free.
  it('books by choosing from the heat map: a day of a pool, then an hour of that day, then Get quote', async () => {
    const { context, page } = await freshPage(h);
    await signIn(page, h.t.keys.customer);
    await page.goto('/sites');
    await page.getByRole('heading', { name: 'Availability in 2026-11' }).waitFor();
    const heat = page.getByRole('table', { name: 'Free GPUs per pool and day, 2026-11 (UTC)' });
    expect(await heat.getByRole('rowheader').count()).toBe(8);
    expect(await heat.getByLabel('2026-11-30: Grand Est', { exact: false }).count()).toBe(0);
    expect(await heat.locator('[aria-label="2026-11-30: H200 SXM 141GB at Grand Est not bookable"]').count()).toBe(1);
    await checkPage(page, 'sites-heatmap');
    await page.getByRole('link', { name: 'Next month (2026-12)' }).click();
    await page.getByRole('heading', { name: 'Availability in 2026-12' }).waitFor();
    await page.getByRole('link', { name: '2026-12-05: 1,024 of 1,024 GPUs of H100 SXM 80GB at Valence–Rovaltain free all day' }).click();
    await page.getByRole('heading', { name: 'H100 SXM 80GB at Valence–Rovaltain on 2026-12-05' }).waitFor();
    expect(await page.getByRole('table', { name: 'Hours of 2026-12-05' }).getByRole('row').count()).toBe(25);
    await checkPage(page, 'sites-day');
    await page.getByRole('link', { name: 'Book from 08:00' }).click();
    await page.getByRole('heading', { name: 'Book GPU capacity' }).waitFor();
    expect(await page.getByLabel('Site', { exact: true }).inputValue()).toBe('valence-rovaltain');
    expect(await page.getByLabel('Start', { exact: true }).inputValue()).toBe('2026-12-05T08:00');
    expect(await page.getByLabel('End', { exact: true }).inputValue()).toBe('2026-12-06T08:00');
    await page.getByLabel('GPUs', { exact: true }).fill('16');
    await page.getByRole('button', { name: 'Get quote' }).click();
    await page.getByRole('heading', { name: /^Quote qt_/ }).waitFor();
    await context.close();
  }, 300_000);
});
