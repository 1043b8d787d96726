/**
 * The SDK in a web page: clients/typescript bundled by esbuild for the browser platform (no Node
 * built-in may be needed), loaded by a page in Chromium (Debian's, through playwright-core) from
 * another origin than the API's, and used there to book with the customer's key: quote → hold →
 * confirm, a refusal thrown as ApiError with its problem. The API allows the page's origin through
 * CORS_ORIGINS; the browser's own CORS checks run (no web-security flag), so the preflights of the
 * SDK's headers (authorization, content-type, idempotency-key) are really answered.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/dynamodb-local.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../support/browser.ts';
import { createSystemContext, type SystemContext } from '../support/system.ts';

const ROOT = resolve(import.meta.dirname, '../..');
let t: SystemContext;
let api: string;
let page: Server;
let pageOrigin: string;
let browser: Browser;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [join(ROOT, 'clients', 'typescript', 'src', 'index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'GpuMarketSdk',
    target: ['chrome110', 'firefox110', 'safari16'],
    write: false,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.text;
  const port = await freePort();
  pageOrigin = `http://127.0.0.1:${port}`;
  page = createServer((req, res) => {
    if (req.url === '/sdk.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>SDK</title><script src="/sdk.js"></script>');
  });
  await new Promise<void>((r) => page.listen(port, '127.0.0.1', r));
  t = await createSystemContext({ env: { CORS_ORIGINS: pageOrigin } });
  api = (await t.listen()).replace('127.0.0.1', 'localhost'); // another origin than the page's
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (page ? page.close(() => r()) : r()));
  await t?.close();
});

describe('the SDK in a browser', () => {
  it('books from a page of another origin, and throws a refusal as ApiError', { timeout: 120_000 }, async () => {
    const tab = await (await browser.newContext()).newPage();
    await tab.goto(pageOrigin);
    const result = await tab.evaluate(
      async ({ api, key }) => {
        const { createGpuMarket, ApiError } = (window as unknown as { GpuMarketSdk: typeof import('../../clients/typescript/src/index.ts') }).GpuMarketSdk;
        const gm = createGpuMarket({ baseUrl: api, apiKey: key });
        const window_ = { site: 'valence-rovaltain', gpuType: 'h200-sxm-141gb', start: '2026-12-20T00:00:00Z', end: '2026-12-21T00:00:00Z' };
        const pool = (await gm.pools({ site: window_.site, gpuType: window_.gpuType })).data[0]!;
        const quote = await gm.quote({ ...window_, gpus: pool.minGpus });
        const held = await gm.hold(quote.id);
        const confirmed = await gm.confirm(held.id);
        const refusal = await gm.quote({ ...window_, gpus: pool.totalGpus * 2 }).catch((e: unknown) => e);
        return {
          origin: window.location.origin,
          quoteTotal: quote.total,
          status: confirmed.status,
          price: confirmed.price,
          refusal: refusal instanceof ApiError ? { status: refusal.status, code: refusal.code, paths: refusal.errors.map((e) => e.path) } : String(refusal),
        };
      },
      { api, key: t.keys.customer },
    );
    expect(result.origin).toBe(pageOrigin);
    expect(new URL(api).origin).not.toBe(pageOrigin);
    expect(result.status).toBe('confirmed');
    expect(result.price).toEqual(result.quoteTotal);
    expect(result.refusal).toMatchObject({ status: expect.any(Number), code: expect.any(String) });
    expect((result.refusal as { status: number }).status).toBeGreaterThanOrEqual(400);
    const booked = await fetch(`${api}/v1/reservations`, { headers: { authorization: `Bearer ${t.keys.customer}` } }).then((r) => r.json() as Promise<{ data: { status: string }[] }>);
    expect(booked.data.filter((r) => r.status === 'confirmed')).toHaveLength(1);
  });

  it('is refused by the browser from an origin the API does not allow', { timeout: 60_000 }, async () => {
    const tab = await (await browser.newContext()).newPage();
    await tab.goto(pageOrigin.replace('127.0.0.1', 'localhost')); // same page, an origin not in CORS_ORIGINS
    const error = await tab.evaluate(
      async ({ api, key }) => {
        const { createGpuMarket } = (window as unknown as { GpuMarketSdk: typeof import('../../clients/typescript/src/index.ts') }).GpuMarketSdk;
        const gm = createGpuMarket({ baseUrl: api, apiKey: key, retries: 0 });
        return gm.pools().then(
          () => 'answered',
          (e: Error) => e.name,
        );
      },
      { api, key: t.keys.customer },
    );
    expect(error).toBe('NetworkError');
  });
});
