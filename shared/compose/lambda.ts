/**
 * What every Lambda entry point shares: the configuration parsed once from the environment and what
 * the entry composes from it, both on the first invocation (nothing here runs or loads more than it
 * must at import time: the configuration's schema is zod, which the API's routes load on their first
 * request anyway), and the Stripe keys read once per cold start from Secrets Manager
 * (`STRIPE_SECRET_ARN`, JSON `{ "secretKey": "...", "webhookSecret": "..." }`; empty strings mean
 * Stripe is not configured) by the entries that bill.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../config.ts';

export async function withStripeSecret(config: Config, client?: Pick<SecretsManagerClient, 'send'>): Promise<Config> {
  if (!config.STRIPE_SECRET_ARN || config.STRIPE_SECRET_KEY) return config;
  // Imported here, on the one call per cold start that reads the secret.
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const sm = client ?? new SecretsManagerClient({ region: config.AWS_REGION });
  const res = await sm.send(new GetSecretValueCommand({ SecretId: config.STRIPE_SECRET_ARN }));
  const parsed = JSON.parse(res.SecretString ?? '{}') as { secretKey?: string; webhookSecret?: string };
  return {
    ...config,
    ...(parsed.secretKey ? { STRIPE_SECRET_KEY: parsed.secretKey } : {}),
    ...(parsed.webhookSecret ? { STRIPE_WEBHOOK_SECRET: parsed.webhookSecret } : {}),
  };
}

/**
 * What `compose` builds from the configuration, memoised for this cold start: the environment parsed
 * and the parts built on first use, reused by every later invocation; a failed build (an invalid
 * configuration, Secrets Manager unreachable) fails that invocation and is retried by the next.
 */
export function perColdStart<T>(compose: (config: Config) => T | Promise<T>, env: Record<string, string | undefined> = process.env): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () => {
    built ??= import('../config.ts').then(({ parseConfig }) => compose(parseConfig(env)));
    built.catch(() => (built = undefined));
    return built;
  };
}
