/**
 * The layers point one way (docs/architecture.md): dependency-cruiser reads the import graph of
 * shared/, functions/, scripts/ and infra/ (type-only imports included) against the rules in
 * .dependency-cruiser.cjs. A lower layer importing a higher one fails here, naming both files.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const depcruise = path.join(root, 'node_modules/.bin/depcruise');

/** The rule violations dependency-cruiser reports for `paths`, run in `cwd` with the project's rules, as `rule: from → to`. */
function violationsIn(cwd: string, paths: string[]): string[] {
  const run = spawnSync(depcruise, ['-c', '.dependency-cruiser.cjs', '--output-type', 'json', ...paths], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (!run.stdout) throw new Error(`depcruise did not run: ${run.stderr || run.error?.message}`);
  const result = JSON.parse(run.stdout) as { summary: { violations: { rule: { name: string }; from: string; to: string }[] } };
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

describe('import direction', () => {
  it('no module imports a layer above its own, not even a type', () => {
    expect(violationsIn(root, ['shared', 'functions', 'scripts', 'infra'])).toEqual([]);
  }, 60_000);

  it('the check fails on an upward import, a type-only one through a subpath alias included', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'layers-'));
    try {
      for (const file of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) copyFileSync(path.join(root, file), path.join(dir, file));
      mkdirSync(path.join(dir, 'shared/domain'), { recursive: true });
      mkdirSync(path.join(dir, 'shared/store'), { recursive: true });
      mkdirSync(path.join(dir, 'shared/http'), { recursive: true });
      writeFileSync(path.join(dir, 'shared/http/context.ts'), 'export interface Services { name: string }\n');
      writeFileSync(path.join(dir, 'shared/store/keys.ts'), "export const PREFIX = 'ORG#';\n");
      writeFileSync(path.join(dir, 'shared/domain/upward.ts'), "import type { Services } from '#http/context.ts';\nexport type Name = Services['name'];\n");
      writeFileSync(path.join(dir, 'shared/domain/also-upward.ts'), "import { PREFIX } from '../store/keys.ts';\nexport const p = PREFIX;\n");
      expect(violationsIn(dir, ['shared']).sort()).toEqual([
        'domain-imports-upward: shared/domain/also-upward.ts → shared/store/keys.ts',
        'domain-imports-upward: shared/domain/upward.ts → shared/http/context.ts',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
