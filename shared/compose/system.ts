/**
 * Assembles the whole system from configuration: the one place that decides which parts run (the
 * services, billing, webhooks, the portal) and which route modules the API mounts. Used by the API
 * Lambda, `npm start` and end-to-end tests. The other Lambdas compose only the parts they run, from
 * the same factories in this folder, so their bundles leave out the HTTP app and the portal.
 */
import type { BillingGateway } from '#billing/gateway.ts';
import { createApp } from '#http/app.ts';
import { scaledRateLimits, type RateLimitConfig } from '#http/rate-limit.ts';
import { parseCorsOrigins } from '#http/cors.ts';
import { billingModule, meteringModule, webhooksModule } from '#http/modules.ts';
import { createCatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import type { AttemptReport } from '#webhooks/deliveries.ts';
import type { Config } from '../config.ts';
import type { Clock } from '../ids.ts';
import type { Logger } from '../log.ts';
import { createBilling } from './billing.ts';
import { createFoundation } from './foundation.ts';
import { portalInvoicesOf } from './portal.ts';
import { runScheduledTick } from './scheduled-tick.ts';
import { createServices } from './services.ts';
import { webhooksOf } from './webhooks.ts';

export interface SystemOptions {
  config: Config;
  db?: Db;
  clock?: Clock;
  logger?: Logger;
  /** Stripe (STRIPE_SECRET_KEY) or the local gateway by default; tests pass one pointed at a stand-in. */
  billingGateway?: BillingGateway;
  /** Called after every webhook delivery attempt (the sender Lambda counts them as metrics). */
  onWebhookAttempt?: (report: AttemptReport) => void;
  /** Rate limits; by default the real ones scaled by RATE_LIMIT_SCALE. */
  rateLimits?: RateLimitConfig;
}

export function createSystem(options: SystemOptions) {
  const foundation = createFoundation(options);
  const { config, db, clock } = foundation;
  const catalog = createCatalogCache(db, clock, 30_000);
  const billing = createBilling(foundation, { gateway: options.billingGateway, catalog });
  const webhooks = webhooksOf(foundation, options.onWebhookAttempt);
  const services = createServices(foundation, { catalog, billing, webhooks: webhooks.service });
  const portalInvoices = portalInvoicesOf(db);
  const app = createApp(services, {
    rateLimits: options.rateLimits ?? scaledRateLimits(config.RATE_LIMIT_SCALE),
    corsOrigins: parseCorsOrigins(config.CORS_ORIGINS),
    // The portal's code is imported on its first page: requests to the API never load it.
    modules: [meteringModule, billingModule, webhooksModule, { name: 'portal', pages: async () => (await import('#portal/module.tsx')).portalPages({ invoices: portalInvoices, billing }) }],
  });
  return {
    app,
    /** Every service, as the routes see them. */
    services,
    config,
    billing,
    webhooks,
    /** What the portal lists as invoices (billing's, through the portal's port). */
    portalInvoices,
    /** One pass of every scheduled job that runs "every minute" in AWS. */
    runScheduledTick: () => runScheduledTick({ db, clock, booking: services.booking, budgets: services.budgets, webhooks, billing, resale: services.resale }),
  };
}
export type System = ReturnType<typeof createSystem>;
