/**
 * The BillingGateway when Stripe is not configured (no STRIPE_SECRET_KEY): nothing leaves the system.
 * The billing service sees `mode: 'local'` and keeps invoices as drafts and credit notes as local
 * records, each with a note saying Stripe is not configured; it never calls the Stripe operations,
 * which refuse. Inbound Stripe webhooks are refused like a bad signature.
 */
import { InvalidStripeSignatureError, type BillingGateway } from './gateway.ts';

export class StripeNotConfiguredError extends Error {
  constructor(operation: string) {
    super(`Stripe is not configured (no STRIPE_SECRET_KEY): cannot ${operation}`);
    this.name = 'StripeNotConfiguredError';
  }
}

export interface LocalBillingGateway extends BillingGateway {
  readonly mode: 'local';
}

export function createLocalGateway(): LocalBillingGateway {
  return {
    mode: 'local',
    ensureCustomer: async () => {
      throw new StripeNotConfiguredError('create a Stripe customer');
    },
    createFinalizedInvoice: async () => {
      throw new StripeNotConfiguredError('send an invoice');
    },
    createCreditNote: async () => {
      throw new StripeNotConfiguredError('issue a credit note');
    },
    parseWebhook: () => {
      throw new InvalidStripeSignatureError('not_configured');
    },
  };
}

export const isLocalGateway = (gateway: BillingGateway): gateway is LocalBillingGateway => (gateway as Partial<LocalBillingGateway>).mode === 'local';
