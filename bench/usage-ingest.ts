/**
 * Usage ingestion throughput against DynamoDB Local: K batches of 1000 events through the metering
 * service (claims and aggregates in transactions, exactly once) versus raw BatchWriteItem of the
 * same number of items in the same run, plus the cost of a duplicate-heavy batch.
 *
 *   npx tsx bench/usage-ingest.ts [--batches 10] [--reservations 16] [--concurrency 4]
 *
 * Prints a Markdown table. Starts (and stops) its own DynamoDB Local.
 */
import { parseArgs } from 'node:util';
import { BatchWriteCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { freePort, startDynamoDbLocal } from '../scripts/dynamodb-local.ts';
import { createServices } from '../shared/compose/services.ts';
import { createIdGenerator } from '../shared/ids.ts';
import { silentLogger } from '../shared/log.ts';
import { DEMO_PRINCIPALS, seedDemo } from '../shared/store/seed.ts';
import { DEFAULT_TRANSACTION_CONCURRENCY, createMeteringService, type UsageEventInput } from '../shared/services/metering.ts';
import { createDocumentClient, ensureTable, type Db } from '../shared/store/db.ts';
import { USAGE_SHARDS } from '../shared/store/usage.ts';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '10' },
    reservations: { type: 'string', default: '16' },
    concurrency: { type: 'string', default: String(DEFAULT_TRANSACTION_CONCURRENCY) },
  },
});
const CONCURRENCY = Number(args.concurrency);
const BATCHES = Number(args.batches);
const RESERVATIONS = Number(args.reservations);
const BATCH_SIZE = 1000;
const START = Date.parse('2026-11-01T00:00:00Z');

let nowMs = START;
const clock = () => new Date(nowMs);

/** Batch `k`: 1000 one-minute events of the running reservations, as meters report a recent hour. */
function batchOf(k: number, reservationIds: string[], label = 'ev'): UsageEventInput[] {
  const hourStart = START + (k + 1) * 3_600_000;
  return Array.from({ length: BATCH_SIZE }, (_, i) => {
    const start = hourStart + Math.floor(i / reservationIds.length) * 60_000;
    return {
      id: `${label}-${k}-${i}`,
      reservationId: reservationIds[i % reservationIds.length]!,
      start: new Date(start).toISOString(),
      end: new Date(start + 60_000).toISOString(),
      gpus: 8,
    };
  });
}

/** The same number of items, written with plain BatchWriteItem (25 per call, as many calls in flight as shards). */
async function rawBatchWrite(db: Db, k: number): Promise<void> {
  const items = Array.from({ length: BATCH_SIZE }, (_, i) => ({
    pk: `RAW#${k}-${i}`,
    sk: 'RAW',
    reservationId: 'res_bench',
    start: new Date(START).toISOString(),
    end: new Date(START + 60_000).toISOString(),
    gpus: 8,
    gpuSeconds: 480,
    claimToken: '00000000-0000-4000-8000-000000000000',
  }));
  const chunks: (typeof items)[] = [];
  for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      let pending: Record<string, unknown>[] = chunks[next++]!.map((Item) => ({ PutRequest: { Item } }));
      while (pending.length > 0) {
        const res = await db.doc.send(new BatchWriteCommand({ RequestItems: { [db.table]: pending as never } }));
        pending = (res.UnprocessedItems?.[db.table] as Record<string, unknown>[] | undefined) ?? [];
      }
    }
  };
  await Promise.all(Array.from({ length: USAGE_SHARDS }, worker));
}

/**
 * The floor under the ratio: the same 100 items written as one TransactWriteItems of conditional puts
 * (what a claim is) and as 4 × 25 BatchWriteItem, alternately, median of `rounds` each.
 */
