/**
 * `npm run lint:openapi`: writes the API's OpenAPI document to test-results/openapi.json and runs
 * Spectral on it with the checked-in .spectral.yaml (the OWASP API Security ruleset), printing what it
 * finds; exits non-zero on any error (test/unit/openapi-owasp.test.ts checks the same in `npm test`).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openApiDocument } from './openapi-document.ts';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, 'test-results');
mkdirSync(dir, { recursive: true });
const file = join(dir, 'openapi.json');
writeFileSync(file, JSON.stringify(await openApiDocument(), null, 2));
const run = spawnSync(join(root, 'node_modules', '.bin', 'spectral'), ['lint', file, '--ruleset', join(root, '.spectral.yaml'), '--fail-severity', 'error', ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });
process.exit(run.status ?? 1);
