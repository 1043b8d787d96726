/**
 * The Find capacity page in Chromium (/usr/bin/chromium via playwright-core), every control found by
 * its label or accessible name: search, heat map, offer cards with VAT, and "Get quote" straight to
 * the quote on the Book page.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPortalModule } from '../../shared/portal/module.tsx';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let t: TestContext;
let server: ServerType;
let base: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}; install Debian's package (apt-get install -y chromium).`);
  t = await createTestContext({ modules: [createPortalModule()] });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      base = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await t?.close();
});

it('finds capacity by labels, shows the heat map and VAT, and gets the quote of an offer on the Book page', async () => {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto('/');
  await page.getByLabel('API key').fill(t.keys.customer);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The default page after sign-in, linked in the top navigation.
  await page.getByRole('heading', { name: 'Find capacity', level: 1 }).waitFor();
  expect(await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Find capacity' }).getAttribute('aria-current')).toBe('page');

  await page.getByLabel('GPU type').selectOption('b200-sxm-192gb');
  await page.getByLabel('GPUs', { exact: true }).fill('16');
  await page.getByLabel('Duration (hours)').fill('48');
  await page.getByLabel('Earliest start (UTC)').fill(hoursFrom(t.clock, 48).slice(0, 16));
  await page.getByLabel('Latest end (UTC)').fill(hoursFrom(t.clock, 24 * 10).slice(0, 16));
  await page.getByLabel('Marseille').check();
  await page.getByLabel(/Grand Est/).check();
  await page.getByRole('button', { name: 'Find capacity' }).click();

  await page.getByRole('heading', { name: /^Offers \(\d+\)$/ }).waitFor();
  const cards = page.getByRole('article');
  expect(await cards.count()).toBeGreaterThan(1);
  const first = cards.first();
  expect(await first.getByRole('heading').textContent()).toMatch(/^Marseille: 16 × B200 SXM 192GB, 48 h from /);
  const text = (await first.textContent()) ?? '';
  expect(text).toMatch(/Total \(before VAT\)€[\d,]+\.\d\d/);
  expect(text).toMatch(/Price per GPU-hour€\d+\.\d\d/);
  expect(text).toMatch(/VAT you pay \(20 %\)€[\d,]+\.\d\d; total with VAT €[\d,]+\.\d\d/);

  // Heat map: the pools of the chosen sites per day; Grand Est (opens 2027-03-01) is not yet bookable.
  const heat = page.getByRole('table', { name: /Free B200 SXM 192GB GPUs per site pool and day/ });
  expect(await heat.getByRole('rowheader').count()).toBe(2);
  expect(await heat.getByRole('row', { name: /Grand Est/ }).getByText('not yet bookable').count()).toBe(28);
  expect(await heat.getByRole('row', { name: /Marseille/ }).getByRole('cell', { name: '128', exact: true }).count()).toBeGreaterThan(0);
  // Navigable over the next 12 months: step later until the planned site opens.
  for (let i = 0; i < 4; i++) await page.getByRole('link', { name: 'Later days' }).click();
  const later = page.getByRole('table', { name: /per site pool and day/ });
  expect(await later.getByRole('row', { name: /Grand Est/ }).getByRole('cell', { name: '1024', exact: true }).count()).toBeGreaterThan(0);
  await page.getByRole('link', { name: 'Earlier days' }).click();
  await page.getByRole('heading', { name: /^Offers/ }).waitFor();

  // "Get quote" on the first offer: straight to its quote on the Book page, at the offer's price.
  const offerTotal = (await page.getByRole('article').first().textContent())!.match(/Total \(before VAT\)(€[\d,]+\.\d\d)/)![1]!;
  await page.getByRole('article').first().getByRole('button', { name: 'Get quote' }).click();
  await page.getByText(/^Quote ready: 16 GPUs of /).waitFor();
  expect(new URL(page.url()).pathname).toBe('/book');
  expect(await page.locator('main').textContent()).toContain(offerTotal);
  await context.close();
}, 240_000);

it('names a wrong field by its label and suggests what would fit when nothing does', async () => {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto('/');
  await page.getByLabel('API key').fill(t.keys.customer);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Find capacity', level: 1 }).waitFor();
  await page.getByLabel('GPUs', { exact: true }).fill('12');
  await page.getByRole('button', { name: 'Find capacity' }).click();
  expect(await page.getByRole('alert').textContent()).toMatch(/^GPUs: 12 GPUs is not a whole-node booking/);

  await page.getByLabel('GPU type').selectOption('b200-sxm-192gb');
  await page.getByLabel('GPUs', { exact: true }).fill('512');
  await page.getByLabel('Duration (hours)').fill('24');
  await page.getByLabel('Latest end (UTC)').fill(hoursFrom(t.clock, 24 * 5).slice(0, 16));
  await page.getByRole('button', { name: 'Find capacity' }).click();
  await page.getByRole('heading', { name: 'No offers' }).waitFor();
  const status = (await page.getByRole('status').textContent()) ?? '';
  // Only Grand Est's pool takes 512 B200s, and it opens on 2027-03-01.
  expect(status).toContain('No pool has a whole node free for that long in the range.');
  expect(status).toContain('The earliest window that fits ends after your latest end: grand-est-b200, 2027-03-01 00:00 UTC');
  await context.close();
}, 240_000);
