/**
 * The typed SDK (clients/typescript) against the whole system on DynamoDB Local, through the app's own
 * fetch: the booking flow with the generated types, problem+json errors as ApiError, a retry after a
 * lost answer that reuses the Idempotency-Key (so it books once), Retry-After honoured, and
 * NetworkError once the retries are spent.
 */
import { ApiError, NetworkError, createGpuMarket, retryAfterMs, type Quote, type Reservation, type Schemas } from '../../clients/typescript/src/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemContext, type SystemContext } from '../support/system.ts';

let t: SystemContext;
beforeAll(async () => {
  t = await createSystemContext();
});
afterAll(async () => {
  await t?.close();
});

const BASE = 'http://gpu-market.test';
const appFetch = async (request: Request) => t.system.app.fetch(request);
const WINDOW = { site: 'valence-rovaltain', gpuType: 'h200-sxm-141gb', start: '2026-12-20T00:00:00Z', end: '2026-12-21T00:00:00Z' };

describe('the SDK', () => {
  it('books with the generated types and throws problems as ApiError', async () => {
    const sdk = createGpuMarket({ baseUrl: BASE, apiKey: t.keys.customer, fetch: appFetch });
    const me: Schemas['Me'] = await sdk.me();
    expect(me.org?.tax).toEqual({ treatment: 'fr_vat', rateBps: 2000, legalMention: null });
    const pool = (await sdk.pools({ site: WINDOW.site, gpuType: WINDOW.gpuType })).data[0]!;
    const quote: Quote = await sdk.quote({ ...WINDOW, gpus: pool.minGpus });
    const held: Reservation = await sdk.hold(quote.id);
    expect(held.status).toBe('held');
    const confirmed = await sdk.confirm(held.id);
    expect(confirmed).toMatchObject({ status: 'confirmed', price: quote.total });

    const error = await sdk.quote({ ...WINDOW, gpus: pool.totalGpus }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 409, code: 'capacity-unavailable' });
    const invalid = (await sdk.quote({ ...WINDOW, gpus: 0 }).catch((e: unknown) => e)) as ApiError;
    expect(invalid.status).toBe(400);
    expect(invalid.errors.map((e) => e.path)).toContain('gpus');
    expect(invalid.requestId).toBeTruthy();
  });

  it('retries a write whose answer was lost with the same Idempotency-Key: one reservation, not two', async () => {
    const seen: string[] = [];
    let dropped = false;
    const flaky = async (request: Request) => {
      if (request.method === 'POST') seen.push(request.headers.get('idempotency-key')!);
      const response = await appFetch(request);
      if (request.method === 'POST' && new URL(request.url).pathname === '/v1/reservations' && !dropped) {
        dropped = true; // the server did the work; the client never hears back
        throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
      }
      return response;
    };
    const delays: number[] = [];
    const sdk = createGpuMarket({ baseUrl: BASE, apiKey: t.keys.customer2, fetch: flaky, sleep: async (ms) => void delays.push(ms) });
    const quote = await sdk.quote({ ...WINDOW, gpus: 8 });
    const before = (await sdk.reservations()).data.length;
    const held = await sdk.hold(quote.id);
    expect(seen).toHaveLength(3); // the quote, then the hold twice
    expect(seen[1]).toBe(seen[2]);
    expect(seen[0]).not.toBe(seen[1]);
    expect(delays).toHaveLength(1);
    const after = await sdk.reservations();
    expect(after.data).toHaveLength(before + 1);
    expect(after.data[0]!.id).toBe(held.id);
    await sdk.cancel(held.id, { idempotencyKey: 'cancel-once' });
    // A key of the caller's own is sent as given.
    const again = await sdk.cancel(held.id, { idempotencyKey: 'cancel-once' });
    expect(again.status).toBe('cancelled');
  });

  it('waits what Retry-After says on 429 and 503, and gives up on a wait longer than allowed', async () => {
    const delays: number[] = [];
    let calls = 0;
    const limited = async (request: Request) => {
      calls++;
      if (calls === 1) return new Response(JSON.stringify({ type: 'https://gpu-market.example/problems/rate-limited', title: 'Too many requests', status: 429, detail: 'slow down' }), { status: 429, headers: { 'content-type': 'application/problem+json', 'retry-after': '2' } });
      return appFetch(request);
    };
    const sdk = createGpuMarket({ baseUrl: BASE, apiKey: t.keys.customer, fetch: limited, sleep: async (ms) => void delays.push(ms) });
    expect((await sdk.sites()).data.length).toBeGreaterThan(0);
    expect(delays).toEqual([2000]);

    const busy = createGpuMarket({
      baseUrl: BASE,
      apiKey: t.keys.customer,
      maxDelayMs: 5000,
      sleep: async () => {},
      fetch: async () => new Response(JSON.stringify({ type: 'https://gpu-market.example/problems/contention', title: 'Temporarily contended, retry', status: 503, detail: 'busy' }), { status: 503, headers: { 'content-type': 'application/problem+json', 'retry-after': '60' } }),
    });
    const error = (await busy.sites().catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 503, code: 'contention', retryAfterSeconds: 60 });
    expect(retryAfterMs('Wed, 01 Jan 2031 00:00:10 GMT', Date.parse('2031-01-01T00:00:00Z'))).toBe(10_000);
  });

  it('throws NetworkError when the API cannot be reached after the retries', async () => {
    let attempts = 0;
    const sdk = createGpuMarket({
      baseUrl: BASE,
      apiKey: t.keys.customer,
      retries: 2,
      sleep: async () => {},
      fetch: async () => {
        attempts++;
        throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      },
    });
    const error = await sdk.sites().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(attempts).toBe(3);
  });
});
