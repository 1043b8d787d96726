import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { buildSync, type BuildOptions } from 'esbuild';
import { AssetHashType, DockerImage, type ILocalBundling } from 'aws-cdk-lib';
import { Code } from 'aws-cdk-lib/aws-lambda';

/** The repository root: esbuild's working directory and the base of every entry path. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Every Lambda entry point of the system, by the name its function, log group and metrics carry. */
export const lambdaEntries = {
  api: 'functions/api.ts',
  'outbox-dispatcher': 'functions/outbox-dispatcher.ts',
  'webhook-sender': 'functions/webhook-sender.ts',
  sweeper: 'functions/sweeper.ts',
  'billing-close': 'functions/billing-close.ts',
} as const;

export type LambdaName = keyof typeof lambdaEntries;

export const lambdaNames = Object.keys(lambdaEntries) as LambdaName[];

export function entryPath(name: LambdaName): string {
  return path.join(repoRoot, lambdaEntries[name]);
}

/**
 * ESM bundles cannot call `require`, but some CommonJS dependencies do (e.g. `require('crypto')` inside
 * a bundled CJS module). Giving the module scope a real `require` keeps those working.
 */
const requireShim = "import { createRequire as __gmCreateRequire } from 'node:module'; const require = __gmCreateRequire(import.meta.url);";

/**
 * Packages replaced in the Lambda bundles by a module of ours, as esbuild aliases (paths relative to
 * the repository root, where CDK and the benchmark run esbuild). `zod` loses its locale catalogue,
 * which nothing here reads and which @hono/zod-openapi would otherwise pull in whole (about 260 KB);
 * see infra/zod-without-locales/index.ts. An import of a zod subpath fails the build, never silently.
 */
const aliases = { zod: './infra/zod-without-locales/index.ts' } as const;

/**
 * The one definition of how a Lambda entry is bundled. The functions' assets (`lambdaCode`) and
 * `bench/cold-start.ts` both build with `esbuildOptions`, so the benchmark measures exactly what is
 * deployed. Measured choices (docs/decisions.md, "Cold start"):
 * - ESM with code splitting: `index.mjs` is the entry chunk, what the function loads at init; every
 *   `import()` of the composition root (the Stripe SDK on billing's first call to Stripe, the portal
 *   on the first page, the API reference on /docs, the SQS and Secrets Manager clients where used)
 *   is a chunk under `chunks/`, read from the function's disk when first needed.
 * - The AWS SDK is bundled rather than taken from the runtime (NodejsFunction's default
 *   `externalModules: ['@aws-sdk/*']`): the deployed code then runs the SDK version the tests ran, and
 *   the runtime's SDK, loaded file by file from node_modules, made module init about twice as slow.
 * - `charset: utf8` keeps non-ASCII text as it is instead of `\uXXXX` escapes (smaller bundles).
 */
export const lambdaBundle = {
  target: 'node22',
  platform: 'node',
  format: 'esm',
  splitting: true,
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  charset: 'utf8',
  mainFields: ['module', 'main'],
  external: [] as string[],
  alias: aliases as Record<string, string>,
  banner: requireShim,
} as const;

/** The entry chunk's file in a function's asset: Lambda's handler `index.handler` names it. */
export const entryFile = 'index.mjs';

/** esbuild API options writing `name`'s bundle into `outdir`: `index.mjs` (the entry chunk) and `chunks/*.mjs`. */
export function esbuildOptions(name: LambdaName, outdir: string): BuildOptions & { outdir: string } {
  return {
    entryPoints: { index: entryPath(name) },
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    absWorkingDir: repoRoot,
    target: lambdaBundle.target,
    platform: lambdaBundle.platform,
    format: lambdaBundle.format,
    splitting: lambdaBundle.splitting,
    minify: lambdaBundle.minify,
    sourcemap: lambdaBundle.sourcemap,
    sourcesContent: lambdaBundle.sourcesContent,
    charset: lambdaBundle.charset,
    mainFields: [...lambdaBundle.mainFields],
    external: [...lambdaBundle.external],
    alias: { ...lambdaBundle.alias },
    banner: { js: lambdaBundle.banner },
    logLevel: 'warning',
  };
}

/**
 * Bundles one entry with local esbuild. Its `name` is a field because CDK caches bundled assets by
 * the JSON of the bundling options: two functions with the same options would share one bundle.
 */
class LocalEsbuild implements ILocalBundling {
  constructor(readonly name: LambdaName) {}

  tryBundle(outputDir: string): boolean {
    buildSync(esbuildOptions(this.name, outputDir));
    return true;
  }
}

/**
 * The function's code asset, bundled by local esbuild (never Docker) with `esbuildOptions`.
 * NodejsFunction cannot do this: it always passes esbuild one `--outfile`, and code splitting needs
 * an output directory, so the asset is built here the way NodejsFunction builds its own
 * (`Code.fromAsset` of the project root, hashed by its output, bundled locally).
 */
export function lambdaCode(name: LambdaName): Code {
  return Code.fromAsset(repoRoot, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the type; never pulled: local bundling always succeeds or throws.
      image: DockerImage.fromRegistry('local-esbuild-only'),
      local: new LocalEsbuild(name),
    },
  });
}
