/**
 * `gpum` end to end against the whole system served over HTTP on DynamoDB Local. The real bin
 * (clients/cli/bin/gpum.mjs, what `npx gpum` runs) runs in child processes for help, login, a booking
 * and the exit codes; the rest of the flow calls the same `main` in-process (a child costs seconds of
 * tsx start-up on a busy machine). Login goes to a config directory of the test's own; `--json`
 * outputs are parsed; every failure class has its exit code.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGpuMarket } from '../../clients/typescript/src/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../clients/cli/src/main.ts';
import { createSystemContext, type SystemContext } from '../support/system.ts';

const BIN = fileURLToPath(new URL('../../clients/cli/bin/gpum.mjs', import.meta.url));
const SLOW = 300_000;

let t: SystemContext;
let api: string;
let configHome: string;

beforeAll(async () => {
  t = await createSystemContext();
  api = await t.listen();
  configHome = mkdtempSync(join(tmpdir(), 'gpum-config-'));
  process.env.XDG_CONFIG_HOME = configHome; // env-paths, for the in-process runs
});
afterAll(async () => {
  await t?.close();
  rmSync(configHome, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `gpum …` in-process, with only the given GPU_MARKET_* variables (never the developer's own login). */
async function gpum(args: string[], env: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'gpum', ...args], {
    env: { XDG_CONFIG_HOME: configHome, NO_COLOR: '1', ...env },
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

/** `gpum …` as a child process running the bin, as `npx gpum` does. */
function gpumBin(args: string[], env: Record<string, string> = {}, options: { stdin?: string } = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GPU_MARKET_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...base, XDG_CONFIG_HOME: configHome, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

const asCustomer = () => ({ GPU_MARKET_API_URL: api, GPU_MARKET_API_KEY: t.keys.customer });
const json = (run: Run) => {
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
};

describe('gpum', () => {
  it('lists its commands and documents its exit codes; usage errors exit 1', async () => {
    const help = await gpumBin(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['login', 'sites', 'pools', 'availability', 'offers', 'quote', 'book', 'ls', 'show', 'extend', 'cancel', 'stop', 'usage', 'invoices', 'events', 'webhooks']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    expect(help.stdout).toContain('3  network');
    const bookHelp = await gpum(['book', '--help']);
    expect(bookHelp.code).toBe(0);
    expect(bookHelp.stdout).toContain('--gpu-type <id>');
    expect(bookHelp.stdout).toContain('--json');

    const badNumber = await gpum(['book', '--site', 'marseille', '--gpu-type', 'b200-sxm-192gb', '--gpus', 'eight', '--start', '2026-12-10T08:00:00Z', '--end', '2026-12-11T08:00:00Z', '--yes'], asCustomer());
    expect(badNumber.code).toBe(1);
    expect(badNumber.stderr).toContain('--gpus must be a positive whole number');
    const unknown = await gpum(['reserve'], asCustomer());
    expect(unknown.code).toBe(1);
    const noLogin = await gpum(['ls']);
    expect(noLogin.code).toBe(1);
    expect(noLogin.stderr).toContain('gpum login');
  }, SLOW);

  it('logs in to a 0600 file in the config directory; the environment overrides it', async () => {
    const login = json(await gpumBin(['login', '--api-url', api, '--json'], {}, { stdin: `${t.keys.customer}\n` }));
    expect(login.me).toMatchObject({ role: 'customer', orgRole: 'admin', org: { id: 'org_lumiere', country: 'FR', tax: { treatment: 'fr_vat', rateBps: 2000 } } });
    const file = join(configHome, 'gpum', 'config.json');
    expect(login.configFile).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ apiUrl: api, apiKey: t.keys.customer });

    const stored = json(await gpum(['whoami', '--json']));
    expect(stored).toMatchObject({ apiUrl: api, source: 'config', org: { name: 'Lumière AI SAS' } });
    const overridden = json(await gpum(['whoami', '--json'], { GPU_MARKET_API_KEY: t.keys.customer2 }));
    expect(overridden).toMatchObject({ source: 'environment', org: { country: 'DE', tax: { treatment: 'eu_reverse_charge', rateBps: 0 } } });
    const refused = await gpum(['whoami', '--json'], { GPU_MARKET_API_KEY: 'gm_live_not_a_real_key_at_all' });
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stderr).error).toMatchObject({ status: 401, type: expect.stringContaining('/unauthenticated') });
    const wrongKey = await gpum(['login', '--api-url', api, '--api-key', 'gm_live_wrong_wrong_wrong']);
    expect(wrongKey.code).toBe(2);
    expect(JSON.parse(readFileSync(file, 'utf8')).apiKey).toBe(t.keys.customer);
    const unreachable = await gpumBin(['sites', '--json'], { GPU_MARKET_API_URL: 'http://127.0.0.1:9', GPU_MARKET_API_KEY: t.keys.customer });
    expect(unreachable.code).toBe(3);
    expect(JSON.parse(unreachable.stderr).error.type).toBe('network');
  }, SLOW);

  it('reads the catalog and availability', async () => {
    const sites = json(await gpum(['sites', '--json'], asCustomer()));
    expect(sites.map((s: { id: string }) => s.id)).toContain('marseille');
    const pools = json(await gpum(['pools', '--site', 'marseille', '--json'], asCustomer()));
    expect(pools.every((p: { site: string }) => p.site === 'marseille')).toBe(true);
    const table = await gpum(['pools'], asCustomer());
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/marseille.*€\d/);
    const availability = json(
      await gpum(['availability', '--site', 'marseille', '--gpu-type', 'b200-sxm-192gb', '--start', '2026-12-10T00:00:00Z', '--end', '2026-12-12T00:00:00Z', '--json'], asCustomer()),
    );
    expect(availability.pools[0].slots).toHaveLength(48);
    const heat = await gpum(['availability', '--site', 'marseille', '--gpu-type', 'b200-sxm-192gb', '--start', '2026-12-10T00:00:00Z', '--end', '2026-12-12T00:00:00Z'], asCustomer());
    expect(heat.code).toBe(0);
    expect(heat.stdout).toContain('2026-12-10 ████');
    expect(heat.stdout).toContain('legend');

    const offers = json(await gpum(['offers', '--gpu-type', 'h100-sxm-80gb', '--gpus', '8', '--duration-hours', '24', '--site', 'valence-rovaltain', '--limit', '3', '--json'], asCustomer()));
    expect(offers.data.length).toBeGreaterThan(0);
    const offer = offers.data[0];
    expect(offer).toMatchObject({ site: 'valence-rovaltain', gpus: 8, durationHours: 24 });
    const priced = json(await gpum(['quote', '--site', offer.site, '--gpu-type', 'h100-sxm-80gb', '--gpus', '8', '--start', offer.start, '--end', offer.end, '--json'], asCustomer()));
    expect(priced.total).toEqual(offer.total);
    const offerTable = await gpum(['offers', '--gpu-type', 'h100-sxm-80gb', '--gpus', '8', '--duration-hours', '24', '--limit', '2'], asCustomer());
    expect(offerTable.code).toBe(0);
    expect(offerTable.stdout).toContain('per GPU-h');
  }, SLOW);

  it('quotes, books (quote → hold → confirm), lists, shows, extends and cancels', async () => {
    const window = ['--site', 'marseille', '--gpu-type', 'b200-sxm-192gb', '--gpus', '16', '--start', '2026-12-10T08:00:00Z', '--end', '2026-12-12T08:00:00Z'];
    const quote = json(await gpum(['quote', ...window, '--json'], asCustomer()));
    expect(quote).toMatchObject({ gpus: 16, gpuHours: 16 * 48, total: { currency: 'EUR' } });

    const declined = await gpum(['book', ...window], asCustomer());
    expect(declined.code).toBe(1);
    expect(declined.stderr).toContain('--yes');

    const booked = json(await gpumBin(['book', ...window, '--yes', '--json'], asCustomer()));
    expect(booked).toMatchObject({ kind: 'reserved', status: 'confirmed', gpus: 16, start: quote.start, end: quote.end, price: quote.total });
    expect(Date.parse(booked.start)).toBe(Date.parse('2026-12-10T08:00:00Z'));
    expect(booked.invoiceId).toMatch(/^inv_/);
    const human = await gpum(['book', ...window.slice(0, 5), '8', ...window.slice(6), '--yes'], asCustomer());
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/total incl\. VAT\s+€[\d,]+\.\d\d/);
    expect(human.stdout).toContain('Booked res_');

    const list = json(await gpum(['ls', '--json'], asCustomer()));
    expect(list.data.map((r: { id: string }) => r.id)).toContain(booked.id);
    const shown = json(await gpum(['show', booked.id, '--json'], asCustomer()));
    expect(shown).toEqual(booked);

    const extended = json(await gpum(['extend', booked.id, '--end', '2026-12-12T10:00:00Z', '--json'], asCustomer()));
    expect(extended).toMatchObject({ extension: { gpuHours: 32 } });
    expect(Date.parse(extended.end)).toBe(Date.parse('2026-12-12T10:00:00Z'));

    const tooMany = await gpum(['book', ...window.slice(0, 5), '4096', ...window.slice(6), '--yes', '--json'], asCustomer());
    expect(tooMany.code).toBe(2);
    expect(JSON.parse(tooMany.stderr).error.errors ?? JSON.parse(tooMany.stderr).error.detail).toBeTruthy();
    const missing = await gpum(['show', 'res_01jzzzzzzzzzzzzzzzzzzzzzzz', '--json'], asCustomer());
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stderr).error.status).toBe(404);

    const unconfirmed = await gpum(['cancel', booked.id], asCustomer());
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toMatch(/Refund if cancelled now: €[\d,.]+ excl\. VAT/);
    const cancelled = json(await gpum(['cancel', booked.id, '--yes', '--json'], asCustomer()));
    expect(cancelled).toMatchObject({ id: booked.id, status: 'cancelled', refund: { percent: 100 } });

    const invoices = json(await gpum(['invoices', '--json'], asCustomer()));
    expect(invoices.data.map((i: { id: string }) => i.id)).toContain(booked.invoiceId);
    const invoice = json(await gpum(['invoices', booked.invoiceId, '--json'], asCustomer()));
    expect(invoice).toMatchObject({ id: booked.invoiceId, subtotal: booked.price, taxTreatment: 'fr_vat' });
    expect(invoice.total.amount).toBe(invoice.subtotal.amount + invoice.tax.amount);

    const events = json(await gpum(['events', '--json'], asCustomer()));
    const types = events.data.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(['reservation.held', 'reservation.confirmed', 'reservation.extended', 'reservation.cancelled']));
  }, SLOW);

  it('runs on-demand GPUs, reads their metered usage and stops them', async () => {
    const started = json(await gpum(['book', '--on-demand', '--site', 'valence-rovaltain', '--gpu-type', 'h100-sxm-80gb', '--gpus', '8', '--yes', '--json'], asCustomer()));
    expect(started).toMatchObject({ kind: 'on_demand', status: 'active', end: null, price: null });
    // The site's metering agent reports 30 minutes on 8 GPUs, through the typed SDK.
    t.clock.advance(3_600_000);
    const meter = createGpuMarket({ baseUrl: api, apiKey: t.keys.meter });
    const ingest = await meter.client.POST('/v1/usage', {
      body: { events: [{ id: `evt-cli-${started.id}`, reservationId: started.id, start: started.start, end: new Date(Date.parse(started.start) + 1_800_000).toISOString(), gpus: 8 }] },
    });
    expect(ingest.data).toMatchObject({ accepted: 1, rejected: [] });
    const usage = json(await gpum(['usage', '--reservation', started.id, '--json'], asCustomer()));
    expect(usage.gpuSeconds).toBe(8 * 1800);
    const stopped = json(await gpum(['stop', started.id, '--json'], asCustomer()));
    expect(stopped).toMatchObject({ id: started.id, status: 'stopped' });
    const again = await gpum(['stop', started.id, '--json'], asCustomer());
    expect(again.code).toBe(2);
    expect(JSON.parse(again.stderr).error.status).toBe(409);
  }, SLOW);

  it('manages webhook endpoints and follows events', async () => {
    const added = json(await gpum(['webhooks', 'add', '--url', 'http://127.0.0.1:9/hooks', '--events', 'reservation.confirmed,invoice.paid', '--json'], asCustomer()));
    expect(added).toMatchObject({ url: 'http://127.0.0.1:9/hooks', events: ['reservation.confirmed', 'invoice.paid'], status: 'enabled' });
    expect(added.secret).toMatch(/^whsec_/);
    const refused = await gpum(['webhooks', 'add', '--url', 'https://10.0.0.8/hooks', '--events', '*', '--json'], asCustomer());
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stderr).error.errors[0].path).toBe('url');
    const listed = json(await gpum(['webhooks', 'ls', '--json'], asCustomer()));
    expect(listed.data.map((e: { id: string }) => e.id)).toEqual([added.id]);
    expect(json(await gpum(['webhooks', 'deliveries', added.id, '--json'], asCustomer())).data).toEqual([]);
    expect(json(await gpum(['webhooks', 'rm', added.id, '--json'], asCustomer()))).toEqual({ id: added.id, deleted: true });

    // --follow prints one JSON event per line as they come, and stops cleanly on SIGINT.
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GPU_MARKET_')));
    const child = spawn(process.execPath, [BIN, 'events', '--follow', '--interval', '1', '--json'], { env: { ...base, ...asCustomer(), XDG_CONFIG_HOME: configHome }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const sawEvents = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"reservation.confirmed"')) resolve();
      }),
    );
    await sawEvents;
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { sequence: number });
    expect(lines.map((e) => e.sequence)).toEqual([...lines.map((e) => e.sequence)].sort((a, b) => a - b));
  }, SLOW);
});
