/** Billing as a part (see foundation.ts): what the monthly close runs, and what the API and the sweeper wire in. */
import type { BillingGateway } from '#billing/gateway.ts';
import { billingGatewayFromConfig, createBillingService, type BillingService } from '#billing/service.ts';
import type { Foundation } from './foundation.ts';

/** Billing on Stripe (STRIPE_SECRET_KEY) or the local gateway, unless a gateway is given (tests point one at a stand-in). */
export function createBilling(foundation: Foundation, gateway?: BillingGateway): BillingService {
  const { config, db, clock, ids, logger } = foundation;
  return createBillingService({ db, clock, ids, gateway: gateway ?? billingGatewayFromConfig(config, clock), logger });
}
