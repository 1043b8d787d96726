/**
 * Rate limits (README "Limits"). Fixed windows, each offset by a hash of its scope so that clients do
 * not all reset on the same second:
 *
 * - reads (GET, HEAD) per API key, counted in memory per instance (a Lambda instance serves one
 *   request at a time, so N warm instances allow at most N times the figure);
 * - writes per API key, per org (all its keys), quotes per org and webhook test/retry per org,
 *   counted in DynamoDB so they hold across instances: one conditional UpdateItem per write on one
 *   item per org (or platform key) and window;
 * - per client address: unauthenticated requests (public pages, failed authentication) in memory,
 *   portal sign-in and portal form posts in DynamoDB.
 *
 * Every response the limiter saw carries `RateLimit-Policy` and `RateLimit` (IETF httpapi draft,
 * structured-field lists); a refusal is `429 …/rate-limited` with `Retry-After`.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { countInWindow, rateScope, readWindow, type WindowCounter } from '#store/rate-limits.ts';
import type { Principal } from '#domain/principal.ts';
import type { AppEnv } from './context.ts';
import { MemoryWindows, clientAddress, refuse, setHeaders, windowOf, type Applied } from './rate-windows.ts';

export interface RateLimitConfig {
  /** Length of every window, in seconds. */
  windowSeconds: number;
  /** GET/HEAD per API key (memory, per instance). */
  keyReads: number;
  /** Writes per API key (shared). */
  keyWrites: number;
  /** Writes per org, all its keys together (shared). */
  orgWrites: number;
  /** `POST /v1/quotes` per org (shared). */
  quotes: number;
  /** Webhook `…/test` and `…/retry` per org (shared). */
  webhookTests: number;
  /** Writes per meter key: usage arrives in batches of up to 500 events (shared). */
  meterWrites: number;
  /** Unauthenticated requests per client address (memory, per instance). */
  addressReads: number;
  /** Portal form posts per client address (shared). */
  addressWrites: number;
  /** Portal sign-in attempts per client address (shared). */
  signIns: number;
}

/** The defaults: real limits, chosen in README "Limits". Tests and `npm start` may raise them. */
export const DEFAULT_RATE_LIMITS: RateLimitConfig = {
  windowSeconds: 60,
  keyReads: 1000,
  keyWrites: 300,
  orgWrites: 600,
  quotes: 120,
  webhookTests: 30,
  meterWrites: 600,
  addressReads: 1000,
  addressWrites: 300,
  signIns: 60,
};

/** Every count multiplied (the window kept): for test suites that hammer the API. */
export function scaledRateLimits(factor: number, base: RateLimitConfig = DEFAULT_RATE_LIMITS): RateLimitConfig {
  const out = { ...base };
  for (const k of Object.keys(out) as (keyof RateLimitConfig)[]) if (k !== 'windowSeconds') out[k] = Math.max(1, Math.round(base[k] * factor));
  return out;
}
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const QUOTE = /^\/v1\/quotes\/?$/;
const WEBHOOK_TEST = /^\/v1\/webhook-endpoints\/[^/]+\/(test|deliveries\/[^/]+\/retry)\/?$/;
const SIGN_IN = /^\/sign-in\/?$/;

/** The window a principal's writes count in: its org's (all the org's keys), or a key without an org its own. */
const writeScope = (principal: { keyId: string; orgId: string | null }) => (principal.orgId ? rateScope.org(principal.orgId) : rateScope.key(principal.keyId));

export interface RateLimiter {
  /** Mounted on every path before authentication: per-address limits for what ends unauthenticated. */
  byAddress: MiddlewareHandler<AppEnv>;
  /** Mounted on /v1 after authentication: per key and per org. */
  byPrincipal: MiddlewareHandler<AppEnv>;
  /**
   * Counts an action done for `principal` outside /v1 (a portal button) as the API write at `apiPath`
   * is counted, against the same per-key and per-org windows: null when allowed, else why not and
   * when to retry.
   */
  chargeWrite(c: Context<AppEnv>, principal: Principal, apiPath: string): Promise<WriteRefusal | null>;
}

/** A write the limits refused. */
export interface WriteRefusal {
  detail: string;
  retryAfterSeconds: number;
}

