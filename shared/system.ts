/**
 * Assembles the whole system from configuration: the one place that decides which modules run
 * (booking core, and the metering, billing and webhook modules as they are wired in). Used by the
 * Lambda entry points, `npm start` and end-to-end tests.
 */
import type { Config } from './config.ts';
import { consoleLogger, silentLogger, type Logger } from '#http/context.ts';
import { createRuntime } from './runtime.ts';
import type { BillingGateway } from '#billing/gateway.ts';
import { billingGatewayFromConfig, createBillingService } from '#billing/service.ts';
import { billingModule } from '#http/routes/billing.ts';
import { meteringModule } from '#http/routes/usage.ts';
import { createPortalModule } from '#portal/module.tsx';
import { sweepDueReservations } from './services/sweeper.ts';
import { webhooksFromConfig } from '#webhooks/webhooks.ts';
import type { AttemptReport } from '#webhooks/deliveries.ts';
import { createDocumentClient, type Db } from '#store/db.ts';
import { createIdGenerator, systemClock, type Clock } from './ids.ts';

export interface SystemOptions {
  config: Config;
  db?: Db;
  clock?: Clock;
  logger?: Logger;
  /** Stripe (STRIPE_SECRET_KEY) or the local gateway by default; tests pass one pointed at a stand-in. */
  billingGateway?: BillingGateway;
  /** Called after every webhook delivery attempt (the sender Lambda counts them as metrics). */
  onWebhookAttempt?: (report: AttemptReport) => void;
}

export function createSystem(options: SystemOptions) {
  const { config } = options;
  const db = options.db ?? { doc: createDocumentClient({ endpoint: config.DYNAMODB_ENDPOINT, region: config.AWS_REGION }), table: config.TABLE_NAME };
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? (config.LOG_LEVEL === 'SILENT' ? silentLogger : consoleLogger);
  const ids = createIdGenerator(clock);
  const billing = createBillingService({ db, clock, ids, gateway: options.billingGateway ?? billingGatewayFromConfig(config, clock), logger });
  const webhooks = webhooksFromConfig(config, { db, clock, ids, logger, ...(options.onWebhookAttempt ? { onAttempt: options.onWebhookAttempt } : {}) });
  const runtime = createRuntime({
    db,
    clock,
    ids,
    logger,
    billing: billing.reservationBilling,
    modules: [meteringModule, billingModule(billing), webhooks.module, createPortalModule({ invoices: billing.portalInvoices })],
  });
  const { deps } = runtime;
  return {
    ...runtime,
    config,
    billing,
    webhooks,
    /** One pass of every scheduled job that runs "every minute" in AWS. */
    async runScheduledTick() {
      const reservations = await sweepDueReservations({ db, clock, booking: deps.booking });
      const webhookRetries = await webhooks.retryDueDeliveries(clock());
      return { reservations, webhookRetries, billing: await billing.syncPending() };
    },
  };
}
export type System = ReturnType<typeof createSystem>;
