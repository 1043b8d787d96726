/** Billing as a part (see foundation.ts): what the monthly close runs, and what the API and the sweeper wire in. */
import type { BillingGateway } from '#billing/gateway.ts';
import { createLocalGateway } from '#billing/local-gateway.ts';
import { createBillingService, type BillingService } from '#billing/service.ts';
import { createStripeGateway } from '#billing/stripe-gateway.ts';
import type { CatalogCache } from '#store/catalog.ts';
import type { Config } from '../config.ts';
import type { Clock } from '../ids.ts';
import type { Foundation } from './foundation.ts';

/** Stripe when STRIPE_SECRET_KEY is set, else the local gateway (drafts with a note, nothing sent). */
export function billingGatewayFromConfig(config: Pick<Config, 'STRIPE_SECRET_KEY' | 'STRIPE_WEBHOOK_SECRET' | 'STRIPE_API_URL'>, clock: Clock): BillingGateway {
  if (!config.STRIPE_SECRET_KEY) return createLocalGateway();
  return createStripeGateway({
    secretKey: config.STRIPE_SECRET_KEY,
    ...(config.STRIPE_WEBHOOK_SECRET ? { webhookSecret: config.STRIPE_WEBHOOK_SECRET } : {}),
    ...(config.STRIPE_API_URL ? { apiUrl: config.STRIPE_API_URL } : {}),
    timeoutMs: 8_000,
    maxNetworkRetries: 2,
    now: clock,
  });
}

/**
 * Billing on Stripe (STRIPE_SECRET_KEY) or the local gateway, unless a gateway is given (tests point
 * one at a stand-in). `catalog`: the cache the rest of the system reads (one is built otherwise).
 */
export function createBilling(foundation: Foundation, options: { gateway?: BillingGateway | undefined; catalog?: CatalogCache | undefined } = {}): BillingService {
  const { config, db, clock, ids, logger } = foundation;
  return createBillingService({ db, clock, ids, logger, gateway: options.gateway ?? billingGatewayFromConfig(config, clock), ...(options.catalog ? { catalog: options.catalog } : {}) });
}
