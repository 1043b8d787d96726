/**
 * Offer search cost through the HTTP app (autocannon against @hono/node-server) on DynamoDB Local:
 *   - baseline: a 30-day hourly availability query of one pool;
 *   - a 64-GPU, 72-hour offer search over every pool of a GPU type (3 sites) across the next 180 days.
 * Both run in the same process, alternated (baseline, search, baseline, search) after a warm-up, with
 * reservations booked across the range so that the search has load to rank. The goal: the search runs
 * at ≥ 0.5 × the baseline's rate.
 *
 *   npx tsx bench/offers.ts [--reservations 90] [--seconds 5] [--rounds 2]
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { serve } from '@hono/node-server';
import { freePort, startDynamoDbLocal } from '../scripts/dynamodb-local.ts';
import { createServices } from '../shared/compose/services.ts';
import { createApp } from '../shared/http/app.ts';
import { createIdGenerator, systemClock } from '../shared/ids.ts';
import { silentLogger } from '../shared/log.ts';
import { scaledRateLimits } from '../shared/http/rate-limit.ts';
import { seedDemo } from '../shared/store/seed.ts';
import { createDocumentClient, ensureTable } from '../shared/store/db.ts';

const { values } = parseArgs({
  options: { reservations: { type: 'string', default: '90' }, seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '2' } },
});
const RESERVATIONS = Number(values.reservations);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);

const dynamo = await startDynamoDbLocal({ port: await freePort() });
const doc = createDocumentClient({ endpoint: dynamo.endpoint });
const db = { doc, table: 'bench-offers' };
await ensureTable(doc, db.table);
const keys = await seedDemo(db, new Date());
// The rate limiter would answer 429 to a benchmark's flood; scale it out of the way.
const app = createApp(createServices({ db, clock: systemClock, ids: createIdGenerator(), logger: silentLogger }), { rateLimits: scaledRateLimits(1_000_000) });
const port = await freePort();
const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
const base = `http://127.0.0.1:${port}`;
const auth = { authorization: `Bearer ${keys.customer}` };

const GPU_TYPE = 'h200-sxm-141gb';
const hour = (n: number) => new Date((Math.floor(Date.now() / 3_600_000) + n) * 3_600_000).toISOString();
const availability = `/v1/availability?site=valence-rovaltain&gpuType=${GPU_TYPE}&start=${hour(24)}&end=${hour(24 * 31)}`;
const offers = `/v1/offers?gpuType=${GPU_TYPE}&gpus=64&durationHours=72&latestEnd=${hour(24 * 180)}`;

async function book(n: number) {
  const sites = ['valence-rovaltain', 'marseille'];
  for (let i = 0; i < n; i++) {
    const start = 24 + ((i * 37) % (24 * 170));
    const q = await app.request('/v1/quotes', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ site: sites[i % 2], gpuType: GPU_TYPE, gpus: 64 + 8 * (i % 8), start: hour(start), end: hour(start + 24 + (i % 5) * 12) }),
    });
    const quote = (await q.json()) as { id: string };
    const r = await app.request('/v1/reservations', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ quoteId: quote.id }) });
    if (r.status !== 201) throw new Error(`booking ${i} failed: ${r.status} ${await r.text()}`);
  }
}

async function measure(path: string) {
  const r = await autocannon({ url: base + path, headers: auth, connections: 8, duration: SECONDS });
  if (r.non2xx > 0) throw new Error(`${path}: ${r.non2xx} non-2xx answers`);
  if (r.requests.total === 0) throw new Error(`${path}: no answer within ${SECONDS} s; the machine is too loaded to measure, raise --seconds`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

await book(RESERVATIONS);
const sample = (await (await app.request(offers, { headers: auth })).json()) as { data: unknown[] };
if (sample.data.length !== 10) throw new Error(`expected 10 offers, got ${sample.data.length}`);
// Warm up the JIT and DynamoDB Local's JVM on both shapes before measuring.
await autocannon({ url: base + availability, headers: auth, connections: 8, duration: 3 });
await autocannon({ url: base + offers, headers: auth, connections: 8, duration: 3 });

const runs: { baseline: Awaited<ReturnType<typeof measure>>; search: Awaited<ReturnType<typeof measure>> }[] = [];
for (let i = 0; i < ROUNDS; i++) runs.push({ baseline: await measure(availability), search: await measure(offers) });

const sum = (f: (r: (typeof runs)[number]) => number) => runs.reduce((s, r) => s + f(r), 0);
const baselineRps = sum((r) => r.baseline.rps) / runs.length;
const searchRps = sum((r) => r.search.rps) / runs.length;
console.log(`\nOffer search vs availability (autocannon, 8 connections, ${SECONDS} s × ${ROUNDS} rounds each, ${RESERVATIONS} reservations, DynamoDB Local)\n`);
console.log('| query | req/s | p50 ms | p99 ms |');
console.log('|---|---:|---:|---:|');
runs.forEach((r, i) => {
  console.log(`| availability, 1 pool, 30 days hourly (round ${i + 1}) | ${r.baseline.rps.toFixed(0)} | ${r.baseline.p50} | ${r.baseline.p99} |`);
  console.log(`| offers, 64 GPUs × 72 h, 3 pools, 180 days (round ${i + 1}) | ${r.search.rps.toFixed(0)} | ${r.search.p50} | ${r.search.p99} |`);
});
console.log(`\nratio (offers / availability, goal ≥ 0.5): ${(searchRps / baselineRps).toFixed(2)} (per round: ${runs.map((r) => (r.search.rps / r.baseline.rps).toFixed(2)).join(', ')})`);

server.close();
doc.destroy();
await dynamo.stop();
