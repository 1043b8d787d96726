/**
 * Issue 15, finding 6: a 366-day hourly availability answer was 6.0 MB, just under Lambda's 6 MB
 * response limit, so one more pool would have broken it in AWS. Answers are now paged by whole pools
 * under a slot budget, and compressed when the client accepts it.
 */
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_AVAILABILITY_SLOTS_PER_PAGE } from '../../shared/services/availability.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

const LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024;
const START = '2026-12-01T00:00:00Z';
const END = '2027-12-02T00:00:00Z'; // 366 days
const query = (extra = '') => `/v1/availability?start=${START}&end=${END}&granularity=hour${extra}`;

let t: TestContext;
let poolCount: number;
beforeAll(async () => {
  t = await createTestContext({ start: '2026-11-24T10:00:00Z' });
  poolCount = (await t.call('GET', '/v1/pools')).body.data.length;
});
afterAll(() => t.close());

type Page = { pools: { poolId: string; slots: unknown[] }[]; nextCursor: string | null };

describe('a 366-day hourly availability answer', () => {
  it('comes in pages far under 6 MB that together hold every pool once, every hour of the window', async () => {
    expect(poolCount).toBeGreaterThan(1);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    let largest = 0;
    do {
      const res: { status: number; text: string; body: Page } = await t.call('GET', query(cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''));
      expect(res.status).toBe(200);
      pages++;
      largest = Math.max(largest, Buffer.byteLength(res.text));
      expect(Buffer.byteLength(res.text)).toBeLessThan(LAMBDA_RESPONSE_LIMIT / 6);
      expect(res.body.pools.reduce((n, p) => n + p.slots.length, 0)).toBeLessThanOrEqual(MAX_AVAILABILITY_SLOTS_PER_PAGE);
      for (const pool of res.body.pools) {
        expect(pool.slots).toHaveLength(366 * 24);
        seen.push(pool.poolId);
      }
      cursor = res.body.nextCursor;
    } while (cursor && pages < 100);
    expect(cursor).toBeNull();
    expect(seen).toHaveLength(poolCount);
    expect(new Set(seen).size).toBe(poolCount);
    expect([...seen]).toEqual([...seen].sort());
    expect(pages).toBe(poolCount);
    // What one answer would have been: every pool at once, several times this page.
    expect(largest * poolCount).toBeGreaterThan(LAMBDA_RESPONSE_LIMIT * 0.75);
  });

  it('is gzip-compressed for a client that accepts it, and the JSON inside is the same', async () => {
    const plain = await t.call('GET', query());
    const res = await t.app.request(query(), { headers: { authorization: `Bearer ${t.keys.customer}`, 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const zipped = Buffer.from(await res.arrayBuffer());
    expect(zipped.length).toBeLessThan(Buffer.byteLength(plain.text) / 10);
    const inside = JSON.parse(gunzipSync(zipped).toString('utf8')) as Page;
    expect(inside.pools.map((p) => p.poolId)).toEqual(plain.body.pools.map((p: { poolId: string }) => p.poolId));
  });

  it('short windows and filtered queries still come in one answer', async () => {
    const week = await t.call('GET', '/v1/availability?start=2026-12-01T00:00:00Z&end=2026-12-08T00:00:00Z');
    expect(week.status).toBe(200);
    expect(week.body.pools).toHaveLength(poolCount);
    expect(week.body.nextCursor).toBeNull();
    const year = await t.call('GET', query('&site=marseille&gpuType=b200-sxm-192gb'));
    expect(year.body.pools).toHaveLength(1);
    expect(year.body.nextCursor).toBeNull();
  });
});

describe('availability cursors', () => {
  it('are opaque, refused when changed, and refused for another query', async () => {
    const first = await t.call('GET', query());
    const cursor: string = first.body.nextCursor;
    expect(cursor).toMatch(/^c1\.[A-Za-z0-9_-]+$/);
    expect(Buffer.from(cursor.slice(3), 'base64url').toString('latin1')).not.toContain(first.body.pools[0].poolId);
    const flipped = cursor.slice(0, -2) + (cursor.at(-2) === 'A' ? 'B' : 'A') + cursor.at(-1);
    for (const bad of [flipped, 'c1.AAAA', 'not-a-cursor', Buffer.from(JSON.stringify({ pk: 'CATALOG' })).toString('base64url')]) {
      const res = await t.call('GET', query(`&cursor=${encodeURIComponent(bad)}`));
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.errors[0].path).toBe('cursor');
    }
    const otherWindow = await t.call('GET', `/v1/availability?start=${START}&end=2027-12-01T00:00:00Z&granularity=hour&cursor=${encodeURIComponent(cursor)}`);
    expect(otherWindow.status).toBe(400);
    expect(otherWindow.body.errors[0].path).toBe('cursor');
  });
});
