/**
 * A rush on one pool, against a running `npm start` stack (issue 14): 25 orgs made through the
 * operator API, N bookers (spread over the orgs) who each quote and then hold one 8-GPU node of the
 * same 6-hour window, in which about 0.6 N nodes are free. Baseline: the serial rate of 3-item
 * TransactWriteItems that all touch one item, measured against the same DynamoDB in the same run.
 *
 *   npm start                                   # in another terminal (PORT, DYNAMODB_LOCAL_PORT as you like)
 *   npx tsx bench/rush.ts [--url http://localhost:3000] [--dynamodb http://127.0.0.1:8000] [--sizes 50,200,500]
 *
 * With `GPU_MARKET_TRANSACTION_CONFLICTS=1 npm start` the server cancels concurrent transactions that
 * touch one item with TransactionConflict, as DynamoDB does (test/support/transaction-conflicts.ts).
 *
 * Rushes whose free nodes fit the Valence H100 pool (128 nodes) use it; larger ones use a bench pool
 * (grand-est H100, 512 nodes) that this script adds to the catalog once (the server's catalog cache
 * picks it up within 30 s). Each rush books a 6-hour window no earlier run used; maintenance windows
 * (operator API) leave exactly the free nodes asked for.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateTableCommand, DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { eur } from '../shared/domain/money.ts';
import { defaultPriceBook } from '../shared/domain/pricing.ts';
import { putPool } from '../shared/store/catalog.ts';
import { createDocumentClient } from '../shared/store/db.ts';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: `http://localhost:${process.env.PORT ?? 3000}` },
    dynamodb: { type: 'string', default: process.env.DYNAMODB_ENDPOINT ?? `http://127.0.0.1:${process.env.DYNAMODB_LOCAL_PORT ?? 8000}` },
    table: { type: 'string', default: process.env.TABLE_NAME ?? 'gpu-market' },
    sizes: { type: 'string', default: '50,200,500' },
    label: { type: 'string', default: '' },
    'serial-seconds': { type: 'string', default: '3' },
    // 0: every hold sent at once (a burst, as the issue measured). A burst has no arrival order to
    // keep (200 requests leave within a few ms and reach the server in the network's order), so the
    // out-of-order count is meaningful with a ramp: booker i sends at i × ramp / N ms.
    'ramp-ms': { type: 'string', default: '0' },
  },
});
const BASE = args.url!;
const SIZES = args.sizes!.split(',').map(Number);
const NODE = 8;
const ORGS = 25;
const RAMP_MS = Number(args['ramp-ms']);

const keysFile = resolve('.local/keys.json');
if (!existsSync(keysFile)) throw new Error('No .local/keys.json: start the stack with `npm start` first');
const operatorKey = (JSON.parse(readFileSync(keysFile, 'utf8')) as { operator: string }).operator;

async function call(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(BASE + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
const must = async (p: Promise<{ status: number; body: any }>, what: string) => {
  const r = await p;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

/** The serial baseline: one client, 3-item transactions that all touch one item, one after another. */
async function serialTransactionRate(seconds: number): Promise<number> {
  const doc = createDocumentClient({ endpoint: args.dynamodb! });
  const table = `bench-serial-${Date.now()}`;
  await doc.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    }),
  );
  try {
    const once = (i: number) =>
      doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Update: { TableName: table, Key: { pk: 'HOT', sk: 'HOT' }, UpdateExpression: 'ADD n :one', ExpressionAttributeValues: { ':one': 1 } } },
            { Put: { TableName: table, Item: { pk: `A#${i}`, sk: 'A', i }, ConditionExpression: 'attribute_not_exists(pk)' } },
            { Put: { TableName: table, Item: { pk: `B#${i}`, sk: 'B', i }, ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      );
    for (let i = 0; i < 50; i++) await once(-i - 1);
    let n = 0;
    const began = performance.now();
    while (performance.now() - began < seconds * 1000) await once(n++);
    return n / ((performance.now() - began) / 1000);
  } finally {
    await doc.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    doc.destroy();
  }
}

