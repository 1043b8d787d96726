/**
 * Availability queries through the HTTP app (autocannon against @hono/node-server) on DynamoDB Local.
 * Shows that the cost grows with the window and not with the number of reservations in it:
 *   - baseline: a 7-day window on an empty pool;
 *   - the same window after N reservations were booked in it (ratio should stay ≈ 1);
 *   - a 365-day window (ratio grows with the buckets read: 28 instead of 1-2).
 *
 *   npx tsx bench/availability.ts [--reservations 120] [--seconds 5]
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { serve } from '@hono/node-server';
import { freePort, startDynamoDbLocal } from '../scripts/dynamodb-local.ts';
import { createServices } from '../shared/compose/services.ts';
import { createApp } from '../shared/http/app.ts';
import { scaledRateLimits } from '../shared/http/rate-limit.ts';
import { createIdGenerator, systemClock } from '../shared/ids.ts';
import { silentLogger } from '../shared/log.ts';
import { seedDemo } from '../shared/store/seed.ts';
import { createDocumentClient, ensureTable } from '../shared/store/db.ts';

const { values } = parseArgs({ options: { reservations: { type: 'string', default: '120' }, seconds: { type: 'string', default: '5' } } });
const RESERVATIONS = Number(values.reservations);
const SECONDS = Number(values.seconds);

const dynamo = await startDynamoDbLocal({ port: await freePort() });
const doc = createDocumentClient({ endpoint: dynamo.endpoint });
const db = { doc, table: 'bench-availability' };
await ensureTable(doc, db.table);
const keys = await seedDemo(db, new Date());
const app = createApp(createServices({ db, clock: systemClock, ids: createIdGenerator(), logger: silentLogger }), { rateLimits: scaledRateLimits(1_000_000) });
const port = await freePort();
const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
const base = `http://127.0.0.1:${port}`;
const auth = { authorization: `Bearer ${keys.customer}` };

const hour = (n: number) => new Date((Math.floor(Date.now() / 3_600_000) + n) * 3_600_000).toISOString();
const windowStart = hour(24 * 30);
const week = `/v1/availability?site=valence-rovaltain&gpuType=h100-sxm-80gb&start=${windowStart}&end=${hour(24 * 37)}`;
const year = `/v1/availability?site=valence-rovaltain&gpuType=h100-sxm-80gb&start=${windowStart}&end=${hour(24 * 30 + 24 * 364)}&granularity=day`;

async function measure(path: string) {
  const r = await autocannon({ url: base + path, headers: auth, connections: 8, duration: SECONDS });
  if (r.non2xx > 0) throw new Error(`${path}: ${r.non2xx} non-2xx answers`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

async function book(n: number) {
  for (let i = 0; i < n; i++) {
    const start = 24 * 30 + (i % 150);
    const q = await app.request('/v1/quotes', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: hour(start), end: hour(start + 3) }),
    });
    const quote = (await q.json()) as { id: string };
    const r = await app.request('/v1/reservations', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ quoteId: quote.id }) });
    if (r.status !== 201) throw new Error(`booking ${i} failed: ${r.status} ${await r.text()}`);
  }
}

// Warm up the JIT and DynamoDB Local's JVM on both shapes before measuring.
await autocannon({ url: base + week, headers: auth, connections: 8, duration: 3 });
await autocannon({ url: base + year, headers: auth, connections: 8, duration: 3 });
const empty = await measure(week);
await book(RESERVATIONS);
const booked = await measure(week);
const longWindow = await measure(year);

const row = (name: string, m: { rps: number; p50: number; p99: number }) =>
  `| ${name} | ${m.rps.toFixed(0)} | ${(m.rps / empty.rps).toFixed(2)} | ${m.p50} | ${m.p99} |`;
console.log(`\nAvailability query cost (autocannon, 8 connections, ${SECONDS} s each, DynamoDB Local)\n`);
console.log('| query | req/s | ratio to baseline | p50 ms | p99 ms |');
console.log('|---|---|---|---|---|');
console.log(row('7 days, hourly, empty pool (baseline)', empty));
console.log(row(`7 days, hourly, ${RESERVATIONS} reservations in the window`, booked));
console.log(row('364 days, daily', longWindow));

server.close();
doc.destroy();
await dynamo.stop();
