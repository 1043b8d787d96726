/**
 * The booking portal: server-rendered pages of the same app at `/` (docs/portal.md). Pages call the
 * same services as the API (booking, availability, the stores), handed to every route module as
 * `register(app, services)`; invoices and usage come through small ports so billing and metering
 * plug in without the portal knowing their storage.
 */
import type { BillingService } from '#billing/service.ts';
import type { App, AppModule, Services } from '#http/context.ts';
import { noInvoices, type PortalInvoices } from './invoices.ts';
import { notFoundPage } from './http.tsx';
import { registerAuthRoutes } from './routes/auth.tsx';
import { registerBookingRoutes } from './routes/book.tsx';
import { registerBudgetPortalRoutes } from './routes/budget.tsx';
import { registerFindRoutes } from './routes/find.tsx';
import { registerFleetRoutes } from './routes/fleet.tsx';
import { registerFinanceRoutes } from './routes/finance.tsx';
import { registerInvoiceRoutes } from './routes/invoices.tsx';
import { registerMarketRoutes } from './routes/market.tsx';
import { registerSitesRoutes } from './routes/sites.tsx';
import { registerWebhookRoutes } from './routes/webhooks.tsx';
import { PORTAL_JS } from './script.ts';
import { PORTAL_CSS } from './styles.ts';
import { meteredUsage, type PortalUsage } from './usage.ts';

export interface PortalOptions {
  /** Where invoices come from (billing); defaults to none. */
  invoices?: PortalInvoices | ((services: Services) => PortalInvoices);
  /** Where usage charts read metered GPU-seconds; defaults to the metering aggregates in the table. */
  usage?: PortalUsage | ((services: Services) => PortalUsage);
  /**
   * The billing service, for the invoice and credit-note pages, previews of what money moves, and the
   * finance pages (close, reconciliation, revenue, receivables); without it those pages say billing
   * is not wired in.
   */
  billing?: BillingService | null;
}

const build = <T,>(option: T | ((services: Services) => T) | undefined, services: Services, fallback: (services: Services) => T): T =>
  option === undefined ? fallback(services) : typeof option === 'function' ? (option as (services: Services) => T)(services) : option;

/**
 * How to register the portal's pages on the app that serves them (AppModule.pages): the composition
 * root imports this file when the first page is asked for, so the portal's code loads then.
 */
export function portalPages(options: PortalOptions = {}): (app: App, services: Services) => void {
  return (app, services) => {
    app.get('/portal.css', (c) => {
      c.header('cache-control', 'public, max-age=3600');
      c.header('x-content-type-options', 'nosniff');
      return c.body(PORTAL_CSS, 200, { 'content-type': 'text/css; charset=utf-8' });
    });
    app.get('/portal.js', (c) => {
      c.header('cache-control', 'public, max-age=3600');
      c.header('x-content-type-options', 'nosniff');
      return c.body(PORTAL_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' });
    });
    // A browser asking for a page that does not exist gets an HTML 404 page, not the API's problem+json.
    app.use('*', async (c, next) => {
      await next();
      if (c.res.status !== 404 || c.req.method !== 'GET' || c.req.path.startsWith('/v1/')) return;
      if (!(c.req.header('accept') ?? '').includes('text/html') || !(c.res.headers.get('content-type') ?? '').includes('problem+json')) return;
      c.res = await notFoundPage(c, services);
    });
    registerAuthRoutes(app, services);
    registerFindRoutes(app, services);
    registerSitesRoutes(app, services);
    registerBookingRoutes(app, services, build(options.usage, services, (s) => meteredUsage(s.db)), options.billing ?? null);
    registerFinanceRoutes(app, services, options.billing ?? null);
    registerInvoiceRoutes(app, services, build(options.invoices, services, () => noInvoices), options.billing ?? null);
    registerBudgetPortalRoutes(app, services);
    registerFleetRoutes(app, services);
    registerWebhookRoutes(app, services);
    registerMarketRoutes(app, services);
  };
}

/** The portal as a module of the app, its pages loaded with this file (the composition root imports it on the first page instead). */
export function createPortalModule(options: PortalOptions = {}): AppModule {
  return { name: 'portal', pages: async () => portalPages(options) };
}

/** The portal with its defaults (no invoices source yet, usage from the metering aggregates). */
export const portalModule: AppModule = createPortalModule();