export function createRateLimiter(limits: RateLimitConfig, options: { exempt?: (path: string) => boolean } = {}): RateLimiter {
  const memory = new MemoryWindows();
  const w = limits.windowSeconds;

  /** Shared counters of one scope; `null` when DynamoDB refused (every counter as it stood). */
  async function shared(c: Context<AppEnv>, scope: string, counters: (WindowCounter & { policy: string })[]): Promise<{ applied: Applied[]; exhausted: Applied | null }> {
    const { db, clock } = c.get('deps');
    const win = windowOf(scope, clock().getTime(), w);
    const result = await countInWindow(db, scope, win.start, w, counters);
    const applied = counters.map((k) => ({
      name: k.policy,
      limit: k.limit,
      windowSeconds: w,
      remaining: k.limit - (result.counts[k.name] ?? 0),
      resetSeconds: win.resetSeconds,
    }));
    const exhausted = result.allowed ? null : (applied.find((a) => a.remaining <= 0) ?? applied[0]!);
    return { applied, exhausted };
  }

  const byAddress: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (options.exempt?.(c.req.path)) return next();
    const address = clientAddress(c);
    const { clock } = c.get('deps');
    let applied: Applied[] = [];
    if (c.req.method === 'POST' && !c.req.path.startsWith('/v1/')) {
      // Portal forms: sign-in is the stricter of the two (it is where keys would be guessed).
      const counters = [{ name: 'p', limit: limits.addressWrites, policy: 'address-writes' }];
      if (SIGN_IN.test(c.req.path)) counters.push({ name: 's', limit: limits.signIns, policy: 'sign-in' });
      const r = await shared(c, rateScope.address(address), counters);
      if (r.exhausted) return refuse(c, r.applied, r.exhausted);
      applied = r.applied;
    }
    const scope = `addr:${address}`;
    const win = windowOf(scope, clock().getTime(), w);
    const before = memory.peek(scope, win.start);
    const readPolicy = (used: number): Applied => ({ name: 'address', limit: limits.addressReads, windowSeconds: w, remaining: limits.addressReads - used, resetSeconds: win.resetSeconds });
    if (before >= limits.addressReads) return refuse(c, [...applied, readPolicy(before)], readPolicy(before));
    await next();
    if (c.get('principal')) return; // authenticated: counted per key by byPrincipal
    const used = memory.add(scope, win.start);
    setHeaders(c, [...applied, readPolicy(used)]);
  };

  const byPrincipal: MiddlewareHandler<AppEnv> = async (c, next) => {
    const principal = c.get('principal');
    if (!principal) return next();
    const { clock } = c.get('deps');
    let applied: Applied[];
    if (READ_METHODS.has(c.req.method)) {
      const scope = `key:${principal.keyId}`;
      const win = windowOf(scope, clock().getTime(), w);
      const before = memory.peek(scope, win.start);
      const policy = (used: number): Applied => ({ name: 'reads', limit: limits.keyReads, windowSeconds: w, remaining: limits.keyReads - used, resetSeconds: win.resetSeconds });
      if (before >= limits.keyReads) return refuse(c, [policy(before)], policy(before));
      applied = [policy(memory.add(scope, win.start))];
    } else {
      const r = await shared(c, writeScope(principal), writeCounters(principal, c.req.path));
      if (r.exhausted) return refuse(c, r.applied, r.exhausted);
      applied = r.applied;
    }
    await next();
    setHeaders(c, applied);
  };

  /** The shared counters a write of `principal` to `path` adds one to. */
  function writeCounters(principal: Principal, path: string): (WindowCounter & { policy: string })[] {
    const meter = principal.role === 'meter';
    const counters: (WindowCounter & { policy: string })[] = [{ name: `k#${principal.keyId}`, limit: meter ? limits.meterWrites : limits.keyWrites, policy: 'writes' }];
    if (principal.orgId) {
      counters.push({ name: 'org', limit: limits.orgWrites, policy: 'org-writes' });
      if (QUOTE.test(path)) counters.push({ name: 'quotes', limit: limits.quotes, policy: 'quotes' });
      if (WEBHOOK_TEST.test(path)) counters.push({ name: 'tests', limit: limits.webhookTests, policy: 'webhook-tests' });
    }
    return counters;
  }

  async function chargeWrite(c: Context<AppEnv>, principal: Principal, apiPath: string): Promise<WriteRefusal | null> {
    const r = await shared(c, writeScope(principal), writeCounters(principal, apiPath));
    if (!r.exhausted) return null;
    const e = r.exhausted;
    return { detail: `Rate limit "${e.name}" reached: ${e.limit} requests per ${e.windowSeconds} s; retry in ${e.resetSeconds} s`, retryAfterSeconds: e.resetSeconds };
  }

  return { byAddress, byPrincipal, chargeWrite };
}

/** The shared write counters of a principal's current window, for `GET /v1/limits`. */
export async function rateUsage(
  db: Parameters<typeof readWindow>[0],
  limits: RateLimitConfig,
  principal: { keyId: string; orgId: string | null },
  now: Date,
): Promise<{ name: string; limit: number; used: number; resetsAt: string }[]> {
  const scope = writeScope(principal);
  const win = windowOf(scope, now.getTime(), limits.windowSeconds);
  const counts = await readWindow(db, scope, win.start, [`k#${principal.keyId}`, 'org', 'quotes', 'tests']);
  const resetsAt = new Date((win.start + limits.windowSeconds) * 1000).toISOString();
  const per = `per-${limits.windowSeconds}s`;
  return [
    { name: `writes-${per}`, limit: limits.keyWrites, used: counts[`k#${principal.keyId}`] ?? 0, resetsAt },
    ...(principal.orgId
      ? [
          { name: `org-writes-${per}`, limit: limits.orgWrites, used: counts.org ?? 0, resetsAt },
          { name: `quotes-${per}`, limit: limits.quotes, used: counts.quotes ?? 0, resetsAt },
          { name: `webhook-tests-${per}`, limit: limits.webhookTests, used: counts.tests ?? 0, resetsAt },
        ]
      : []),
  ];
}
