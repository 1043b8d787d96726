/**
 * The Budget page in Chromium (/usr/bin/chromium, driven by playwright-core), found by labels and
 * accessible names: an admin sets the budget, spend shows in the figures and the chart, a reached
 * threshold puts a banner on every page, bad input is named, and a member only reads.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPortalModule } from '../../shared/portal/module.tsx';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let t: TestContext;
let server: ServerType;
let base: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM} (apt-get install -y chromium); this test never downloads a browser.`);
  t = await createTestContext({ start: '2026-11-10T10:00:00Z', modules: [createPortalModule()] });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      base = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await t?.close();
});

async function signedInPage(key: string): Promise<Page> {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto('/');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

/** The text of the figure whose term is `term` in the figures list. */
const figure = (page: Page, term: string) => page.locator('dl.facts dt', { hasText: new RegExp(`^${term}$`) }).locator('xpath=following-sibling::dd[1]').textContent();

describe('Budget page in Chromium', () => {
  it('lets an admin set the budget, shows spend by day and a banner once a threshold is reached; a member only reads', async () => {
    const page = await signedInPage(t.keys.customer);
    await page.getByRole('link', { name: 'Budget' }).click();
    await page.getByRole('heading', { name: 'Budget', level: 1 }).waitFor();
    expect(await page.getByText('Your org has no budget yet').count()).toBe(1);

    // Bad input is named, nothing is saved.
    await page.getByLabel('Monthly limit (EUR)').fill('-5');
    await page.getByLabel('Alert thresholds (%)').fill('80, 50');
    await page.getByRole('button', { name: 'Save budget' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('Monthly limit (EUR)');
    expect(await alert.textContent()).toContain('Alert thresholds (%)');
    expect((await t.call('GET', '/v1/budget')).status).toBe(404);

    // A quote's price decides the limit: one confirmed booking is 50 % of it.
    const quote = await t.call('POST', '/v1/quotes', { body: { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: hoursFrom(t.clock, 24), end: hoursFrom(t.clock, 27) } });
    const price = quote.body.total.amount as number;
    await page.getByLabel('Monthly limit (EUR)').fill(((2 * price) / 100).toFixed(2));
    await page.getByLabel('Alert thresholds (%)').fill('50, 100');
    await page.getByLabel('Refuse bookings over the limit').check();
    await page.getByRole('button', { name: 'Save budget' }).click();
    await page.getByRole('status').filter({ hasText: 'Budget saved.' }).waitFor();
    const api = (await t.call('GET', '/v1/budget')).body;
    expect(api).toMatchObject({ monthlyLimit: { amount: 2 * price }, alertThresholdsPct: [50, 100], enforce: true, stopOnDemandAtLimit: false });
    expect(await page.locator('.banner').count()).toBe(0);

    const held = await t.call('POST', '/v1/reservations', { body: { quoteId: quote.body.id } });
    expect((await t.call('POST', `/v1/reservations/${held.body.id}/confirm`)).status).toBe(200);
    await page.reload();
    expect(await figure(page, 'Spent')).toBe(formatEuros(price));
    expect(await figure(page, 'Remaining')).toBe(formatEuros(price));
    const chart = page.getByRole('img', { name: 'Month-to-date spend, 2026-11, by day' });
    expect(await chart.count()).toBe(1);
    await page.getByText('Month-to-date spend, 2026-11, by day: table').click();
    expect(await page.getByRole('row', { name: new RegExp(`2026-11-10 ${escape(formatEuros(price))} €0\\.00`) }).count()).toBe(1);

    // The banner is on every page of the org's people.
    const banner = page.getByRole('status').filter({ hasText: 'Budget alert: 50 %' });
    expect(await banner.count()).toBe(1);
    await page.getByRole('link', { name: 'Reservations' }).click();
    await page.getByRole('status').filter({ hasText: 'Budget alert: 50 %' }).waitFor();

    // A member of the org reads the page and sees the banner, without the form.
    const member = (await t.call('POST', '/v1/api-keys', { body: { role: 'customer', orgRole: 'member' } })).body.key as string;
    const memberPage = await signedInPage(member);
    await memberPage.goto('/budget');
    await memberPage.getByRole('heading', { name: 'Budget', level: 1 }).waitFor();
    expect(await memberPage.getByRole('status').filter({ hasText: 'Budget alert: 50 %' }).count()).toBe(1);
    expect(await memberPage.getByRole('button', { name: 'Save budget' }).count()).toBe(0);
    expect(await memberPage.getByLabel('Monthly limit (EUR)').count()).toBe(0);
    await memberPage.context().close();
    await page.context().close();
  }, 240_000);
});

function formatEuros(cents: number): string {
  const whole = Math.floor(cents / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `€${whole}.${String(cents % 100).padStart(2, '0')}`;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