async function makeOrgs(): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < ORGS; i++) {
    const org = await must(call('POST', '/v1/orgs', operatorKey, { name: `Rush bench ${i}`, country: 'FR', billingEmail: `rush${i}@example.com` }), 'create org');
    keys.push((await must(call('POST', '/v1/api-keys', operatorKey, { role: 'customer', orgId: org.id }), 'create key')).key);
    // The hold limits (issue 15) would refuse a booker's third hold on one window within the hour: the bench
    // orgs are stand-ins for many more orgs, so the operator lifts their limits as it may for any org.
    await must(call('PUT', `/v1/orgs/${org.id}/limits`, operatorKey, { openHolds: 1000, heldGpusPercent: 100, sameWindowHoldsPerHour: 100 }), 'lift hold limits');
  }
  return keys;
}

interface Target {
  site: string;
  gpuType: string;
  poolId: string;
  totalGpus: number;
}
const VALENCE_H100: Target = { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', poolId: 'valence-rovaltain-h100', totalGpus: 1024 };
const BENCH_POOL: Target = { site: 'grand-est', gpuType: 'h100-sxm-80gb', poolId: 'grand-est-h100', totalGpus: 4096 };

async function ensureBenchPool(): Promise<void> {
  const pools = async () => (await must(call('GET', '/v1/pools', operatorKey), 'pools')).data as { id: string }[];
  if ((await pools()).some((p) => p.id === BENCH_POOL.poolId)) return;
  const doc = createDocumentClient({ endpoint: args.dynamodb! });
  await putPool(
    { doc, table: args.table! },
    {
      id: BENCH_POOL.poolId,
      site: BENCH_POOL.site,
      gpuType: BENCH_POOL.gpuType,
      totalGpus: BENCH_POOL.totalGpus,
      gpusPerNode: NODE,
      minGpus: NODE,
      stepGpus: NODE,
      onDemandRate: eur(349),
      priceBook: defaultPriceBook(279),
      bookableFrom: '2026-01-01T00:00:00Z',
    },
  );
  doc.destroy();
  process.stdout.write('added the bench pool grand-est-h100; waiting for the catalog cache');
  while (!(await pools()).some((p) => p.id === BENCH_POOL.poolId)) {
    process.stdout.write('.');
    await new Promise((r) => setTimeout(r, 2000));
  }
  process.stdout.write('\n');
}

const hourIso = (h: number) => new Date(h * 3_600_000).toISOString().replace('.000Z', 'Z');

/** A 6-hour window of `target` nobody booked yet, with maintenance leaving exactly `freeNodes` nodes. */
async function freshWindow(target: Target, freeNodes: number): Promise<{ start: string; end: string }> {
  const nowHour = Math.floor(Date.now() / 3_600_000);
  for (;;) {
    const startHour = nowHour + 24 * (20 + Math.floor(Math.random() * 300)) + Math.floor(Math.random() * 18);
    const start = hourIso(startHour);
    const end = hourIso(startHour + 6);
    const a = await must(call('GET', `/v1/availability?site=${target.site}&gpuType=${target.gpuType}&start=${start}&end=${end}`, operatorKey), 'availability');
    if (a.pools[0].minAvailable !== target.totalGpus) continue;
    const maintenance = target.totalGpus - freeNodes * NODE;
    if (maintenance > 0) {
      await must(call('POST', `/v1/pools/${target.poolId}/maintenance`, operatorKey, { start, end, gpus: maintenance, reason: 'rush bench: leaves the free nodes asked for' }), 'maintenance');
    }
    return { start, end };
  }
}

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);

interface Booker {
  quoteStatus: number;
  holdStatus?: number;
  /** A 5xx answer's problem title and detail, to say what failed. */
  failure?: string;
  sentAt?: number;
  answeredAt?: number;
}

