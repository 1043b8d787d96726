import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { silentLogger, type AppModule } from '../../shared/http/context.ts';
import { scaledRateLimits } from '../../shared/http/rate-limit.ts';
import type { HoldLimits } from '../../shared/domain/limits.ts';

export const UNLIMITED_HOLDS: HoldLimits = { openHolds: 1_000_000, heldGpusBps: 1_000_000_000, sameWindowHoldsPerHour: 1_000_000 };
import { createRuntime, type RuntimeOptions } from '../../shared/runtime.ts';
import { seedDemo, type DemoKeys } from '../../shared/seed.ts';
import type { Db } from '../../shared/store/db.ts';
import { manualClock, type ManualClock } from './clock.ts';
import { createTestDb } from './db.ts';

export interface TestContext {
  app: ReturnType<typeof createRuntime>['app'];
  deps: ReturnType<typeof createRuntime>['deps'];
  db: Db & { drop(): Promise<void> };
  keys: DemoKeys;
  clock: ManualClock;
  call(method: string, path: string, options?: { key?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers; text: string }>;
  close(): Promise<void>;
}

/**
 * The whole API in-process against a fresh table in DynamoDB Local, seeded with the demo catalog and
 * keys. `wrapDoc` swaps the document client (fault injection); the clock is manual.
 */
export async function createTestContext(
  options: { start?: string; wrapDoc?: (doc: DynamoDBDocumentClient) => DynamoDBDocumentClient; modules?: AppModule[] } & Partial<Omit<RuntimeOptions, 'db' | 'clock'>> = {},
): Promise<TestContext> {
  const db = await createTestDb();
  const clock = manualClock(options.start ?? '2026-11-24T10:00:00Z');
  const keys = await seedDemo(db, clock());
  const runtimeDb = options.wrapDoc ? { ...db, doc: options.wrapDoc(db.doc) } : db;
  // Suites hammer the API and fill pools from one org: rate limits ×1000 and no hold limits unless a
  // test passes its own (test/integration/limits.*.test.ts test the real ones).
  const { app, deps } = createRuntime({ rateLimits: scaledRateLimits(1000), holdLimits: UNLIMITED_HOLDS, ...options, db: runtimeDb, clock, logger: options.logger ?? silentLogger });
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
  return { app, deps, db, keys, clock, call, close: () => db.drop() };
}

/** The next whole hour at least `hours` after the clock. */
export function hoursFrom(clock: ManualClock, hours: number): string {
  const h = Math.floor(clock().getTime() / 3_600_000) + hours;
  return new Date(h * 3_600_000).toISOString().replace('.000Z', 'Z');
}
