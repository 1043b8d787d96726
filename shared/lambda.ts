/**
 * What every Lambda entry point shares: the configuration parsed once from the environment, the
 * Stripe keys read once per cold start from Secrets Manager (`STRIPE_SECRET_ARN`, JSON
 * `{ "secretKey": "...", "webhookSecret": "..." }`; empty strings mean Stripe is not configured), and
 * the system built once. Nothing here does I/O at import time: the first invocation does it.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseConfig, type Config } from './config.ts';
import { createSystem, type System, type SystemOptions } from './system.ts';

export async function withStripeSecret(config: Config, client?: Pick<SecretsManagerClient, 'send'>): Promise<Config> {
  if (!config.STRIPE_SECRET_ARN || config.STRIPE_SECRET_KEY) return config;
  const sm = client ?? new SecretsManagerClient({ region: config.AWS_REGION });
  const res = await sm.send(new GetSecretValueCommand({ SecretId: config.STRIPE_SECRET_ARN }));
  const parsed = JSON.parse(res.SecretString ?? '{}') as { secretKey?: string; webhookSecret?: string };
  return {
    ...config,
    ...(parsed.secretKey ? { STRIPE_SECRET_KEY: parsed.secretKey } : {}),
    ...(parsed.webhookSecret ? { STRIPE_WEBHOOK_SECRET: parsed.webhookSecret } : {}),
  };
}

/** A memoised system for this cold start: built on first use, reused by every later invocation. */
export function lambdaSystem(options: Omit<SystemOptions, 'config'> = {}, env: Record<string, string | undefined> = process.env): () => Promise<System> {
  const config = parseConfig(env);
  let system: Promise<System> | undefined;
  return () => {
    system ??= withStripeSecret(config).then((full) => createSystem({ ...options, config: full }));
    system.catch(() => (system = undefined));
    return system;
  };
}