async function transactionVersusBatch(db: Db, rounds = 20): Promise<{ transactionMs: number; batchMs: number }> {
  const item = (label: string, i: number) => ({ pk: `PROBE#${label}-${i}`, sk: 'PROBE', reservationId: 'res_bench', gpus: 8, gpuSeconds: 480, claimToken: 'probe' });
  const transactionMs: number[] = [];
  const batchMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    transactionMs.push(
      await timed(() =>
        db.doc.send(
          new TransactWriteCommand({
            TransactItems: Array.from({ length: 100 }, (_, i) => ({ Put: { TableName: db.table, Item: item(`tx${r}`, i), ConditionExpression: 'attribute_not_exists(pk)' } })),
          }),
        ),
      ),
    );
    batchMs.push(
      await timed(() =>
        Promise.all(
          Array.from({ length: 4 }, (_, c) =>
            db.doc.send(new BatchWriteCommand({ RequestItems: { [db.table]: Array.from({ length: 25 }, (_, i) => ({ PutRequest: { Item: item(`bw${r}-${c}`, i) } })) } })),
          ),
        ),
      ),
    );
  }
  return { transactionMs: median(transactionMs), batchMs: median(batchMs) };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const dynamo = await startDynamoDbLocal({ port: await freePort() });
  const doc = createDocumentClient({ endpoint: dynamo.endpoint });
  try {
    const db: Db = { doc, table: 'bench-usage' };
    await ensureTable(doc, db.table);
    await seedDemo(db, clock());
    const deps = createServices({ db, clock, ids: createIdGenerator(clock), logger: silentLogger });
    const customer = { ...DEMO_PRINCIPALS.customer, keyId: 'key_bench' };
    const reservationIds: string[] = [];
    for (let i = 0; i < RESERVATIONS; i++) {
      reservationIds.push((await deps.booking.startOnDemand(customer, { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8 })).id);
    }
    nowMs = START + (BATCHES + 3) * 3_600_000;
    const metering = createMeteringService({ db, clock, transactionConcurrency: CONCURRENCY });
    const lookingFirst = createMeteringService({ db, clock, transactionConcurrency: CONCURRENCY, duplicateCheck: 'before_commit' });
    const meter = { ...DEMO_PRINCIPALS.meter, keyId: 'key_bench_meter' };

    // Warm-up outside the measurement: DynamoDB Local's JIT needs a few thousand writes of each kind.
    for (let w = 0; w < 3; w++) {
      await metering.ingest(meter, batchOf(w, reservationIds, 'warm'));
      await rawBatchWrite(db, -1 - w);
    }

    const meteredMs: number[] = [];
    const rawMs: number[] = [];
    for (let k = 0; k < BATCHES; k++) {
      // Interleaved so both see the same table size and machine load.
      meteredMs.push(
        await timed(async () => {
          const r = await metering.ingest(meter, batchOf(k, reservationIds));
          if (r.accepted !== BATCH_SIZE) throw new Error(`batch ${k}: accepted ${r.accepted} of ${BATCH_SIZE}`);
        }),
      );
      rawMs.push(await timed(() => rawBatchWrite(db, k)));
    }
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const meteredRate = (BATCHES * BATCH_SIZE) / (sum(meteredMs) / 1000);
    const rawRate = (BATCHES * BATCH_SIZE) / (sum(rawMs) / 1000);

    // Duplicate-heavy: 900 ids already counted resent with 100 new ones; then a whole batch resent.
    // Each once with the default duplicate check (on the first conflict) and once looking first.
    const freshMs = median(meteredMs);
    const duplicateHeavy = async (service: typeof metering, label: string, replayOf: number, resendOf: number) => {
      const mixed = [...batchOf(replayOf, reservationIds).slice(0, 900), ...batchOf(BATCHES + 1, reservationIds, label).slice(0, 100)];
      let mixedResult = { accepted: 0, duplicates: 0 };
      const mixedMs = await timed(async () => (mixedResult = await service.ingest(meter, mixed)));
      let resendResult = { accepted: 0, duplicates: 0 };
      const resendMs = await timed(async () => (resendResult = await service.ingest(meter, batchOf(resendOf, reservationIds))));
      return { mixedMs, mixedResult, resendMs, resendResult };
    };
    const onConflict = await duplicateHeavy(metering, 'fresh-a', 0, 1);
    const first = await duplicateHeavy(lookingFirst, 'fresh-b', 2, 3);

    const probe = await transactionVersusBatch(db);

    const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
    console.log(`\n### Usage ingestion, DynamoDB Local, ${BATCHES} batches × ${BATCH_SIZE} events, ${RESERVATIONS} reservations, ${USAGE_SHARDS} shards, ${CONCURRENCY} transactions in flight\n`);
    console.log('| measure | value |');
    console.log('|---|---|');
    console.log(`| metered ingest (claim + hourly aggregates, exactly once) | ${fmt(meteredRate)} events/s (median ${fmt(freshMs)} ms per 1000-event batch) |`);
    console.log(`| raw BatchWriteItem, same number of items | ${fmt(rawRate)} items/s (median ${fmt(median(rawMs))} ms per 1000 items) |`);
    console.log(`| **ratio metered / raw** (goal ≥ 0.5) | **${fmt(meteredRate / rawRate, 2)}** |`);
    console.log(`| floor: 100 conditional puts in one TransactWriteItems vs 4 × 25 BatchWriteItem | ${fmt(probe.transactionMs)} ms vs ${fmt(probe.batchMs)} ms (${fmt(probe.batchMs / probe.transactionMs, 2)}) |`);
    for (const [mode, r] of [['on first conflict (default)', onConflict], ['looked up before commit', first]] as const) {
      console.log(`| 90 % duplicates (${r.mixedResult.duplicates} dup + ${r.mixedResult.accepted} new), duplicates found ${mode} | ${fmt(r.mixedMs)} ms, ${fmt(r.mixedMs / freshMs, 2)} × a fresh batch |`);
      console.log(`| 100 % duplicates (${r.resendResult.duplicates} dup, a resent batch), duplicates found ${mode} | ${fmt(r.resendMs)} ms, ${fmt(r.resendMs / freshMs, 2)} × a fresh batch |`);
    }
  } finally {
    doc.destroy();
    await dynamo.stop();
  }
}

await main();
