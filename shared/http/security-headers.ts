/**
 * Headers every response carries (README "Headers"): nosniff, HSTS, a CSP (pages set their own; API
 * answers get one that allows nothing), no framing, no referrer, and `Cache-Control: no-store` on
 * every answer to a request that carried credentials unless the route chose otherwise.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';

export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
export const HSTS = 'max-age=63072000; includeSubDomains';

export const securityHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  const h = c.res.headers;
  h.set('x-content-type-options', 'nosniff');
  h.set('strict-transport-security', HSTS);
  if (!h.has('content-security-policy')) h.set('content-security-policy', API_CSP);
  if (!h.has('x-frame-options')) h.set('x-frame-options', 'DENY');
  if (!h.has('referrer-policy')) h.set('referrer-policy', 'no-referrer');
  const credentialed = c.get('principal') !== null || c.req.header('authorization') !== undefined || c.req.header('cookie') !== undefined;
  if (credentialed && !h.has('cache-control')) h.set('cache-control', 'no-store');
};
