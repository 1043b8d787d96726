/**
 * `npm start`: DynamoDB Local (data under .local/), table, demo seed, keys in .local/keys.json, the API,
 * docs and portal on PORT, and the scheduled jobs on timers. Ctrl-C stops everything.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { parseConfig } from '../shared/config.ts';
import { seedDemo, type DemoKeys } from '../shared/store/seed.ts';
import { createDocumentClient, ensureTable } from '../shared/store/db.ts';
import { createSystem } from '../shared/compose/system.ts';
import { answers, claimOwnership, ownerOf, portIsFree, startDynamoDbLocal, type LocalDynamo } from './dynamodb-local.ts';

const LOCAL_DIR = resolve('.local');
const KEYS_FILE = resolve(LOCAL_DIR, 'keys.json');
const DYNAMO_PORT = Number(process.env.DYNAMODB_LOCAL_PORT ?? 8000);
/** This checkout: the DynamoDB Local it starts keeps its data in `.local/dynamodb` and is marked with this path. */
const CHECKOUT = resolve('.');

async function main() {
  // Terminal-friendly logs unless asked otherwise (LOG_FORMAT=json); Lambda logs JSON.
  const config = parseConfig({ LOG_FORMAT: 'pretty', ...process.env });
  mkdirSync(resolve(LOCAL_DIR, 'dynamodb'), { recursive: true });
  if (!(await portIsFree(config.PORT, config.HOST))) {
    throw new Error(`Port ${config.PORT} is already in use (another \`npm start\`, or another program). Stop it, or choose another port: PORT=${config.PORT + 1} npm start`);
  }

  let dynamo: LocalDynamo | undefined;
  let endpoint = config.DYNAMODB_ENDPOINT;
  if (!endpoint) {
    endpoint = `http://127.0.0.1:${DYNAMO_PORT}`;
    if (await answers(endpoint)) {
      // Never write into another checkout's database: its keys would land there, and this API would
      // answer 500 once that checkout stops its DynamoDB Local.
      const owner = await ownerOf(endpoint);
      if (owner !== CHECKOUT) {
        throw new Error(
          `A DynamoDB already answers on ${endpoint}, and it is not this checkout's (${owner ? `it belongs to the checkout at ${owner}` : 'no `npm start` of a GPU Market checkout started it'}).\n` +
            `Each checkout keeps its own DynamoDB Local. Stop that one, or start this checkout's on another port: DYNAMODB_LOCAL_PORT=${DYNAMO_PORT + 1} npm start\n` +
            `To use that database on purpose: DYNAMODB_ENDPOINT=${endpoint} npm start`,
        );
      }
      console.log(`Reusing this checkout's DynamoDB Local, already running on ${endpoint}`);
    } else {
      console.log(`Starting DynamoDB Local on ${endpoint} (data in .local/dynamodb)…`);
      dynamo = await startDynamoDbLocal({ port: DYNAMO_PORT, dbPath: resolve(LOCAL_DIR, 'dynamodb') });
      await claimOwnership(endpoint, CHECKOUT);
    }
  }

  const doc = createDocumentClient({ endpoint, region: config.AWS_REGION });
  const db = { doc, table: config.TABLE_NAME };
  await ensureTable(doc, db.table);
  const previous: Partial<DemoKeys> = existsSync(KEYS_FILE) ? JSON.parse(readFileSync(KEYS_FILE, 'utf8')) : {};
  const keys = await seedDemo(db, new Date(), previous);
  writeFileSync(KEYS_FILE, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });

  // Benchmarks only (bench/rush.ts): DynamoDB's TransactionConflict cancellations, which DynamoDB Local does not make.
  const conflicts = process.env.GPU_MARKET_TRANSACTION_CONFLICTS === '1';
  const systemDb = conflicts ? { ...db, doc: (await import('../test/support/transaction-conflicts.ts')).withTransactionConflicts(doc).doc } : db;
  if (conflicts) console.log('GPU_MARKET_TRANSACTION_CONFLICTS=1: concurrent transactions on one item are cancelled as in DynamoDB');
  const system = createSystem({ config: { ...config, DYNAMODB_ENDPOINT: endpoint }, db: systemDb });
  // Resumes after the records it handed over before the last stop (not a replay of the stream's 24 h).
  const outboxStream = await system.webhooks.startLocalStream(endpoint, { checkpointFile: resolve(LOCAL_DIR, 'stream-position.json') });
  // Loopback only unless HOST says otherwise: the demo keys are printed above and DynamoDB Local has no auth.
  const server = serve({ fetch: system.app.fetch, port: config.PORT, hostname: config.HOST });

  let ticking = false;
  const timer = setInterval(async () => {
    if (ticking) return;
    ticking = true;
    try {
      await system.runScheduledTick();
    } catch (error) {
      console.error('scheduled jobs failed', error);
    } finally {
      ticking = false;
    }
  }, config.SWEEP_INTERVAL_MS);

  const base = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}`;
  console.log(`
GPU Market is running.
  API        ${base}/v1   (health: ${base}/healthz)
  Docs       ${base}/docs (OpenAPI: ${base}/openapi.json)
  Portal     ${base}/
  Table      ${db.table} at ${endpoint}

Demo API keys (also in .local/keys.json):
${Object.entries(keys)
  .map(([name, key]) => `  ${name.padEnd(10)} ${key}`)
  .join('\n')}

Try: curl -H "Authorization: Bearer ${keys.customer}" ${base}/v1/pools
Press Ctrl-C to stop.
`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    clearInterval(timer);
    server.close();
    await outboxStream.stop();
    await dynamo?.stop();
    doc.destroy();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGHUP', () => void shutdown('SIGHUP'));
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
