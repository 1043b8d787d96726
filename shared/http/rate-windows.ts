/**
 * The rate limiter's windows and headers (rate-limit.ts): fixed windows offset by a hash of their
 * scope, the per-instance counters of the in-memory limits, the client address a limit counts, and
 * the `RateLimit-Policy` / `RateLimit` headers and 429 answer.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import type { AppEnv } from './context.ts';
import { problemBody, problemResponse } from './problem-body.ts';

/** One policy as it applied to this request: what the headers report. */
export interface Applied {
  name: string;
  limit: number;
  windowSeconds: number;
  remaining: number;
  resetSeconds: number;
}

/** Seconds into its window a scope's windows start: spreads resets over the window. */
function offsetOf(scope: string, windowSeconds: number): number {
  return createHash('sha256').update(scope).digest().readUInt32BE(0) % windowSeconds;
}

export function windowOf(scope: string, nowMs: number, windowSeconds: number): { start: number; resetSeconds: number } {
  const now = Math.floor(nowMs / 1000);
  const offset = offsetOf(scope, windowSeconds);
  const start = Math.floor((now - offset) / windowSeconds) * windowSeconds + offset;
  return { start, resetSeconds: Math.max(1, start + windowSeconds - now) };
}

/** Per-instance fixed-window counters (reads). Bounded: expired windows are dropped as it grows. */
export class MemoryWindows {
  private readonly counts = new Map<string, { start: number; n: number }>();
  constructor(private readonly maxEntries = 50_000) {}

  /** The count of this window so far (0 if none). */
  peek(scope: string, start: number): number {
    const e = this.counts.get(scope);
    return e && e.start === start ? e.n : 0;
  }

  add(scope: string, start: number): number {
    const e = this.counts.get(scope);
    if (e && e.start === start) return ++e.n;
    if (this.counts.size >= this.maxEntries) this.prune(start);
    this.counts.set(scope, { start, n: 1 });
    return 1;
  }

  private prune(now: number): void {
    for (const [k, v] of this.counts) if (v.start < now - 3600) this.counts.delete(k);
    if (this.counts.size >= this.maxEntries) this.counts.clear();
  }
}

/**
 * The client's address as the platform saw it: API Gateway's `sourceIp` in Lambda, the socket's
 * peer under `npm start`. Never a client-sent header (`x-forwarded-for` is whatever the client says).
 */
export function clientAddress(c: Context<AppEnv>): string {
  const env = c.env as
    | { requestContext?: { http?: { sourceIp?: string }; identity?: { sourceIp?: string } }; incoming?: { socket?: { remoteAddress?: string } } }
    | undefined;
  return env?.requestContext?.http?.sourceIp ?? env?.requestContext?.identity?.sourceIp ?? env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/** `RateLimit-Policy` and `RateLimit` field values (structured-field lists). */
export function rateLimitHeaders(applied: Applied[]): { policy: string; state: string } {
  return {
    policy: applied.map((a) => `"${a.name}";q=${a.limit};w=${a.windowSeconds}`).join(', '),
    state: applied.map((a) => `"${a.name}";r=${Math.max(0, a.remaining)};t=${a.resetSeconds}`).join(', '),
  };
}

export function refuse(c: Context<AppEnv>, applied: Applied[], exhausted: Applied): Response {
  const { policy, state } = rateLimitHeaders(applied);
  const detail = `Rate limit "${exhausted.name}" reached: ${exhausted.limit} requests per ${exhausted.windowSeconds} s; retry in ${exhausted.resetSeconds} s`;
  return problemResponse(problemBody('rate_limited', detail, { requestId: c.get('requestId') }), {
    'retry-after': String(exhausted.resetSeconds),
    'ratelimit-policy': policy,
    ratelimit: state,
  });
}

export function setHeaders(c: Context<AppEnv>, applied: Applied[]): void {
  if (applied.length === 0) return;
  const { policy, state } = rateLimitHeaders(applied);
  c.res.headers.set('ratelimit-policy', policy);
  c.res.headers.set('ratelimit', state);
}
