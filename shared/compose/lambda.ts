/**
 * What every Lambda entry point shares: the configuration parsed once from the environment, what the
 * entry composes from it built once per cold start (on the first invocation: nothing here does I/O at
 * import time), and the Stripe keys read once per cold start from Secrets Manager
 * (`STRIPE_SECRET_ARN`, JSON `{ "secretKey": "...", "webhookSecret": "..." }`; empty strings mean
 * Stripe is not configured) by the entries that bill.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseConfig, type Config } from '../config.ts';

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
 * What `compose` builds from the configuration, memoised for this cold start: built on first use,
 * reused by every later invocation; a failed build (e.g. Secrets Manager unreachable) is retried by
 * the next invocation.
 */
export function perColdStart<T>(compose: (config: Config) => T | Promise<T>, env: Record<string, string | undefined> = process.env): () => Promise<T> {
  const config = parseConfig(env);
  let built: Promise<T> | undefined;
  return () => {
    built ??= Promise.resolve(config).then(compose);
    built.catch(() => (built = undefined));
    return built;
  };
}