async function rush(n: number, orgKeys: string[]) {
  const freeNodes = Math.round(0.6 * n);
  const target = freeNodes * NODE <= VALENCE_H100.totalGpus ? VALENCE_H100 : BENCH_POOL;
  const window = await freshWindow(target, freeNodes);
  const body = { site: target.site, gpuType: target.gpuType, gpus: NODE, ...window };
  const bookers: Booker[] = [];
  const quoteBegan = performance.now();
  const quotes = await Promise.all(Array.from({ length: n }, (_, i) => call('POST', '/v1/quotes', orgKeys[i % orgKeys.length]!, body)));
  const quoteMs = performance.now() - quoteBegan;
  for (const q of quotes) bookers.push({ quoteStatus: q.status });

  const holdBegan = performance.now();
  await Promise.all(
    quotes.map(async (q, i) => {
      if (q.status !== 201) return;
      const b = bookers[i]!;
      if (RAMP_MS > 0) await new Promise((r) => setTimeout(r, (i * RAMP_MS) / n));
      b.sentAt = performance.now();
      const r = await call('POST', '/v1/reservations', orgKeys[i % orgKeys.length]!, { quoteId: q.body.id });
      b.answeredAt = performance.now();
      b.holdStatus = r.status;
      if (r.status >= 500) b.failure = `${r.status} ${r.body?.title ?? ''}: ${r.body?.detail ?? ''}`;
    }),
  );
  const holdMs = performance.now() - holdBegan;

  const held = bookers.filter((b) => b.holdStatus === 201);
  const refused = bookers.filter((b) => b.holdStatus !== undefined && b.holdStatus !== 201);
  const lastWinnerSent = Math.max(...held.map((b) => b.sentAt!));
  const outOfOrder = refused.filter((b) => b.sentAt! < lastWinnerSent).length;
  const latencies = bookers.filter((b) => b.answeredAt !== undefined).map((b) => b.answeredAt! - b.sentAt!).sort((x, y) => x - y);
  const statuses: Record<string, number> = {};
  for (const b of bookers) {
    const s = b.holdStatus ?? `quote ${b.quoteStatus}`;
    statuses[s] = (statuses[s] ?? 0) + 1;
  }
  const after = await must(call('GET', `/v1/availability?site=${target.site}&gpuType=${target.gpuType}&start=${window.start}&end=${window.end}`, operatorKey), 'availability');
  return {
    n,
    freeNodes,
    pool: target.poolId,
    sold: held.length,
    leftFree: after.pools[0].minAvailable / NODE,
    statuses,
    fiveHundreds: bookers.filter((b) => (b.holdStatus ?? b.quoteStatus) >= 500).length,
    failures: Object.fromEntries([...new Set(bookers.flatMap((b) => (b.failure ? [b.failure] : [])))].map((f) => [f, bookers.filter((b) => b.failure === f).length])),
    quotesPerSecond: n / (quoteMs / 1000),
    bookingsPerSecond: held.length / (holdMs / 1000),
    holdMs,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    outOfOrder,
    refused: refused.length,
  };
}

const orgKeys = await makeOrgs();
if (SIZES.some((n) => Math.round(0.6 * n) * NODE > VALENCE_H100.totalGpus)) await ensureBenchPool();
const serial = await serialTransactionRate(Number(args['serial-seconds']));
const rows = [];
for (const n of SIZES) {
  const r = await rush(n, orgKeys);
  rows.push(r);
  console.log(JSON.stringify(r));
}
const serialAfter = await serialTransactionRate(Number(args['serial-seconds']));
const baseline = (serial + serialAfter) / 2;

console.log(`\nRush on one pool${args.label ? ` (${args.label})` : ''}: ${ORGS} orgs, each booker quotes then holds one 8-GPU node of the same 6-hour window; holds ${RAMP_MS > 0 ? `sent over a ${RAMP_MS} ms ramp` : 'sent at once'}.`);
console.log(`Serial baseline: ${baseline.toFixed(0)} single-item 3-item TransactWriteItems/s (${serial.toFixed(0)} before, ${serialAfter.toFixed(0)} after the rushes)\n`);
console.log('| bookers | free nodes | sold | left free | answers (hold status: count) | 5xx | holds/s | × serial | p50 ms | p99 ms | out-of-order refusals | quotes/s |');
console.log('|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|');
for (const r of rows) {
  const answers = Object.entries(r.statuses).map(([s, c]) => `${s}: ${c}`).join(', ');
  const ooo = r.refused === 0 ? '0 of 0' : `${r.outOfOrder} of ${r.refused} (${((100 * r.outOfOrder) / r.refused).toFixed(1)} %)`;
  console.log(
    `| ${r.n} | ${r.freeNodes} | ${r.sold} | ${r.leftFree} | ${answers} | ${r.fiveHundreds} | ${r.bookingsPerSecond.toFixed(1)} | ${(r.bookingsPerSecond / baseline).toFixed(2)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${ooo} | ${r.quotesPerSecond.toFixed(0)} |`,
  );
}
