/**
 * `npm start` (scripts/start.ts) keeps each checkout's DynamoDB Local to itself and says plainly what
 * is in the way: a busy API port, another checkout's DynamoDB on its port, a program that is not
 * DynamoDB there. It reuses a DynamoDB Local only when that database was started by the same checkout.
 * Each run is the real script in a child process, with a temporary directory as its checkout; the
 * suite's DynamoDB Local plays the database already answering on the port.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { claimOwnership, freePort } from '../../scripts/dynamodb-local.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const START = join(ROOT, 'scripts', 'start.ts');
const endpoint = inject('dynamoEndpoint');
const dynamoPort = new URL(endpoint).port;
const dirs: string[] = [];
const servers: Server[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const s of servers) s.close();
});

const checkout = () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpum-start-'));
  dirs.push(dir);
  return dir;
};

/** Listens on a free port with a TCP server that never answers: a program that is not DynamoDB. */
async function occupied(): Promise<number> {
  const port = await freePort();
  const server = createServer((socket) => socket.on('error', () => {}));
  servers.push(server);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return port;
}

/** Runs `npm start`'s script in `cwd` until it exits, or until `until` shows in its output (then stops it). */
function start(cwd: string, env: Record<string, string>, until?: RegExp): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', TSX, START], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, LOG_LEVEL: 'WARN', SWEEP_INTERVAL_MS: '60000', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`start did not finish in time:\n${output}`));
    }, 90_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (until?.test(output)) child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

describe('npm start', { timeout: 120_000 }, () => {
  it('reports a busy API port as such, before touching any database', async () => {
    const dir = checkout();
    const port = await occupied();
    const run = await start(dir, { PORT: String(port), DYNAMODB_LOCAL_PORT: dynamoPort });
    expect(run.code).toBe(1);
    expect(run.output).toContain(`Port ${port} is already in use`);
    expect(run.output).toContain(`PORT=${port + 1} npm start`);
    expect(existsSync(join(dir, '.local', 'keys.json'))).toBe(false);
  });

  it('refuses a DynamoDB on its port that another checkout started, and writes nothing there', async () => {
    const dir = checkout();
    const other = join(tmpdir(), 'another-checkout-of-gpu-market');
    await claimOwnership(endpoint, other);
    const run = await start(dir, { PORT: String(await freePort()), DYNAMODB_LOCAL_PORT: dynamoPort, TABLE_NAME: `start-refused-${process.pid}` });
    expect(run.code).toBe(1);
    expect(run.output).toContain(`it belongs to the checkout at ${other}`);
    expect(run.output).toContain(`DYNAMODB_LOCAL_PORT=${Number(dynamoPort) + 1} npm start`);
    expect(run.output).toContain(`DYNAMODB_ENDPOINT=${endpoint} npm start`);
    expect(existsSync(join(dir, '.local', 'keys.json'))).toBe(false);
  });

  it('reports a port taken by a program that is not DynamoDB, not as a Java problem', async () => {
    const dir = checkout();
    const port = await occupied();
    const run = await start(dir, { PORT: String(await freePort()), DYNAMODB_LOCAL_PORT: String(port) });
    expect(run.code).toBe(1);
    expect(run.output).toContain(`Port ${port} is already in use by a program that is not DynamoDB`);
    expect(run.output).not.toMatch(/Java 17|Java was not found/);
  });

  it('reuses its own checkout’s DynamoDB Local, seeds it and serves', async () => {
    const dir = checkout();
    await claimOwnership(endpoint, dir);
    const port = await freePort();
    const run = await start(dir, { PORT: String(port), DYNAMODB_LOCAL_PORT: dynamoPort, TABLE_NAME: `start-reused-${process.pid}` }, /Press Ctrl-C to stop/);
    expect(run.output).toContain(`Reusing this checkout's DynamoDB Local, already running on ${endpoint}`);
    expect(run.output).toContain(`http://127.0.0.1:${port}/v1`);
    expect(existsSync(join(dir, '.local', 'keys.json'))).toBe(true);
  });
});
