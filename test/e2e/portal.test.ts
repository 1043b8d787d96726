/**
 * The portal in a real browser: Debian's Chromium (/usr/bin/chromium, installed by the system package
 * manager, never downloaded) driven by playwright-core against the app served on a free local port.
 * Every control is found the way a person or an assistive technology finds it: by label or role and
 * accessible name.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eur } from '../../shared/domain/money.ts';
import type { PortalInvoice } from '../../shared/portal/invoices.ts';
import { createPortalModule } from '../../shared/portal/module.tsx';
import { createTestContext, type TestContext } from '../support/app.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const FINANCE_INVOICES: PortalInvoice[] = [
  {
    id: 'inv_e2e_1',
    orgId: 'org_lumiere',
    period: '2026-11',
    reservationId: 'res_e2e',
    lines: [{ description: 'H100 SXM 80GB · Valence–Rovaltain, 16 GPUs × 48 h', amount: eur(152_832) }],
    subtotal: eur(152_832),
    tax: eur(30_566),
    total: eur(183_398),
    status: 'open',
    stripeInvoiceId: 'in_e2e_1',
    hostedInvoiceUrl: 'https://invoice.stripe.com/i/acct_test/in_e2e_1',
    pdfUrl: null,
    createdAt: '2026-11-20T10:00:00Z',
  },
];

let t: TestContext;
let server: ServerType;
let base: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}. Install Debian's package (apt-get install -y chromium); the portal test never downloads a browser.`);
  }
  t = await createTestContext({
    modules: [createPortalModule({ invoices: { list: async (orgId) => FINANCE_INVOICES.filter((i) => orgId === null || i.orgId === orgId) } })],
  });
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

async function freshPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  return { context, page };
}

/** Each Book control is found by its label or name alone, exact or not, and only once. */
async function expectBookControlsUnique(page: Page, buttons: string[]): Promise<void> {
  for (const label of ['Site', 'GPU type', 'GPUs', 'Start', 'End']) {
    expect(await page.getByLabel(label).count(), `label ${label}`).toBe(1);
    expect(await page.getByLabel(label, { exact: true }).count(), `label ${label}`).toBe(1);
  }
  for (const name of buttons) expect(await page.getByRole('button', { name }).count(), `button ${name}`).toBe(1);
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

describe('portal in Chromium', () => {
  it('refuses a bad key with a visible alert and no session cookie', async () => {
    const { context, page } = await freshPage();
    await page.goto('/');
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.getByLabel('API key').fill('gm_live_this-key-does-not-exist');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.isVisible()).toBe(true);
    expect(await alert.textContent()).toContain('API key');
    expect((await context.cookies()).filter((c) => c.name === 'gm_session')).toHaveLength(0);
    await context.close();
  });

  it('books as a customer: Book → Get quote → Reserve → Confirm, then sees it in Reservations', async () => {
    const { context, page } = await freshPage();
    await signIn(page, t.keys.customer);
    // Customers land on Find capacity; Sites is one click away in the top navigation.
    await page.getByRole('heading', { name: 'Find capacity', level: 1 }).waitFor();
    await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Sites' }).click();
    await page.getByRole('heading', { name: 'Sites and pools' }).waitFor();
    expect(await page.getByRole('img', { name: /^Availability of H100 SXM 80GB at Valence–Rovaltain/ }).count()).toBe(1);
    expect(await page.getByRole('img', { name: /Availability/ }).count()).toBe(8);

    const [cookie] = (await context.cookies()).filter((c) => c.name === 'gm_session');
    expect(cookie).toBeDefined();
    expect(cookie!.httpOnly).toBe(true);
    expect(cookie!.sameSite).toBe('Lax');
    expect(cookie!.path).toBe('/');
    expect(cookie!.value).not.toContain(t.keys.customer);
    expect(cookie!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await page.evaluate(() => document.cookie)).toBe('');

    await page.getByRole('link', { name: 'Book', exact: true }).click();
    await expectBookControlsUnique(page, ['Get quote']);
    await page.getByLabel('GPUs', { exact: true }).fill('3');
    await page.getByRole('button', { name: 'Get quote' }).click();
    const invalid = page.getByRole('alert');
    await invalid.waitFor();
    expect(await invalid.textContent()).toMatch(/Site: choose a site[\s\S]*Start: enter a UTC date/);

    await page.getByLabel('Site', { exact: true }).selectOption('valence-rovaltain');
    await page.getByLabel('GPU type', { exact: true }).selectOption('h100-sxm-80gb');
    await page.getByLabel('GPUs', { exact: true }).fill('16');
    await page.getByLabel('Start', { exact: true }).fill('2026-12-01T08:00');
    await page.getByLabel('End', { exact: true }).fill('2026-12-03T08:00');
    await page.getByRole('button', { name: 'Get quote' }).click();

    const quoteHeading = page.getByRole('heading', { name: /^Quote qt_/ });
    await quoteHeading.waitFor();
    await expectBookControlsUnique(page, ['Get quote', 'Reserve']);
    const priceLines = page.getByRole('table', { name: 'Price lines' });
    expect(await priceLines.getByRole('row', { name: /Total \(excluding VAT\) €[\d,]+\.\d\d/ }).count()).toBe(1);
    expect(await page.getByText('Quote expires').isVisible()).toBe(true);
    expect(await page.getByLabel('Start', { exact: true }).inputValue()).toBe('2026-12-01T08:00');

    await page.getByRole('button', { name: 'Reserve' }).click();
    const reservationHeading = page.getByRole('heading', { name: /^Reservation res_/ });
    await reservationHeading.waitFor();
    await expectBookControlsUnique(page, ['Get quote', 'Confirm']);
    const reservationId = (await reservationHeading.textContent())!.replace('Reservation ', '').trim();
    expect(await page.getByRole('status').textContent()).toMatch(/Held: 16 GPUs of H100 SXM 80GB at Valence–Rovaltain are yours until 2026-11-24 10:15 UTC/);

    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText(/^Confirmed at 2026-11-24 10:00 UTC/).waitFor();
    expect(await page.getByRole('button', { name: 'Confirm' }).count()).toBe(0);

    await page.getByRole('link', { name: 'Reservations', exact: true }).click();
    const row = page.getByRole('row', { name: new RegExp(reservationId) });
    await row.waitFor();
    const text = (await row.textContent())!;
    expect(text).toContain('confirmed');
    expect(text).toContain('2026-12-01 08:00 UTC to 2026-12-03 08:00 UTC');
    expect(text).toMatch(/€[\d,]+\.\d\d/);
    expect(await row.getByRole('button', { name: 'Cancel' }).count()).toBe(1);
    expect(await row.getByLabel('New end').count()).toBe(1);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.getByRole('status').textContent()).toContain('You are signed out.');
    await page.goto('/reservations');
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await context.close();
  });

  it('shows finance the invoices of the period with the CSV download link', async () => {
    const { context, page } = await freshPage();
    await signIn(page, t.keys.finance);
    await page.getByRole('link', { name: 'Invoices', exact: true }).click();
    await page.getByRole('heading', { name: 'Invoices for 2026-11' }).waitFor();
    const csv = page.getByRole('link', { name: 'Download CSV' });
    expect(await csv.getAttribute('href')).toBe('/v1/invoices/export.csv?period=2026-11');
    expect(await page.getByRole('row', { name: /inv_e2e_1/ }).textContent()).toContain('€1,833.98');
    expect(await page.getByRole('link', { name: 'Pay or view inv_e2e_1 on Stripe' }).getAttribute('href')).toBe('https://invoice.stripe.com/i/acct_test/in_e2e_1');
    await page.getByLabel('Period').fill('2026-10');
    await page.getByRole('button', { name: 'Show invoices' }).click();
    await page.getByRole('heading', { name: 'Invoices for 2026-10' }).waitFor();
    expect(await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href')).toBe('/v1/invoices/export.csv?period=2026-10');
    await page.getByRole('link', { name: 'Receivables' }).click();
    await page.getByRole('heading', { name: 'Receivables' }).waitFor();
    await context.close();
  });

  it('reaches the skip link first with the keyboard and shows where focus is', async () => {
    const { context, page } = await freshPage();
    await page.goto('/sign-in');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      const style = getComputedStyle(el);
      return { text: el.textContent, outline: style.outlineStyle, width: style.outlineWidth };
    });
    expect(focused.text).toBe('Skip to main content');
    expect(focused.outline).toBe('solid');
    expect(focused.width).toBe('3px');
    await context.close();
  });
});
