import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { BuildOptions } from 'esbuild';
import { Charset, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';

/** The repository root: NodejsFunction's project root and the base of every entry path. */
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
 * The one definition of how a Lambda entry is bundled. CDK's NodejsFunction and `bench/cold-start.ts`
 * both derive their esbuild settings from it, so the benchmark measures exactly what is deployed.
 * Measured choices (docs/decisions.md, "Cold start"):
 * - The AWS SDK is bundled rather than taken from the runtime (NodejsFunction's default
 *   `externalModules: ['@aws-sdk/*']`): the deployed code then runs the SDK version the tests ran, and
 *   the runtime's SDK, loaded file by file from node_modules, made module init about twice as slow.
 * - `charset: utf8` keeps non-ASCII text as it is instead of `\uXXXX` escapes (smaller bundles).
 */
export const lambdaBundle = {
  target: 'node22',
  platform: 'node',
  format: 'esm',
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  charset: 'utf8',
  mainFields: ['module', 'main'],
  external: [] as string[],
  alias: aliases as Record<string, string>,
  banner: requireShim,
} as const;

/** NodejsFunction bundling options: local esbuild (never Docker), same settings as `lambdaBundle`. */
export function cdkBundlingOptions(): BundlingOptions {
  return {
    target: lambdaBundle.target,
    format: OutputFormat.ESM,
    minify: lambdaBundle.minify,
    sourceMap: lambdaBundle.sourcemap,
    sourcesContent: lambdaBundle.sourcesContent,
    charset: Charset.UTF8,
    mainFields: [...lambdaBundle.mainFields],
    externalModules: [...lambdaBundle.external],
    banner: lambdaBundle.banner,
    esbuildArgs: { '--alias': Object.entries(lambdaBundle.alias).map(([name, replacement]) => `${name}=${replacement}`) },
    forceDockerBundling: false,
  };
}

/** esbuild API options producing the same bundle NodejsFunction produces for `name`. */
export function esbuildOptions(name: LambdaName, outfile: string): BuildOptions {
  return {
    entryPoints: [entryPath(name)],
    outfile,
    bundle: true,
    absWorkingDir: repoRoot,
    target: lambdaBundle.target,
    platform: lambdaBundle.platform,
    format: lambdaBundle.format,
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
