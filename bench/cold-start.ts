/**
 * Cold-start budget of the Lambda bundles:
 * `npx tsx bench/cold-start.ts [--runs 20] [--only api,sweeper] [--sdk bundled|external] [--analyze]`.
 *
 * Each entry is bundled with the esbuild options CDK's NodejsFunction uses (one definition, in
 * infra/bundling.ts). `--sdk external` measures the alternative to what is deployed: `@aws-sdk/*` left
 * out of the bundle, as NodejsFunction does by default for the runtime to provide; the bundle then
 * resolves the SDK from this repository's node_modules (the bundles are written under it), the same
 * packages the runtime would load file by file. `--analyze` lists the largest packages of each bundle
 * (esbuild's metafile). For each bundle it reports its size and its module init time: `node bundle.mjs`
 * (which evaluates the module, imports included, without invoking the handler) against bare
 * `node -e ''`, alternated in the same run so both see the same machine state. Wall-clock time is what
 * a cold start costs; CPU time (user + system, reported by the child at exit) is printed beside it
 * because it barely moves when other work shares the machine. Goals: API bundle at most 500 KB,
 * init at most 2x bare node.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';
import { esbuildOptions, lambdaNames, repoRoot, type LambdaName } from '../infra/bundling.ts';

const apiBundleGoalBytes = 500 * 1024;
const initRatioGoal = 2;
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
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly mapBytes: number;
  readonly initMs: number;
  readonly bareMs: number;
  readonly initCpuMs: number;
  readonly bareCpuMs: number;
  readonly failure: string | undefined;
  readonly largestPackages: readonly { readonly name: string; readonly bytes: number }[];
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

/** Output bytes per npm package (or per top-level source folder), largest first. */
function largestPackages(metafile: Metafile, count: number): { name: string; bytes: number }[] {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [file, input] of Object.entries(output.inputs)) {
      const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? file.split('/').slice(0, 2).join('/');
      byPackage.set(name, (byPackage.get(name) ?? 0) + input.bytesInOutput);
    }
  }
  return [...byPackage].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, count);
}

async function measure(name: LambdaName, outDir: string, options: Options, reporter: string): Promise<Measurement> {
  const { runs } = options;
  const outfile = path.join(outDir, name, 'index.mjs');
  const buildOptions = esbuildOptions(name, outfile);
  const { metafile } = await build({
    ...buildOptions,
    external: [...(buildOptions.external ?? []), ...(options.sdk === 'external' ? ['@aws-sdk/*'] : [])],
    metafile: true,
  });
  const code = readFileSync(outfile);
  const env = lambdaEnvironment(name);

  const bundleRuns: Run[] = [];
  const bareRuns: Run[] = [];
  // One unmeasured run of each warms the file-system cache, as Lambda's init finds the code on local disk.
  const warmup = timeSpawn([outfile], env, reporter);
  timeSpawn(['-e', ''], env, reporter);
  let failure = warmup.failure;
  for (let i = 0; i < runs && failure === undefined; i++) {
    const bare = timeSpawn(['-e', ''], env, reporter);
    const bundle = timeSpawn([outfile], env, reporter);
    failure = bundle.failure ?? bare.failure;
    bareRuns.push(bare);
    bundleRuns.push(bundle);
  }
  const medianOf = (list: Run[], pick: (run: Run) => number) => (failure === undefined ? median(list.map(pick)) : Number.NaN);
  return {
    name,
    bytes: code.byteLength,
    gzipBytes: gzipSync(code, { level: 9 }).byteLength,
    mapBytes: statSync(`${outfile}.map`).size,
    initMs: medianOf(bundleRuns, (run) => run.ms),
    bareMs: medianOf(bareRuns, (run) => run.ms),
    initCpuMs: medianOf(bundleRuns, (run) => run.cpuMs),
    bareCpuMs: medianOf(bareRuns, (run) => run.cpuMs),
    failure,
    largestPackages: largestPackages(metafile, 8),
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
    '| function | bundle | gzip | source map | init: node bundle.mjs | bare node | ratio | CPU: bundle / bare | CPU ratio | goals |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    const ratio = row.initMs / row.bareMs;
    const cpuRatio = row.initCpuMs / row.bareCpuMs;
    const goals =
      row.failure !== undefined
        ? `import failed: ${row.failure}`
        : [
            row.name === 'api' ? `size ${row.bytes <= apiBundleGoalBytes ? 'met' : 'missed'} (<= 500 KB)` : undefined,
            `init ${ratio <= initRatioGoal ? 'met' : 'missed'} (<= 2x)`,
          ]
            .filter(Boolean)
            .join(', ');
    lines.push(
      `| ${row.name} | ${kb(row.bytes)} | ${kb(row.gzipBytes)} | ${kb(row.mapBytes)} | ${row.initMs.toFixed(1)} ms | ${row.bareMs.toFixed(1)} ms | ${ratioText(ratio)} | ${row.initCpuMs.toFixed(1)} / ${row.bareCpuMs.toFixed(1)} ms | ${ratioText(cpuRatio)} | ${goals} |`,
    );
  }
  if (options.analyze) {
    lines.push('', 'Largest packages per bundle (minified bytes, esbuild metafile):');
    for (const row of rows) lines.push(`- ${row.name}: ${row.largestPackages.map((p) => `${p.name} ${kb(p.bytes)}`).join(', ')}`);
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
