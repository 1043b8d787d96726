import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';

export type StageName = 'dev' | 'prod';

/** Everything that differs between stages, decided once from CDK context. */
export interface StageConfig {
  readonly name: StageName;
  /** Applied to every stateful resource: the table, queues, secret, log groups. */
  readonly removalPolicy: RemovalPolicy;
  readonly deletionProtection: boolean;
  readonly logRetention: RetentionDays;
  readonly logLevel: 'DEBUG' | 'INFO';
  readonly apiThrottle: { readonly rateLimit: number; readonly burstLimit: number };
  /** Browser origins allowed by CORS (the portal when it is served from another origin). */
  readonly portalOrigins: readonly string[];
  /** Where alarm notifications are e-mailed, when given. */
  readonly alarmEmail: string | undefined;
  readonly dlqRetention: Duration;
}

const localPortalOrigins = ['http://localhost:3000', 'http://127.0.0.1:3000'];

/**
 * Reads `-c stage=dev|prod` (default `dev`), and the optional `-c portalOrigins=https://a,https://b`
 * and `-c alarmEmail=ops@example.com`.
 */
export function stageConfigFrom(node: Node): StageConfig {
  const name = parseStageName(node.tryGetContext('stage'));
  const portalOrigins = parseOrigins(node.tryGetContext('portalOrigins')) ?? (name === 'dev' ? localPortalOrigins : []);
  const alarmEmail = parseOptionalString(node.tryGetContext('alarmEmail'));
  const prod = name === 'prod';
  return {
    name,
    removalPolicy: prod ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    deletionProtection: prod,
    logRetention: prod ? RetentionDays.ONE_YEAR : RetentionDays.ONE_WEEK,
    logLevel: prod ? 'INFO' : 'DEBUG',
    apiThrottle: prod ? { rateLimit: 1000, burstLimit: 2000 } : { rateLimit: 50, burstLimit: 100 },
    portalOrigins,
    alarmEmail,
    dlqRetention: Duration.days(14),
  };
}

function parseStageName(value: unknown): StageName {
  if (value === undefined || value === null || value === '') return 'dev';
  if (value === 'dev' || value === 'prod') return value;
  throw new Error(`Unknown stage ${JSON.stringify(value)}: use -c stage=dev or -c stage=prod`);
}

function parseOrigins(value: unknown): string[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const list = Array.isArray(value) ? value.map(String) : String(value).split(',');
  const origins = list.map((o) => o.trim()).filter((o) => o.length > 0);
  for (const origin of origins) {
    const url = new URL(origin);
    if (url.origin !== origin) throw new Error(`portalOrigins: ${origin} is not an origin (scheme://host[:port], no path)`);
  }
  return origins;
}

function parseOptionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
