/**
 * The Stripe SDK client as the gateway uses it: where it connects, its retries (the SDK's for 5xx,
 * 409, timeouts and connection errors; ours for rate-limit 429s) and the idempotency key of every
 * write, derived from our own ids only.
 */
import Stripe from 'stripe';

const DEFAULT_MAX_NETWORK_RETRIES = 3;
const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_RATE_LIMIT_RETRY_DELAY_MS = 500;
const MAX_RATE_LIMIT_RETRY_DELAY_MS = 5_000;

/** The idempotency key of every write to Stripe, derived from our ids only. */
export const stripeIdempotencyKeys = {
  customer: (orgId: string) => `customer-${orgId}`,
  invoiceCreate: (invoiceId: string) => `inv-${invoiceId}-create`,
  invoiceItem: (invoiceId: string, index: number) => `inv-${invoiceId}-item-${index}`,
  invoiceTaxes: (invoiceId: string) => `inv-${invoiceId}-taxes`,
  invoiceFinalize: (invoiceId: string) => `inv-${invoiceId}-finalize`,
  invoiceVoid: (invoiceId: string) => `inv-${invoiceId}-void`,
  creditNote: (creditNoteId: string) => `cn-${creditNoteId}`,
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function clientAddress(apiUrl: string | undefined): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (apiUrl === undefined) return {};
  const url = new URL(apiUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`apiUrl must be http(s), got ${apiUrl}`);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port === '' ? (protocol === 'http' ? 80 : 443) : Number(url.port), protocol };
}

export function assertCents(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} must be integer cents, got ${value}`);
}

export interface StripeClientOptions {
  secretKey: string;
  apiUrl?: string | undefined;
  maxNetworkRetries?: number | undefined;
  timeoutMs?: number | undefined;
  rateLimitRetryDelayMs?: number | undefined;
}

export function createStripeClient(config: StripeClientOptions) {
  const maxNetworkRetries = config.maxNetworkRetries ?? DEFAULT_MAX_NETWORK_RETRIES;
  const rateLimitRetryDelayMs = config.rateLimitRetryDelayMs ?? DEFAULT_RATE_LIMIT_RETRY_DELAY_MS;
  const stripe = new Stripe(config.secretKey, {
    apiVersion: Stripe.API_VERSION,
    maxNetworkRetries,
    timeout: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...clientAddress(config.apiUrl),
  });

  /** The SDK does not retry a plain rate-limit 429; Stripe saved nothing for it, so the same key is safe to send again. */
  async function withRateLimitRetry<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof Stripe.errors.StripeRateLimitError) || attempt >= maxNetworkRetries) throw error;
        await sleep(Math.min(rateLimitRetryDelayMs * 2 ** attempt, MAX_RATE_LIMIT_RETRY_DELAY_MS));
      }
    }
  }

  return { stripe, withRateLimitRetry };
}
export type StripeClient = ReturnType<typeof createStripeClient>;
