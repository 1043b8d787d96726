/**
 * Spectral's OWASP API Security ruleset (@stoplight/spectral-owasp-ruleset, through the checked-in
 * .spectral.yaml) passes on the API's own document with no error: every string, integer and array
 * bounded in requests and responses, the rate-limit and CORS headers declared where the API sends
 * them, every write behind a security scheme (Stripe's webhook behind its signature), servers with
 * their audience. Warnings are allowed (README "The OpenAPI document" lists them).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../scripts/openapi-document.ts';

const ROOT = resolve(import.meta.dirname, '../..');
// Under the repository (not a dot-directory), so that the overrides of .spectral.yaml, globs relative
// to it, match the document as they match a checked-out openapi.json.
const DIR = join(ROOT, 'test-results', `openapi-owasp-${process.pid}`);
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

interface SpectralResult {
  code: string;
  message: string;
  severity: number;
  path: string[];
}

describe('the OpenAPI document under the OWASP API Security ruleset', () => {
  it('has no error', { timeout: 120_000 }, async () => {
    mkdirSync(DIR, { recursive: true });
    const file = join(DIR, 'openapi.json');
    writeFileSync(file, JSON.stringify(await openApiDocument(), null, 2));
    const bin = join(ROOT, 'node_modules', '.bin', 'spectral');
    // Spectral exits 1 when it finds errors; the results are on stdout either way.
    const run = await promisify(execFile)(bin, ['lint', file, '--ruleset', join(ROOT, '.spectral.yaml'), '--format', 'json', '--quiet', '--fail-severity', 'error'], {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
    }).catch((error: { stdout?: string; code?: number }) => ({ stdout: error.stdout ?? '', code: error.code }));
    const results = JSON.parse(run.stdout || '[]') as SpectralResult[];
    const errors = results.filter((r) => r.severity === 0).map((r) => `${r.code} at ${r.path.join('.')}: ${r.message}`);
    expect(errors).toEqual([]);
    // The ruleset really ran: the document has strings the ruleset would flag without their limits.
    expect(results.some((r) => r.code.startsWith('owasp:'))).toBe(true);
  });
});
