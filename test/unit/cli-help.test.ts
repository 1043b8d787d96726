/**
 * `gpum`: every command and subcommand answers `--help` (exit 0) with its usage, its options and the
 * global `--json`; colours are used only when both streams are a terminal, and never with NO_COLOR or
 * TERM=dumb.
 */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createOutput, type Io } from '../../clients/cli/src/format.ts';
import { buildProgram, main } from '../../clients/cli/src/main.ts';

const io = (tty = false, env: NodeJS.ProcessEnv = {}) => {
  const buffers = { stdout: '', stderr: '' };
  const value: Io = {
    env,
    stdout: { write: (s: string) => (buffers.stdout += s), isTTY: tty },
    stderr: { write: (s: string) => (buffers.stderr += s), isTTY: tty },
  };
  return { io: value, buffers };
};

/** Every command path of the program: ['sites'], ['webhooks'], ['webhooks', 'add'], … */
function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

describe('gpum --help', () => {
  const { io: probe } = io();
  const paths = commandPaths(buildProgram(() => { throw new Error('no command runs here'); }, probe));

  it('covers the commands the issue lists', () => {
    const top = paths.filter((p) => p.length === 1).map((p) => p[0]);
    expect(top).toEqual(expect.arrayContaining(['login', 'sites', 'pools', 'availability', 'offers', 'quote', 'book', 'ls', 'show', 'extend', 'cancel', 'stop', 'usage', 'invoices', 'events', 'webhooks']));
  });

  it.each(paths.map((p) => [p.join(' '), p] as const))('%s --help exits 0 with its usage and --json', async (_name, path) => {
    const { io: run, buffers } = io(false, { XDG_CONFIG_HOME: '/nonexistent' });
    const code = await main(['node', 'gpum', ...path, '--help'], run);
    expect(code).toBe(0);
    expect(buffers.stdout).toContain(`Usage: gpum ${path.join(' ')}`);
    expect(buffers.stdout).toContain('--json');
  });
});

describe('gpum colours', () => {
  const red = (tty: boolean, env: NodeJS.ProcessEnv = {}) => createOutput({ json: false, io: io(tty, env).io }).color.red('x');
  it('only on a terminal, and never with NO_COLOR or TERM=dumb', () => {
    expect(red(true)).toContain('\u001b[');
    expect(red(false)).toBe('x');
    expect(red(true, { NO_COLOR: '' })).toBe('x');
    expect(red(true, { TERM: 'dumb' })).toBe('x');
  });
});
