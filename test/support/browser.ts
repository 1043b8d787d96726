/**
 * The portal in Debian's Chromium (/usr/bin/chromium, never downloaded) driven by playwright-core
 * against the whole app (booking, billing on the Stripe stand-in, metering, webhooks, portal) served
 * on a free local port. Each page visited can be checked with axe (no serious or critical violation)
 * and saved as a screenshot under test-results/screenshots/ (gitignored) at 1,280 px and 390 px.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { createStripeGateway } from '../../shared/billing/stripe-gateway.ts';
import { createBillingService, type BillingService } from '../../shared/billing/service.ts';
import { portalInvoicesOf } from '../../shared/compose/portal.ts';
import type { AppModule } from '../../shared/http/context.ts';
import { silentLogger } from '../../shared/log.ts';
import { billingModule } from '../../shared/http/modules.ts';
import { meteringModule } from '../../shared/http/modules.ts';
import { createPortalModule } from '../../shared/portal/module.tsx';
import { createWebhooks, type Webhooks } from '../../shared/compose/webhooks.ts';
import type { ReservationBilling } from '../../shared/services/booking.ts';
import { createTestContext, type TestContext } from './app.ts';
import { startStripeStandIn, type StripeStandIn } from './stripe-stand-in.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const SCREENSHOTS = join(process.cwd(), 'test-results', 'screenshots');

export interface PortalHarness {
  t: TestContext;
  billing: BillingService;
  standIn: StripeStandIn;
  /** Partner webhooks, allowed to deliver to 127.0.0.1 (test receivers). */
  webhooks: Webhooks;
  base: string;
  browser: Browser;
  close(): Promise<void>;
}

/** The app with billing (Stripe stand-in), metering and the portal, served locally, and Chromium. */
export async function startPortal(options: { start?: string; modules?: AppModule[] } = {}): Promise<PortalHarness> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}. Install Debian's package (apt-get install -y chromium); the portal tests never download a browser.`);
  const standIn = await startStripeStandIn();
  let built: BillingService | undefined;
  const late = new Proxy({} as BillingService, {
    get: (_, prop) => {
      if (!built) throw new Error('billing is built after the test context');
      return built[prop as keyof BillingService];
    },
  });
  const reservationBilling: ReservationBilling = {
    onConfirm: (...a) => late.reservationBilling.onConfirm(...a),
    onExtend: (...a) => late.reservationBilling.onExtend(...a),
    onCancel: (...a) => late.reservationBilling.onCancel(...a),
  };
  let webhooks: Webhooks | undefined;
  const t = await createTestContext({
    reservationBilling,
    late: { billing: () => late, webhooks: () => webhooks!.service },
    modules: [billingModule, meteringModule, createPortalModule({ invoices: { list: (o, f) => portalInvoicesOf(t.deps.db).list(o, f) }, billing: late }), ...(options.modules ?? [])],
    ...(options.start ? { start: options.start } : {}),
  });
  const gateway = createStripeGateway({ secretKey: 'sk_test_portal', webhookSecret: 'whsec_portal', apiUrl: standIn.url, maxNetworkRetries: 1, timeoutMs: 2_000, now: t.clock });
  webhooks = createWebhooks({ db: t.deps.db, clock: t.clock, ids: t.deps.ids, logger: silentLogger, allowedHosts: ['127.0.0.1'], fetchTimeoutMs: 2_000 });
  built = createBillingService({ db: t.deps.db, clock: t.clock, ids: t.deps.ids, gateway, logger: silentLogger, catalog: t.deps.catalog });
  let server: ServerType | undefined;
  const base = await new Promise<string>((resolve) => {
    server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(`http://127.0.0.1:${info.port}`));
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
  return {
    t,
    billing: built,
    standIn,
    webhooks,
    base,
    browser,
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await standIn.close();
      await t.close();
    },
  };
}

export async function freshPage(h: PortalHarness, width = 1280): Promise<{ context: BrowserContext; page: Page }> {
  const context = await h.browser.newContext({ baseURL: h.base, viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  return { context, page };
}

export async function signIn(page: Page, key: string): Promise<void> {
  await page.goto('/sign-in');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/**
 * The page as it stands passes axe (WCAG 2 A/AA rules) with no serious or critical violation, has no
 * horizontal scroll at its width, and is saved as `<name>.png` (and `<name>-390.png` at 390 px wide).
 */
export async function checkPage(page: Page, name: string): Promise<void> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`), `axe on ${name}`).toEqual([]);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, `horizontal scroll on ${name} at 1,280 px`).toBeLessThanOrEqual(0);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const size = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-390.png`), fullPage: true });
  const narrow = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const scrolls = (el: Element | null): boolean => {
      for (let e = el?.parentElement ?? null; e; e = e.parentElement) if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowX)) return true;
      return false;
    };
    const wide = Array.from(document.querySelectorAll('body *'))
      .filter((el) => el.getBoundingClientRect().right > width + 1 && !scrolls(el))
      .slice(0, 4)
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className}`);
    return { overflow: document.documentElement.scrollWidth - width, wide };
  });
  expect(narrow, `horizontal scroll on ${name} at 390 px`).toEqual({ overflow: 0, wide: [] });
  if (size) await page.setViewportSize(size);
}
