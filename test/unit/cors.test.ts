/**
 * CORS (shared/http/cors.ts): the origins of CORS_ORIGINS get `Access-Control-Allow-Origin` and a
 * preflight answer that lets the SDK send its headers and read Retry-After and the rate-limit headers;
 * any other origin gets no CORS header at all, and without CORS_ORIGINS no answer carries one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createSystem } from '../../shared/compose/system.ts';
import { parseConfig } from '../../shared/config.ts';

// No database call happens here: preflights are answered before authentication, and a request
// without credentials is refused before any read.
const systemWith = (env: Record<string, string>) => createSystem({ config: parseConfig({ LOG_LEVEL: 'SILENT', DYNAMODB_ENDPOINT: 'http://127.0.0.1:9', ...env }) });
const allowed = systemWith({ CORS_ORIGINS: 'http://localhost:5173, https://app.example' });
const closed = systemWith({});
afterAll(() => {
  allowed.services.db.doc.destroy();
  closed.services.db.doc.destroy();
});

const preflight = (origin: string, method = 'POST') => ({
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type, idempotency-key' },
});

describe('CORS', () => {
  it('answers an allowed origin’s preflight with its origin, the methods and headers the SDK sends, credentials', async () => {
    const res = await allowed.app.request('/v1/quotes', preflight('http://localhost:5173', 'PATCH'));
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(res.headers.get('access-control-allow-methods')?.split(',')).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']));
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase().split(',')).toEqual(expect.arrayContaining(['authorization', 'content-type', 'idempotency-key']));
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
  });

  it('lets an allowed origin’s scripts read Retry-After, the rate-limit headers and the request id', async () => {
    const res = await allowed.app.request('/v1/pools', { headers: { origin: 'https://app.example' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(res.headers.get('access-control-expose-headers')?.split(',')).toEqual(expect.arrayContaining(['retry-after', 'ratelimit', 'ratelimit-policy', 'x-request-id']));
  });

  it('gives any other origin no CORS header, preflight or not', async () => {
    for (const res of [await allowed.app.request('/v1/quotes', preflight('https://evil.example')), await allowed.app.request('/v1/pools', { headers: { origin: 'https://evil.example' } })]) {
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('sends no CORS header at all without CORS_ORIGINS', async () => {
    const res = await closed.app.request('/v1/quotes', preflight('http://localhost:5173'));
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.status).not.toBe(204);
  });
});
