/** Billing as a part (see foundation.ts): what the monthly close runs, and what the API and the sweeper wire in. */
import type { BillingGateway } from '#billing/gateway.ts';
import { createLocalGateway } from '#billing/local-gateway.ts';
import { createBillingService, type BillingService } from '#billing/service.ts';
import type { CatalogCache } from '#store/catalog.ts';
import type { Config } from '../config.ts';
import type { Clock } from '../ids.ts';
import type { Foundation } from './foundation.ts';

/**
 * Stripe when STRIPE_SECRET_KEY is set, else the local gateway (drafts with a note, nothing sent).
 * The Stripe gateway, and the Stripe SDK under it, is imported on its first call (a push to Stripe or
 * a Stripe webhook): requests and jobs that never talk to Stripe never load it.
 */
export function billingGatewayFromConfig(config: Pick<Config, 'STRIPE_SECRET_KEY' | 'STRIPE_WEBHOOK_SECRET' | 'STRIPE_API_URL'>, clock: Clock): BillingGateway {
  const secretKey = config.STRIPE_SECRET_KEY;
  if (!secretKey) return createLocalGateway();
  return loadedOnFirstCall(async () =>
    (await import('#billing/stripe-gateway.ts')).createStripeGateway({
      secretKey,
      ...(config.STRIPE_WEBHOOK_SECRET ? { webhookSecret: config.STRIPE_WEBHOOK_SECRET } : {}),
      ...(config.STRIPE_API_URL ? { apiUrl: config.STRIPE_API_URL } : {}),
      timeoutMs: 8_000,
      maxNetworkRetries: 2,
      now: clock,
    }),
  );
}

/** A gateway that builds the real one (`load`) on its first call and then hands every call to it; a failed load is retried by the next call. */
export function loadedOnFirstCall(load: () => Promise<BillingGateway>): BillingGateway {
  let loaded: Promise<BillingGateway> | undefined;
  const gateway = () =>
    (loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    }));
  return {
    ensureCustomer: async (input) => (await gateway()).ensureCustomer(input),
    createFinalizedInvoice: async (input) => (await gateway()).createFinalizedInvoice(input),
    createCreditNote: async (input) => (await gateway()).createCreditNote(input),
    parseWebhook: async (rawBody, signatureHeader) => (await gateway()).parseWebhook(rawBody, signatureHeader),
  };
}

/**
 * Billing on Stripe (STRIPE_SECRET_KEY) or the local gateway, unless a gateway is given (tests point
 * one at a stand-in). `catalog`: the cache the rest of the system reads (one is built otherwise).
 */
export function createBilling(foundation: Foundation, options: { gateway?: BillingGateway | undefined; catalog?: CatalogCache | undefined } = {}): BillingService {
  const { config, db, clock, ids, logger } = foundation;
  return createBillingService({ db, clock, ids, logger, gateway: options.gateway ?? billingGatewayFromConfig(config, clock), ...(options.catalog ? { catalog: options.catalog } : {}) });
}
