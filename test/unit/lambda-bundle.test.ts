/**
 * The API Lambda as deployed: bundled by infra/bundling.ts (esbuild, ESM split into an entry chunk and
 * chunks loaded on first need), run by node, sent API Gateway events. The rest of the suite runs the
 * sources, where module evaluation follows the import graph; this file checks what only the bundle can
 * get wrong: a chunk loaded on first need that evaluates before what it depends on (the first route to
 * load once called `.openapi` on an unextended zod: shared/http/zod.ts), or a route module the entry
 * chunk cannot reach. No I/O: the requests need no table, Stripe is not configured.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryFile, esbuildOptions } from '../../infra/bundling.ts';

let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gm-api-bundle-'));
  await build({ ...esbuildOptions('api', path.join(dir, 'api')), logLevel: 'error' });
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Answer {
  status: number;
  body: string;
}

/** Sends the events in order to one fresh process's handler (one cold start) and returns the answers. */
function coldStart(requests: { method: string; path: string; headers?: Record<string, string>; body?: string }[]): Answer[] {
  const script = path.join(dir, 'send.mjs');
  writeFileSync(
    script,
    `const { handler } = await import(${JSON.stringify(path.join(dir, 'api', entryFile))});
const answers = [];
for (const r of ${JSON.stringify(requests)}) {
  const event = {
    version: '2.0', routeKey: '$default', rawPath: r.path, rawQueryString: '',
    headers: { host: 'api.example.test', accept: 'application/json', ...(r.headers ?? {}) },
    requestContext: { accountId: '123456789012', apiId: 'test', domainName: 'api.example.test', domainPrefix: 'api', requestId: 'test', routeKey: '$default', stage: '$default', time: '', timeEpoch: 0,
      http: { method: r.method, path: r.path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' } },
    body: r.body ?? '', isBase64Encoded: false,
  };
  const response = await handler(event, { awsRequestId: 'test', functionName: 'api', getRemainingTimeInMillis: () => 20000 });
  answers.push({ status: response.statusCode, body: response.body });
}
process.stdout.write(JSON.stringify(answers));
`,
  );
  const env = { PATH: process.env.PATH, AWS_REGION: 'eu-west-3', TABLE_NAME: 'gpu-market-test', LOG_LEVEL: 'SILENT' };
  const run = spawnSync(process.execPath, [script], { env, encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`the bundle failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Answer[];
}

const stripeWebhook = { method: 'POST', path: '/v1/stripe/webhook', headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' }, body: '{"id":"evt_1"}' };

describe('the bundled API Lambda', () => {
  it('answers a first request that reaches a route: its chunk loads after zod is extended', () => {
    const [answer] = coldStart([stripeWebhook]);
    expect(answer!.status).toBe(400);
    expect(JSON.parse(answer!.body)).toMatchObject({ status: 400, errors: [{ path: 'stripe-signature' }] });
  });

  it('answers 401 before any route loads, and then the routes', () => {
    const answers = coldStart([{ method: 'GET', path: '/v1/reservations/res_1' }, stripeWebhook, { method: 'GET', path: '/v1/no-such-thing' }]);
    expect(answers.map((a) => a.status)).toEqual([401, 400, 401]);
  });

  it('serves the OpenAPI document, every route module loaded from its chunk, as the sources do', () => {
    const [answer] = coldStart([{ method: 'GET', path: '/openapi.json' }]);
    expect(answer!.status).toBe(200);
    const bundled = JSON.parse(answer!.body) as { paths: Record<string, unknown> };
    const committed = readFileSync(path.join(import.meta.dirname, '../../clients/typescript/src/openapi.ts'), 'utf8');
    const paths = Object.keys(bundled.paths);
    expect(paths.length).toBeGreaterThan(40);
    for (const p of paths) expect(committed, `${p} is in the SDK generated from the sources' document`).toContain(`"${p}"`);
  });
});
