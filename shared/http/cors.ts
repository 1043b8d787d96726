/**
 * CORS for browser clients of the API on another origin (the TypeScript SDK in a web page). Only the
 * origins of `CORS_ORIGINS` are allowed (none by default: the portal is served by the API itself and
 * needs none); in AWS, API Gateway's CORS configuration (stage `portalOrigins`) answers the same way
 * in front of the Lambda. The headers a client needs to retry well are exposed to scripts.
 */
import { cors } from 'hono/cors';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';

export const CORS_ALLOW_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
export const CORS_ALLOW_HEADERS = ['authorization', 'content-type', 'idempotency-key'];
export const CORS_EXPOSE_HEADERS = ['location', 'retry-after', 'ratelimit', 'ratelimit-policy', 'x-request-id'];

/** The middleware; a no-op without origins (no `Access-Control-*` header is ever sent then). */
export function corsFor(origins: readonly string[]): MiddlewareHandler<AppEnv> {
  if (origins.length === 0) return async (_c, next) => next();
  const allowed = new Set(origins);
  const handler = cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: CORS_ALLOW_METHODS,
    allowHeaders: CORS_ALLOW_HEADERS,
    exposeHeaders: CORS_EXPOSE_HEADERS,
    credentials: true,
    maxAge: 3600,
  }) as MiddlewareHandler<AppEnv>;
  // Another origin (or none) gets no Access-Control-* header at all, and its preflight goes on like
  // any request (answered 401 or 404, never 204).
  return async (c, next) => (allowed.has(c.req.header('origin') ?? '') ? handler(c, next) : next());
}

/** `CORS_ORIGINS` (comma list of `scheme://host[:port]`) as a list. */
export function parseCorsOrigins(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
