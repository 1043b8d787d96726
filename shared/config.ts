import { z } from 'zod';

/** Configuration, parsed once from the environment by each entry point (never at import time). */
const ConfigSchema = z.object({
  TABLE_NAME: z.string().min(3).default('gpu-market'),
  DYNAMODB_ENDPOINT: z.url().optional(),
  AWS_REGION: z.string().default('eu-west-3'),
  /** Interface `npm start` listens on; loopback by default. */
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  STRIPE_SECRET_KEY: z.string().min(1).optional(),
  STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  STRIPE_API_URL: z.url().optional(),
  STRIPE_SECRET_ARN: z.string().optional(),
  WEBHOOK_ALLOWED_HOSTS: z.string().default(''),
  /** Browser origins (comma list) allowed to call the API from their scripts (CORS); none by default. */
  CORS_ORIGINS: z.string().default(''),
  WEBHOOK_QUEUE_URL: z.string().optional(),
  /** Multiplies every rate limit's count (README "Limits"); 1 = the real defaults. */
  RATE_LIMIT_SCALE: z.coerce.number().positive().max(10_000).default(1),
  SWEEP_INTERVAL_MS: z.coerce.number().int().min(200).default(5000),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
  /** `json` (one object per line, for CloudWatch: the default) or `pretty` (for a terminal: `npm start`'s default). */
  LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  STAGE: z.string().default('local'),
});

export type Config = z.infer<typeof ConfigSchema>;

export function parseConfig(env: Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = ConfigSchema.safeParse(cleaned);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  return result.data;
}
