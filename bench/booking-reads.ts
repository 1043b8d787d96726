/**
 * The read side of a booking (issue 14 item 4): quote, hold and a 30-day availability query, each
 * against the cost of one authenticated single-item read (`GET /v1/reservations/{id}`) measured in
 * the same run, through the HTTP app (autocannon against @hono/node-server) on DynamoDB Local.
 * `/healthz` is shown too (one GetItem, no authentication).
 *
 *   npx tsx bench/booking-reads.ts [--connections 16] [--seconds 5]
 *
 * Quotes ask for distinct one-hour windows of the Valence H100 pool; the hold phase then holds the
 * quotes the quote phase made (so it stops early if it runs out of them). Starts (and stops) its own
 * DynamoDB Local. Goals: quote ≥ 0.6 ×, hold ≥ 0.4 ×, availability ≥ 0.9 × the single-item read.
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

const { values } = parseArgs({ options: { connections: { type: 'string', default: '16' }, seconds: { type: 'string', default: '5' } } });
const CONNECTIONS = Number(values.connections);
const SECONDS = Number(values.seconds);

const dynamo = await startDynamoDbLocal({ port: await freePort() });
const doc = createDocumentClient({ endpoint: dynamo.endpoint });
const db = { doc, table: 'bench-booking-reads' };
await ensureTable(doc, db.table);
const keys = await seedDemo(db, new Date());
// One key hammering the API: the rate limits (issue 15) still count every request (their write is part
// of the cost measured) but are raised so that none is refused.
// Its hold limits are lifted likewise (one org holding thousands of windows): the ledger is still read and written.
const app = createApp(
  createServices({ db, clock: systemClock, ids: createIdGenerator(), logger: silentLogger }, { holdLimits: { openHolds: 1_000_000, heldGpusBps: 100_000_000, sameWindowHoldsPerHour: 1_000_000 } }),
  { rateLimits: scaledRateLimits(10_000) },
);
const port = await freePort();
const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
const base = `http://127.0.0.1:${port}`;
const headers = { authorization: `Bearer ${keys.customer}`, 'content-type': 'application/json' };

const firstHour = Math.floor(Date.now() / 3_600_000) + 24 * 20;
const hour = (n: number) => new Date((firstHour + n) * 3_600_000).toISOString();
let nextWindow = 0;
/** A one-hour window of its own for every quote: the pool has 128 nodes an hour, so holds never run out of capacity. */
const quoteBody = () => {
  const h = nextWindow++ % (24 * 300);
  return JSON.stringify({ site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: hour(h), end: hour(h + 1) });
};

const first = await app.request('/v1/quotes', { method: 'POST', headers, body: quoteBody() });
const held = await app.request('/v1/reservations', { method: 'POST', headers, body: JSON.stringify({ quoteId: ((await first.json()) as { id: string }).id }) });
const reservationId = ((await held.json()) as { id: string }).id;

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
}

type Shape = { path?: string; requests?: autocannon.Request[]; amount?: number };
const run = ({ path, ...rest }: Shape, duration: number) => autocannon({ url: base + (path ?? ''), connections: CONNECTIONS, duration, headers, ...rest });

async function measure(shape: Shape, expect: number): Promise<Measured> {
  const r = await run(shape, SECONDS);
  const wrong = Object.entries(r.statusCodeStats ?? {}).filter(([s]) => Number(s) !== expect);
  if (wrong.length > 0 || r.errors > 0) throw new Error(`${shape.path ?? shape.requests?.[0]?.path}: answers ${JSON.stringify(r.statusCodeStats)}, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total };
}

const quoteIds: string[] = [];
const quoteRequest = {
  method: 'POST' as const,
  path: '/v1/quotes',
  setupRequest: (req: autocannon.Request) => ({ ...req, body: quoteBody() }),
  onResponse: (status: number, body: string) => {
    if (status === 201) quoteIds.push((JSON.parse(body) as { id: string }).id);
  },
};
const availability = `/v1/availability?site=valence-rovaltain&gpuType=h100-sxm-80gb&start=${hour(0)}&end=${hour(24 * 30)}`;

// Warm up the JIT and DynamoDB Local's JVM on every shape before measuring.
for (const warm of [{ path: `/v1/reservations/${reservationId}` }, { requests: [quoteRequest] }, { path: availability }, { path: '/healthz' }]) await run(warm, 2);
const read = await measure({ path: `/v1/reservations/${reservationId}` }, 200);
const health = await measure({ path: '/healthz' }, 200);
const quote = await measure({ requests: [quoteRequest] }, 201);
const avail = await measure({ path: availability }, 200);
let nextQuote = 0;
const toHold = quoteIds.slice();
const hold = await measure(
  {
    amount: toHold.length,
    requests: [{ method: 'POST', path: '/v1/reservations', setupRequest: (req: autocannon.Request) => ({ ...req, body: JSON.stringify({ quoteId: toHold[nextQuote++ % toHold.length] }) }) }],
  },
  201,
);

const row = (name: string, m: Measured) => `| ${name} | ${m.rps.toFixed(0)} | ${(m.rps / read.rps).toFixed(2)} | ${m.p50} | ${m.p99} |`;
console.log(`\nBooking read side (autocannon, ${CONNECTIONS} connections, ${SECONDS} s each, DynamoDB Local)\n`);
console.log('| request | req/s | × single-item read | p50 ms | p99 ms |');
console.log('|---|---:|---:|---:|---:|');
console.log(row('GET /v1/reservations/{id} (baseline)', read));
console.log(row('GET /healthz', health));
console.log(row('POST /v1/quotes', quote));
console.log(row('POST /v1/reservations (hold)', hold));
console.log(row('GET /v1/availability, 30 days hourly', avail));

server.close();
doc.destroy();
await dynamo.stop();
