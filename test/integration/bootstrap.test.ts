/**
 * The first-start command of a deployed stack, run as the deployer runs it (`npm run bootstrap`), against
 * a fresh table in DynamoDB Local: only the endpoint differs from AWS.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { readCatalog } from '../../shared/store/catalog.ts';
import { principalForKey } from '../../shared/store/orgs.ts';
import { listAudit } from '../../shared/store/audit.ts';
import { CATALOG } from '../../shared/store/seed.ts';
import { createTestDb } from '../support/db.ts';

const run = promisify(execFile);
let db: Awaited<ReturnType<typeof createTestDb>>;
beforeAll(async () => {
  db = await createTestDb('bootstrap');
});
afterAll(() => db.drop());

const bootstrap = () =>
  run('npm', ['run', '--silent', 'bootstrap', '--', '--stage', 'test', '--table', db.table, '--endpoint', inject('dynamoEndpoint'), '--region', 'eu-west-3'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
  });

describe('npm run bootstrap', () => {
  it('writes the catalog and prints one operator key; a second run writes nothing and creates no other key', async () => {
    const first = await bootstrap();
    const key = first.stdout.match(/\b(gm_op_[A-Za-z0-9_-]{20,})\b/)?.[1];
    expect(key, first.stdout).toBeDefined();
    const principal = await principalForKey(db, key!);
    expect(principal).toMatchObject({ role: 'operator' });
    const items = CATALOG.sites.length + CATALOG.gpuTypes.length + CATALOG.pools.length;
    expect(first.stdout).toContain(`Catalog: ${items} item(s) written, 0 already there`);
    const catalog = await readCatalog(db);
    expect(catalog.pools.map((p) => p.id).sort()).toEqual(CATALOG.pools.map((p) => p.id).sort());
    expect(catalog.sites.find((s) => s.id === 'valence-rovaltain')).toEqual(CATALOG.sites.find((s) => s.id === 'valence-rovaltain'));
    const audit = await listAudit(db, 100, undefined);
    expect(audit.data).toHaveLength(items);
    expect(audit.data.every((e) => e.actor === 'bootstrap' && e.before === null)).toBe(true);

    const second = await bootstrap();
    expect(second.stdout).not.toMatch(/gm_op_/);
    expect(second.stdout).toContain(`Catalog: 0 item(s) written, ${items} already there`);
    expect(second.stdout).toContain(`The first operator key already exists (id ${principal!.keyId}`);
    expect((await listAudit(db, 100, undefined)).data).toHaveLength(items);
    expect(await principalForKey(db, key!)).toEqual(principal);
  });

  it('names the missing table instead of writing anywhere else', async () => {
    await expect(
      run('npm', ['run', '--silent', 'bootstrap', '--', '--table', 'no-such-table', '--endpoint', inject('dynamoEndpoint')], { encoding: 'utf8', timeout: 120_000 }),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('Table no-such-table is not reachable') });
  });
});
