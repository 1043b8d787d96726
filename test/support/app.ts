import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createApp } from '../../shared/http/app.ts';
import type { AppModule, Services } from '../../shared/http/context.ts';
import { scaledRateLimits, type RateLimitConfig } from '../../shared/http/rate-limit.ts';
import { createServices, type ServicesOptions } from '../../shared/compose/services.ts';
import { createIdGenerator } from '../../shared/ids.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { seedDemo, type DemoKeys } from '../../shared/store/seed.ts';
import type { HoldLimits } from '../../shared/domain/limits.ts';

export const UNLIMITED_HOLDS: HoldLimits = { openHolds: 1_000_000, heldGpusBps: 1_000_000_000, sameWindowHoldsPerHour: 1_000_000 };
import type { Db } from '../../shared/store/db.ts';
import { manualClock, type ManualClock } from './clock.ts';
import { createTestDb } from './db.ts';

export interface TestContext {
  app: ReturnType<typeof createApp>;
  /** The services, built once by the composition root (shared/compose/services.ts) as the system builds them. */
  deps: Services;
  db: Db & { drop(): Promise<void> };
  keys: DemoKeys;
  clock: ManualClock;
  call(method: string, path: string, options?: { key?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers; text: string }>;
  close(): Promise<void>;
}

export interface TestContextOptions extends Omit<ServicesOptions, 'billing'> {
  start?: string;
  /** Swaps the document client (fault injection). */
  wrapDoc?: (doc: DynamoDBDocumentClient) => DynamoDBDocumentClient;
  /** Route modules beyond the core (metering, billing, webhooks, portal). */
  modules?: AppModule[];
  /** Services the test builds itself once the context exists (e.g. billing over the test's clock); read at request time. */
  late?: { billing?: () => NonNullable<Services['billing']>; webhooks?: () => NonNullable<Services['webhooks']> };
  logger?: Logger;
  maxBodyBytes?: number;
  rateLimits?: RateLimitConfig;
}

/** A service the test builds after the context: the routes reach it at request time, once it exists. */
const lateBound = <T extends object>(get: () => T): T => new Proxy({} as T, { get: (_, prop) => get()[prop as keyof T] });

/**
 * The whole API in-process against a fresh table in DynamoDB Local, seeded with the demo catalog and
 * keys, its services built by the composition root. `wrapDoc` swaps the document client (fault
 * injection); the clock is manual.
 */
export async function createTestContext(options: TestContextOptions = {}): Promise<TestContext> {
  const db = await createTestDb();
  const clock = manualClock(options.start ?? '2026-11-24T10:00:00Z');
  const keys = await seedDemo(db, clock());
  const runtimeDb = options.wrapDoc ? { ...db, doc: options.wrapDoc(db.doc) } : db;
  const { start: _start, wrapDoc: _wrapDoc, modules, late, logger, maxBodyBytes, rateLimits, ...serviceOptions } = options;
  const services = createServices(
    { db: runtimeDb, clock, ids: createIdGenerator(clock), logger: logger ?? silentLogger },
    {
      holdLimits: UNLIMITED_HOLDS,
      ...serviceOptions,
      ...(late?.billing ? { billing: lateBound(late.billing) } : {}),
      ...(late?.webhooks ? { webhooks: lateBound(late.webhooks) } : {}),
    },
  );
  // Suites hammer the API: limits ×1000 unless a test passes its own (test/integration/limits.test.ts).
  const app = createApp(services, { modules: modules ?? [], maxBodyBytes, rateLimits: rateLimits ?? scaledRateLimits(1000) });
  const call: TestContext['call'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const key = o.key === undefined ? keys.customer : o.key;
    if (key) headers.authorization = `Bearer ${key}`;
    let body: string | undefined;
    if (o.rawBody !== undefined) body = o.rawBody;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed, headers: res.headers, text };
  };
  return { app, deps: services, db, keys, clock, call, close: () => db.drop() };
}

/** The next whole hour at least `hours` after the clock. */
export function hoursFrom(clock: ManualClock, hours: number): string {
  const h = Math.floor(clock().getTime() / 3_600_000) + hours;
  return new Date(h * 3_600_000).toISOString().replace('.000Z', 'Z');
}
