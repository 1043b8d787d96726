/**
 * Assembles the whole system from configuration: the one place that decides which modules run
 * (booking core, and the metering, billing and webhook modules as they are wired in). Used by the API
 * Lambda, `npm start` and end-to-end tests. The other Lambdas compose only the parts they run, from
 * the same factories (system-parts.ts), so their bundles leave out the HTTP app and the portal.
 */
import type { Config } from './config.ts';
import type { Logger } from '#http/context.ts';
import { createRuntime } from './runtime.ts';
import type { BillingGateway } from '#billing/gateway.ts';
import { scaledRateLimits, type RateLimitConfig } from '#http/rate-limit.ts';
import { billingModule } from '#http/routes/billing.ts';
import { meteringModule } from '#http/routes/usage.ts';
import { createPortalModule } from '#portal/module.tsx';
import { webhooksFromConfig } from '#webhooks/webhooks.ts';
import type { AttemptReport } from '#webhooks/deliveries.ts';
import type { Db } from '#store/db.ts';
import type { Clock } from './ids.ts';
import { createBilling } from './compose/billing.ts';
import { createFoundation } from './compose/foundation.ts';
import { runScheduledTick } from './compose/scheduled-tick.ts';

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
  const { config, db, clock, ids, logger } = foundation;
  const billing = createBilling(foundation, options.billingGateway);
  const webhooks = webhooksFromConfig(config, { db, clock, ids, logger, ...(options.onWebhookAttempt ? { onAttempt: options.onWebhookAttempt } : {}) });
  const runtime = createRuntime({
    db,
    clock,
    ids,
    logger,
    billing: billing.reservationBilling,
    rateLimits: options.rateLimits ?? scaledRateLimits(config.RATE_LIMIT_SCALE),
    modules: [meteringModule, billingModule(billing), webhooks.module, createPortalModule({ invoices: billing.portalInvoices, billing })],
  });
  const { deps } = runtime;
  return {
    ...runtime,
    config,
    billing,
    webhooks,
    /** One pass of every scheduled job that runs "every minute" in AWS. */
    runScheduledTick: () => runScheduledTick({ db, clock, booking: deps.booking, budgets: deps.budgets, webhooks, billing }),
  };
}
export type System = ReturnType<typeof createSystem>;
