/**
 * Cold-start budget of the Lambda bundles:
 * `npx tsx bench/cold-start.ts [--runs 20] [--only api,sweeper] [--sdk bundled|external] [--analyze]`.
 *
 * Each entry is bundled with the esbuild options the deployed functions are built with (one
 * definition, `esbuildOptions` in infra/bundling.ts): an entry chunk `index.mjs` and the chunks under
 * `chunks/`. What a function loads at init is the entry chunk and the chunks it imports statically
 * (read from esbuild's metafile); the chunks only reached by `import()` load when a request first needs
 * them. `--sdk external` measures the alternative to what is deployed: `@aws-sdk/*` left out of the
 * bundle, as NodejsFunction does by default for the runtime to provide; the bundle then resolves the
 * SDK from this repository's node_modules (the bundles are written under it), the same packages the
 * runtime would load file by file. `--analyze` lists the largest packages loaded at init and the
 * chunks left for later (esbuild's metafile).
 *
 * For each bundle it reports the entry chunk's size, what init loads, and its module init time:
 * `node index.mjs` (which evaluates the entry chunk and its static imports, without invoking the
 * handler) against bare `node -e ''`, alternated in the same run so both see the same machine state.
 * For the API it also times init plus a first request, twice, so that a cost moved out of init into
 * the first request shows: each imports the entry and sends the handler one API Gateway event, (1)
 * GET /v1/reservations/{id} without a key (the configuration parsed, the system composed, answered
 * 401 by authentication before any route) and (2) Stripe's webhook with a signature that does not
 * verify (public: the request reaches its route, whose segment's routes load, zod with them, and
 * answers 400). Neither does I/O: Stripe is not configured (the local gateway), no secret is read.
 * Wall-clock time is what a cold start costs; CPU time (user + system, reported by the child at exit)
 * is printed beside it because it barely moves when other work shares the machine. Goals (issue 9):
 * API entry chunk at most 500 KB, init at most 3x bare node (judged on wall time and on CPU time).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';
import { entryFile, esbuildOptions, lambdaEntries, lambdaNames, repoRoot, type LambdaName } from '../infra/bundling.ts';

const apiBundleGoalBytes = 500 * 1024;
const initRatioGoal = 3;
const exitTimeoutMs = 15_000;

type SdkPlacement = 'bundled' | 'external';

interface Options {
  readonly runs: number;
  readonly only: readonly LambdaName[];
  readonly sdk: SdkPlacement;
  readonly analyze: boolean;
}

interface Measurement {
  readonly name: LambdaName;
  /** The entry chunk (index.mjs). */
  readonly entryBytes: number;
  /** What init loads: the entry chunk and the chunks it imports statically. */
  readonly initBytes: number;
  readonly initGzipBytes: number;
  readonly initMapBytes: number;
  /** Every chunk of the bundle, those loaded on first need included. */
  readonly totalBytes: number;
  readonly initMs: number;
  readonly bareMs: number;
  readonly initCpuMs: number;
  readonly bareCpuMs: number;
  /** Init plus the first request (API only). */
  readonly firstRequest: { readonly ms: number; readonly cpuMs: number } | undefined;
  /** Init plus a first request that reaches a route (API only). */
  readonly firstRouted: { readonly ms: number; readonly cpuMs: number } | undefined;
  readonly failure: string | undefined;
  readonly largestPackages: readonly { readonly name: string; readonly bytes: number }[];
  readonly laterChunks: readonly { readonly name: string; readonly bytes: number; readonly packages: string }[];
}

interface Run {
  readonly ms: number;
  readonly cpuMs: number;
  readonly failure: string | undefined;
}

const cpuMarker = '__cold_start_cpu_us=';

/** Preloaded into both the bare and the bundle runs, so its own small cost is on both sides. */
const cpuReporterSource = `import { writeSync } from 'node:fs';
process.on('exit', () => {
  const { user, system } = process.cpuUsage();
  writeSync(2, '\\n${cpuMarker}' + (user + system) + '\\n');
});
`;

const usage = 'Usage: tsx bench/cold-start.ts [--runs N] [--only api,sweeper] [--sdk bundled|external] [--analyze]';

function parseOptions(argv: readonly string[]): Options {
  let runs = 20;
  let only: LambdaName[] = [...lambdaNames];
  let sdk: SdkPlacement = 'bundled';
  let analyze = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--runs' && value !== undefined) {
      runs = Number.parseInt(value, 10);
      if (!Number.isInteger(runs) || runs < 3) throw new Error('--runs must be an integer >= 3');
      i++;
    } else if (arg === '--only' && value !== undefined) {
      only = value.split(',').map((name) => {
        if (!(lambdaNames as string[]).includes(name)) throw new Error(`Unknown function ${name}; known: ${lambdaNames.join(', ')}`);
        return name as LambdaName;
      });
      i++;
    } else if (arg === '--sdk' && (value === 'bundled' || value === 'external')) {
      sdk = value;
      i++;
    } else if (arg === '--analyze') {
      analyze = true;
    } else {
      throw new Error(`Unknown argument ${arg}. ${usage}`);
    }
  }
  return { runs, only, sdk, analyze };
}

