/**
 * Issue 15, finding 8 (OWASP API8, API2) and the compression half of finding 6: a self-hosted
 * reference at /docs (no CDN, no script, its own CSP), nosniff, HSTS and a CSP on every answer,
 * `no-store` on authenticated JSON, case-insensitive `Bearer`, compressed answers.
 */
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPortalModule } from '../../shared/portal/module.tsx';
import { createTestContext, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ modules: [createPortalModule()] });
});
afterAll(() => t.close());

describe('headers and edges', () => {
  it('serves the API reference itself: no CDN, no script, works offline, under a strict CSP', async () => {
    const docs = await t.call('GET', '/docs', { key: null });
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toContain('text/html');
    expect(docs.text).not.toMatch(/<script/i);
    expect(docs.text).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(docs.text).toContain('href="/docs.css"');
    expect(docs.text).toContain('/openapi.json');
    const spec = (await t.call('GET', '/openapi.json', { key: null })).body;
    for (const item of Object.values(spec.paths as Record<string, Record<string, { operationId: string }>>)) {
      for (const op of Object.values(item)) expect(docs.text, op.operationId).toContain(`id="op-${op.operationId}"`);
    }
    const csp = docs.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/script-src|https:|\*/);
    const css = await t.call('GET', '/docs.css', { key: null });
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
  });

  it('every answer carries nosniff, HSTS and a CSP; authenticated JSON is no-store', async () => {
    for (const [path, key] of [['/v1/pools', t.keys.customer], ['/v1/reservations', t.keys.customer], ['/v1/nope', t.keys.customer], ['/v1/pools', null], ['/healthz', null], ['/openapi.json', null], ['/sign-in', null]] as const) {
      const res = await t.call('GET', path, { key });
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('strict-transport-security'), path).toMatch(/^max-age=\d{8,}; includeSubDomains$/);
      expect(res.headers.get('content-security-policy'), path).toContain("default-src 'none'");
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      if (key) expect(res.headers.get('cache-control'), path).toBe('no-store');
    }
  });

  it('accepts the Bearer scheme in any case', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const res = await t.call('GET', '/v1/pools', { key: null, headers: { authorization: `${scheme} ${t.keys.customer}` } });
      expect(res.status, scheme).toBe(200);
    }
    expect((await t.call('GET', '/v1/pools', { key: null, headers: { authorization: `Basic ${t.keys.customer}` } })).status).toBe(401);
  });

  it('compresses answers for clients that accept it', async () => {
    const res = await t.app.request('/openapi.json', { headers: { 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const zipped = Buffer.from(await res.arrayBuffer());
    const plain = gunzipSync(zipped);
    expect(JSON.parse(plain.toString('utf8')).openapi).toBe('3.1.0');
    expect(zipped.length).toBeLessThan(plain.length / 4);
    const availability = await t.app.request(
      '/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=2026-12-01T00:00:00Z&end=2026-12-31T00:00:00Z&granularity=hour',
      { headers: { authorization: `Bearer ${t.keys.customer}`, 'accept-encoding': 'gzip' } },
    );
    expect(availability.status).toBe(200);
    expect(availability.headers.get('content-encoding')).toBe('gzip');
  });
});
