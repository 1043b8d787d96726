/** Terminal output: money, tables, colours (only on a TTY), the spinner and the availability heat map. */
import Table from 'cli-table3';
import { createSpinner } from 'nanospinner';
import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

export interface Output {
  json: boolean;
  color: Colors;
  /** stdout is a terminal: colours, spinners and prompts are allowed. */
  tty: boolean;
  out(text: string): void;
  err(text: string): void;
}

/** Where a run writes: the process's streams, or a test's buffers. */
export interface Io {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

export const processIo = (): Io => ({ env: process.env, stdout: process.stdout, stderr: process.stderr });

export function createOutput(options: { json: boolean; io: Io }): Output {
  const { stdout, stderr, env } = options.io;
  const tty = Boolean(stdout.isTTY && stderr.isTTY);
  const colorOn = tty && !('NO_COLOR' in env) && env.TERM !== 'dumb';
  return {
    json: options.json,
    tty,
    color: pc.createColors(colorOn),
    out: (text) => void stdout.write(`${text}\n`),
    err: (text) => void stderr.write(`${text}\n`),
  };
}

/** 123456 cents → "€1,234.56" (exact: integer arithmetic, no floating point). */
export function money(m: { amount: number; currency: string } | null | undefined): string {
  if (!m) return '—';
  const sign = m.amount < 0 ? '−' : '';
  const abs = Math.abs(m.amount);
  const euros = Math.floor(abs / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const symbol = m.currency === 'EUR' ? '€' : `${m.currency} `;
  return `${sign}${symbol}${euros}.${String(abs % 100).padStart(2, '0')}`;
}

/** "2027-02-01T08:00:00Z" → "2027-02-01 08:00Z" (UTC, short). */
export const time = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/:00(\.000)?Z$/, 'Z') : '—');

export function table(o: Output, head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head: head.map((h) => o.color.bold(h)), style: { head: [], border: [] } });
  for (const row of rows) t.push(row.map(String));
  return t.toString();
}

/** Key/value pairs, one per line, keys aligned. */
export function details(o: Output, pairs: [string, string | number | null | undefined][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${o.color.dim(k.padEnd(width))}  ${v ?? '—'}`).join('\n');
}

export function statusColor(o: Output, status: string): string {
  const c = o.color;
  if (['confirmed', 'active', 'paid', 'enabled', 'succeeded', 'balanced'].includes(status)) return c.green(status);
  if (['held', 'open', 'draft', 'pending'].includes(status)) return c.yellow(status);
  if (['cancelled', 'expired', 'failed', 'void', 'uncollectible', 'disabled'].includes(status)) return c.red(status);
  return status;
}

/**
 * Runs `work` with a spinner on stderr when it takes more than `delayMs` (default 1 s) and stderr is a
 * terminal; nothing is drawn in pipes, scripts or `--json` runs.
 */
export async function withSpinner<T>(o: Output, text: string, work: () => Promise<T>, delayMs = 1000): Promise<T> {
  if (!o.tty || o.json) return work();
  const spinner = createSpinner(text, { stream: process.stderr });
  const timer = setTimeout(() => spinner.start(), delayMs);
  try {
    return await work();
  } finally {
    clearTimeout(timer);
    if (spinner.isSpinning()) spinner.clear().stop();
  }
}

const SHADES = [' ', '░', '▒', '▓', '█'];

/**
 * Free GPUs per slot as a heat map: one row per UTC day (hourly slots: 24 columns) or one row per pool
 * (daily slots). Each cell is shaded by the free share of the pool's capacity; on a colour terminal
 * green is free, yellow partly booked, red full.
 */
export function heatMap(o: Output, pool: { poolId: string; capacity: number; slots: { start: string; end: string; available: number }[] }): string {
  const c = o.color;
  const cell = (available: number): string => {
    const share = pool.capacity > 0 ? available / pool.capacity : 0;
    const glyph = SHADES[Math.min(4, Math.ceil(share * 4))]!;
    const paint = share === 0 ? c.red : share < 0.5 ? c.yellow : c.green;
    return paint(glyph.repeat(2));
  };
  const hourly = pool.slots.length > 0 && Date.parse(pool.slots[0]!.end) - Date.parse(pool.slots[0]!.start) <= 3_600_000;
  const lines: string[] = [];
  if (hourly) {
    lines.push(`${' '.repeat(11)}${Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0')).join('')}  (UTC hour)`);
    const days = new Map<string, Map<number, number>>();
    for (const s of pool.slots) {
      const day = s.start.slice(0, 10);
      if (!days.has(day)) days.set(day, new Map());
      days.get(day)!.set(Number(s.start.slice(11, 13)), s.available);
    }
    for (const [day, hours] of days) {
      lines.push(`${day} ${Array.from({ length: 24 }, (_, h) => (hours.has(h) ? cell(hours.get(h)!) : '  ')).join('')}`);
    }
  } else {
    const step = Math.max(1, Math.ceil(pool.slots.length / 60));
    const shown = pool.slots.filter((_, i) => i % step === 0);
    lines.push(`${time(pool.slots[0]?.start)} → ${time(pool.slots.at(-1)?.end)}${step > 1 ? ` (every ${step}th day)` : ''}`);
    lines.push(shown.map((s) => cell(s.available)).join(''));
  }
  lines.push(c.dim(`legend: ${c.green('██')} ≥ 50 % free  ${c.yellow('▒▒')} partly free  ${c.red('  ')} none free (of ${pool.capacity} GPUs)`));
  return lines.join('\n');
}