/**
 * The environment the deployed function gets (infra/constructs/system-function.ts and its `use…`
 * helpers), with stand-in values: nothing is contacted at import time, so none has to exist.
 */
function lambdaEnvironment(name: LambdaName): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    AWS_REGION: 'eu-west-3',
    TABLE_NAME: 'gpu-market-bench',
    STAGE: 'dev',
    POWERTOOLS_SERVICE_NAME: name,
    POWERTOOLS_METRICS_NAMESPACE: 'GpuMarket',
    LOG_LEVEL: 'INFO',
    NODE_OPTIONS: '--enable-source-maps',
  };
  if (name === 'api' || name === 'sweeper' || name === 'billing-close') {
    env.STRIPE_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-3:123456789012:secret:gpu-market-bench-stripe';
  }
  if (name === 'outbox-dispatcher' || name === 'sweeper') {
    env.WEBHOOK_QUEUE_URL = 'https://sqs.eu-west-3.amazonaws.com/123456789012/gpu-market-bench-webhooks';
  }
  return env;
}

function timeSpawn(args: readonly string[], env: NodeJS.ProcessEnv, reporter: string): Run {
  const started = performance.now();
  const result = spawnSync(process.execPath, ['--import', reporter, ...args], {
    env,
    encoding: 'utf8',
    timeout: exitTimeoutMs,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ms = performance.now() - started;
  const cpuLine = result.stderr?.split('\n').find((line) => line.startsWith(cpuMarker));
  const cpuMs = cpuLine === undefined ? Number.NaN : Number(cpuLine.slice(cpuMarker.length)) / 1000;
  if (result.error) {
    const timedOut = (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    return { ms, cpuMs, failure: timedOut ? `did not exit within ${exitTimeoutMs} ms (something stays open at import)` : result.error.message };
  }
  if (result.status !== 0) {
    const stderr = result.stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith(cpuMarker));
    return { ms, cpuMs, failure: `exited ${result.status}: ${stderr.slice(0, 3).join(' | ')}` };
  }
  return { ms, cpuMs, failure: undefined };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const packageOf = (file: string): string => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? file.split('/').slice(0, 2).join('/');

/** Output bytes per npm package (or per top-level source folder) of the given outputs, largest first. */
function largestPackages(metafile: Metafile, outputs: readonly string[], count: number): { name: string; bytes: number }[] {
  const byPackage = new Map<string, number>();
  for (const output of outputs) {
    for (const [file, input] of Object.entries(metafile.outputs[output]!.inputs)) {
      const name = packageOf(file);
      byPackage.set(name, (byPackage.get(name) ?? 0) + input.bytesInOutput);
    }
  }
  return [...byPackage].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, count);
}

/** The entry output and every chunk it reaches by static imports: what the function loads at init. */
function loadedAtInit(metafile: Metafile, entry: string): string[] {
  const seen = new Set<string>([entry]);
  const pending = [entry];
  while (pending.length > 0) {
    for (const imported of metafile.outputs[pending.pop()!]!.imports) {
      if (imported.kind !== 'import-statement' || imported.external || seen.has(imported.path)) continue;
      seen.add(imported.path);
      pending.push(imported.path);
    }
  }
  return [...seen];
}

/** An API Gateway (HTTP API, payload 2.0) event sent to the API's handler as its first request, and the status it must answer. */
const firstRequestSource = (method: string, rawPath: string, headers: Record<string, string>, body: string, status: number) => `const { handler } = await import(process.argv[2]);
const event = {
  version: '2.0', routeKey: '$default', rawPath: ${JSON.stringify(rawPath)}, rawQueryString: '',
  headers: ${JSON.stringify({ host: 'api.example.test', accept: 'application/json', 'user-agent': 'cold-start-bench', ...headers })},
  requestContext: { accountId: '123456789012', apiId: 'bench', domainName: 'api.example.test', domainPrefix: 'api', requestId: 'bench', routeKey: '$default', stage: '$default', time: '', timeEpoch: 0,
    http: { method: ${JSON.stringify(method)}, path: ${JSON.stringify(rawPath)}, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'cold-start-bench' } },
  body: ${JSON.stringify(body)},
  isBase64Encoded: false,
};
const response = await handler(event, { awsRequestId: 'bench', functionName: 'api', getRemainingTimeInMillis: () => 20000 });
if (response.statusCode !== ${status}) throw new Error('expected ${status}, got ' + response.statusCode + ': ' + response.body);
`;

/** GET /v1/reservations/{id} without a key: composed, answered 401 by authentication, before any route. */
const unauthenticatedRequest = firstRequestSource('GET', '/v1/reservations/res_cold_start', {}, '', 401);
/**
 * A request that reaches a route with no I/O: Stripe's webhook (public, signed instead of keyed) with a
 * signature that does not verify, so its segment's routes (zod and their schemas) load and it answers 400.
 */
const routedRequest = firstRequestSource('POST', '/v1/stripe/webhook', { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' }, '{"id":"evt_cold_start"}', 400);

async function measure(name: LambdaName, outDir: string, options: Options, reporter: string): Promise<Measurement> {
  const { runs } = options;
  const buildOptions = esbuildOptions(name, path.join(outDir, name));
  const { metafile } = await build({
    ...buildOptions,
    external: [...(buildOptions.external ?? []), ...(options.sdk === 'external' ? ['@aws-sdk/*'] : [])],
    metafile: true,
  });
  const entryOutput = Object.keys(metafile.outputs).find((file) => metafile.outputs[file]!.entryPoint === lambdaEntries[name])!;
  const entry = path.join(repoRoot, entryOutput);
  if (path.basename(entry) !== entryFile) throw new Error(`${name}: the entry chunk is ${entryOutput}, not ${entryFile}`);
  const atInit = loadedAtInit(metafile, entryOutput);
  const initCode = Buffer.concat(atInit.map((file) => readFileSync(path.join(repoRoot, file))));
  const chunks = Object.keys(metafile.outputs).filter((file) => file.endsWith('.mjs'));
  const env = lambdaEnvironment(name);

  const bundleRuns: Run[] = [];
  const bareRuns: Run[] = [];
  const firstRuns: Run[] = [];
  // The first request composes the system without I/O: Stripe's key in the environment, not its secret.
  const firstRequestEnv: NodeJS.ProcessEnv = { ...env, STRIPE_SECRET_ARN: undefined, STRIPE_SECRET_KEY: 'sk_test_cold_start_bench' };
  const firstRequest = name === 'api' ? path.join(outDir, 'first-request.mjs') : undefined;
  if (firstRequest !== undefined) writeFileSync(firstRequest, unauthenticatedRequest);
  const firstRouted = name === 'api' ? path.join(outDir, 'first-routed-request.mjs') : undefined;
  if (firstRouted !== undefined) writeFileSync(firstRouted, routedRequest);
  const routedEnv: NodeJS.ProcessEnv = { ...firstRequestEnv, STRIPE_SECRET_KEY: undefined };
  const routedRuns: Run[] = [];
  // One unmeasured run of each warms the file-system cache, as Lambda's init finds the code on local disk.
  const warmup = timeSpawn([entry], env, reporter);
  timeSpawn(['-e', ''], env, reporter);
  let failure =
    warmup.failure ??
    (firstRequest === undefined ? undefined : timeSpawn([firstRequest, entry], firstRequestEnv, reporter).failure) ??
    (firstRouted === undefined ? undefined : timeSpawn([firstRouted, entry], routedEnv, reporter).failure);
  for (let i = 0; i < runs && failure === undefined; i++) {
    const bare = timeSpawn(['-e', ''], env, reporter);
    const bundle = timeSpawn([entry], env, reporter);
    const first = firstRequest === undefined ? undefined : timeSpawn([firstRequest, entry], firstRequestEnv, reporter);
    const routed = firstRouted === undefined ? undefined : timeSpawn([firstRouted, entry], routedEnv, reporter);
    failure = bundle.failure ?? bare.failure ?? first?.failure ?? routed?.failure;
    if (routed !== undefined) routedRuns.push(routed);
    bareRuns.push(bare);
    bundleRuns.push(bundle);
    if (first !== undefined) firstRuns.push(first);
  }
  const medianOf = (list: Run[], pick: (run: Run) => number) => (failure === undefined ? median(list.map(pick)) : Number.NaN);
  return {
    name,
    entryBytes: statSync(entry).size,
    initBytes: initCode.byteLength,
    initGzipBytes: gzipSync(initCode, { level: 9 }).byteLength,
    initMapBytes: atInit.reduce((sum, file) => sum + statSync(path.join(repoRoot, `${file}.map`)).size, 0),
    totalBytes: chunks.reduce((sum, file) => sum + statSync(path.join(repoRoot, file)).size, 0),
    initMs: medianOf(bundleRuns, (run) => run.ms),
    bareMs: medianOf(bareRuns, (run) => run.ms),
    initCpuMs: medianOf(bundleRuns, (run) => run.cpuMs),
    bareCpuMs: medianOf(bareRuns, (run) => run.cpuMs),
    firstRequest: firstRequest === undefined ? undefined : { ms: medianOf(firstRuns, (run) => run.ms), cpuMs: medianOf(firstRuns, (run) => run.cpuMs) },
    firstRouted: firstRouted === undefined ? undefined : { ms: medianOf(routedRuns, (run) => run.ms), cpuMs: medianOf(routedRuns, (run) => run.cpuMs) },
    failure,
    largestPackages: largestPackages(metafile, atInit, 8),
    laterChunks: chunks
      .filter((file) => !atInit.includes(file))
      .map((file) => ({
        name: path.basename(file),
        bytes: statSync(path.join(repoRoot, file)).size,
        packages: largestPackages(metafile, [file], 3)
          .map((p) => p.name)
          .join(', '),
      }))
      .sort((a, b) => b.bytes - a.bytes),
  };
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

function ratioText(ratio: number): string {
  return Number.isNaN(ratio) ? '-' : `${ratio.toFixed(2)}x`;
}

function renderTable(rows: readonly Measurement[], options: Options): string {
  const sdk =
    options.sdk === 'bundled'
      ? 'AWS SDK bundled (as deployed)'
      : 'AWS SDK external (@aws-sdk/* resolved from node_modules, as if the runtime provided it; not what is deployed)';
  const lines = [
    `Node ${process.version} on ${process.platform}/${process.arch}; medians of ${options.runs} alternated runs; NODE_OPTIONS=--enable-source-maps as in Lambda; ${sdk}.`,
    '',
    '| function | entry chunk | loaded at init (gzip, maps) | all chunks | init: node index.mjs | bare node | ratio | CPU: init / bare | CPU ratio | init + first request, 401: wall, ratio (CPU, ratio) | init + first routed request: wall, ratio (CPU, ratio) | goals |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    const ratio = row.initMs / row.bareMs;
    const cpuRatio = row.initCpuMs / row.bareCpuMs;
    const firstText = (m: { ms: number; cpuMs: number } | undefined) =>
      m === undefined ? '-' : `${m.ms.toFixed(1)} ms, ${ratioText(m.ms / row.bareMs)} (${m.cpuMs.toFixed(1)} ms, ${ratioText(m.cpuMs / row.bareCpuMs)})`;
    const goals =
      row.failure !== undefined
        ? `failed: ${row.failure}`
        : [
            row.name === 'api' ? `size ${row.entryBytes <= apiBundleGoalBytes ? 'met' : 'missed'} (entry <= 500 KB)` : undefined,
            `init ${ratio <= initRatioGoal ? 'met' : 'missed'} (<= ${initRatioGoal}x wall)`,
            `CPU ${cpuRatio <= initRatioGoal ? 'met' : 'missed'} (<= ${initRatioGoal}x)`,
          ]
            .filter(Boolean)
            .join(', ');
    lines.push(
      `| ${row.name} | ${kb(row.entryBytes)} | ${kb(row.initBytes)} (${kb(row.initGzipBytes)}, ${kb(row.initMapBytes)}) | ${kb(row.totalBytes)} | ${row.initMs.toFixed(1)} ms | ${row.bareMs.toFixed(1)} ms | ${ratioText(ratio)} | ${row.initCpuMs.toFixed(1)} / ${row.bareCpuMs.toFixed(1)} ms | ${ratioText(cpuRatio)} | ${firstText(row.firstRequest)} | ${firstText(row.firstRouted)} | ${goals} |`,
    );
  }
  if (options.analyze) {
    lines.push('', 'Largest packages loaded at init (minified bytes, esbuild metafile), then the chunks loaded on first need:');
    for (const row of rows) {
      lines.push(`- ${row.name}: ${row.largestPackages.map((p) => `${p.name} ${kb(p.bytes)}`).join(', ')}`);
      lines.push(`  later: ${row.laterChunks.length === 0 ? 'none' : row.laterChunks.map((c) => `${kb(c.bytes)} (${c.packages})`).join('; ')}`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const outDir = path.join(repoRoot, '.bench-out', 'cold-start');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const reporter = path.join(outDir, 'cpu-reporter.mjs');
  writeFileSync(reporter, cpuReporterSource);
  const rows: Measurement[] = [];
  for (const name of options.only) rows.push(await measure(name, outDir, options, reporter));
  console.log(renderTable(rows, options));
  if (rows.some((row) => row.failure !== undefined)) process.exitCode = 1;
}

await main();
