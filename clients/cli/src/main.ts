/**
 * `gpum`: the GPU Market command line, on the typed SDK (@gpu-market/sdk).
 *
 * Human tables by default, `--json` on every command (errors then go to stderr as JSON too).
 * Exit codes: 0 ok; 1 usage error (bad option, not logged in, declined prompt); 2 the API refused
 * (a problem+json answer); 3 network (no answer from the API after retries).
 */
import { createInterface } from 'node:readline/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, GpuMarketError, NetworkError, createGpuMarket, type GpuMarket, type Money, type Quote, type Reservation } from '../../typescript/src/index.ts';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { refundFor } from '../../../shared/domain/cancellation.ts';
import { invoiceTotals } from '../../../shared/domain/vat.ts';
import { configFile, effectiveLogin, readLogin, removeLogin, writeLogin, DEFAULT_API_URL } from './config.ts';
import { createOutput, details, heatMap, money, processIo, statusColor, table, time, withSpinner, type Io, type Output } from './format.ts';

export const EXIT = { ok: 0, usage: 1, api: 2, network: 3 } as const;

/** A mistake of the caller that no request can fix (exit 1). */
export class UsageError extends Error {
  override name = 'UsageError';
}

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  usage error: unknown command or option, missing login, declined confirmation
  2  the API refused the request (its problem+json is printed; with --json on stderr)
  3  network: the API could not be reached (after retries)

Environment:
  GPU_MARKET_API_URL  API base URL (overrides \`gpum login\`; default ${DEFAULT_API_URL})
  GPU_MARKET_API_KEY  API key (overrides \`gpum login\`)
  NO_COLOR            no colours even on a terminal`;

// ---------- option parsers (a bad value is a usage error, exit 1) ----------

const positiveInt = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`${name} must be a positive whole number`);
  return Number(value);
};
const nonNegativeInt = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`${name} must be a whole number`);
  return Number(value);
};

/** A time: RFC 3339, or "2027-02-01 08:00" (read as UTC); sent as RFC 3339 UTC without milliseconds. */
export function parseTime(value: string): string {
  const trimmed = value.trim();
  const withZone = /([zZ]|[+-]\d{2}:?\d{2})$/.test(trimmed) ? trimmed : `${trimmed}Z`;
  const iso = withZone.replace(' ', 'T');
  const at = Date.parse(iso);
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed) || Number.isNaN(at)) throw new InvalidArgumentError('expected a time like 2027-02-01T08:00:00Z');
  return new Date(at).toISOString().replace('.000Z', 'Z');
}

const csv = (value: string) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

// ---------- the context of one run ----------

interface Context {
  o: Output;
  api: () => GpuMarket;
  login: ReturnType<typeof effectiveLogin>;
}

function emit(o: Output, data: unknown, human: () => string) {
  o.out(o.json ? JSON.stringify(data, null, 2) : human());
}

async function confirmPrompt(o: Output, question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY || o.json) throw new UsageError('Confirmation needed: pass --yes to go ahead without a prompt');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') throw new UsageError('Aborted: nothing was changed');
  } finally {
    rl.close();
  }
}

async function readSecret(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').trim();
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Do not echo the key: write the prompt once, then swallow what readline would print.
  const write = (rl as unknown as { _writeToOutput?: (s: string) => void })._writeToOutput;
  process.stderr.write(prompt);
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  try {
    return (await rl.question('')).trim();
  } finally {
    (rl as unknown as { _writeToOutput?: unknown })._writeToOutput = write;
    rl.close();
    process.stderr.write('\n');
  }
}

// ---------- human renderings ----------

const gpuHourRate = (m: Money) => `${money(m)}/GPU-h`;

function reservationDetails(o: Output, r: Reservation): string {
  const rows: [string, string | number | null][] = [
    ['id', r.id],
    ['kind', r.kind],
    ['status', statusColor(o, r.status)],
    ['site', r.site],
    ['GPU type', r.gpuType],
    ['GPUs', r.gpus],
    ['start', time(r.start)],
    ['end', r.end ? time(r.end) : 'until stopped'],
  ];
  if (r.holdExpiresAt && r.status === 'held') rows.push(['hold expires', time(r.holdExpiresAt)]);
  rows.push(['price (excl. VAT)', r.price ? money(r.price) : 'metered (on-demand)']);
  if (r.invoiceId) rows.push(['invoice', r.invoiceId]);
  if (r.refund) rows.push(['refund', `${money(r.refund.amount)} (${r.refund.percent} %)`]);
  if (r.stoppedAt) rows.push(['stopped at', time(r.stoppedAt)]);
  const lines = r.lines.length > 0 ? `\n\n${table(o, ['line', 'amount'], r.lines.map((l) => [l.description, money(l.amount)]))}` : '';
  return details(o, rows) + lines;
}

function reservationRows(o: Output, list: Reservation[]) {
  return table(
    o,
    ['id', 'kind', 'status', 'site', 'GPU type', 'GPUs', 'start', 'end', 'price'],
    list.map((r) => [r.id, r.kind, statusColor(o, r.status), r.site, r.gpuType, r.gpus, time(r.start), r.end ? time(r.end) : 'running', r.price ? money(r.price) : 'metered']),
  );
}

function quoteSummary(o: Output, q: Quote, vat: { rateBps: number; treatment: string; legalMention: string | null } | null): string {
  const lines = table(o, ['line', 'amount'], q.lines.map((l) => [l.description, money(l.amount)]));
  const rows: [string, string][] = [
    ['quote', q.id],
    ['what', `${q.gpus} × ${q.gpuType} at ${q.site}`],
    ['window', `${time(q.start)} → ${time(q.end)} (${q.gpuHours} GPU-hours)`],
    ['effective rate', gpuHourRate(q.unitPrice)],
    ['total excl. VAT', money(q.total)],
  ];
  if (vat) {
    const totals = invoiceTotals(
      q.lines.map((l) => l.amount),
      vat.rateBps,
    );
    rows.push([`VAT (${vat.rateBps / 100} %, ${vat.treatment})`, money(totals.tax)]);
    rows.push(['total incl. VAT', o.color.bold(money(totals.total))]);
    if (vat.legalMention) rows.push(['note', vat.legalMention]);
  }
  rows.push(['price locked until', time(q.expiresAt)]);
  return `${lines}\n${details(o, rows)}`;
}

// ---------- the program ----------

export function buildProgram(ctxOf: (cmd: Command) => Context, io: Io): Command {
  const program = new Command('gpum')
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .description('GPU Market on the command line: find GPU capacity, price it, book it, follow it.')
    .version('0.1.0', '-v, --version')
    .option('--json', 'print JSON instead of tables (errors as JSON on stderr)')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText('after', EXIT_CODES_HELP);

  program
    .command('login')
    .description('Store the API URL and key in your config directory (file mode 0600), after checking them')
    .option('--api-url <url>', `API base URL (default: stored, then ${DEFAULT_API_URL})`)
    .option('--api-key <key>', 'API key; omit to be asked (or pipe it on stdin)')
    .addHelpText('after', '\nExample:\n  gpum login --api-url http://localhost:3000 --api-key "$(node -p "require(\'./.local/keys.json\').customer")"')
    .action(async (opts: { apiUrl?: string; apiKey?: string }, cmd: Command) => {
      const { o } = ctxOf(cmd);
      const apiUrl = (opts.apiUrl ?? io.env.GPU_MARKET_API_URL ?? readLogin().apiUrl ?? DEFAULT_API_URL).replace(/\/+$/, '');
      try {
        new URL(apiUrl);
      } catch {
        throw new UsageError(`--api-url: not a URL: ${apiUrl}`);
      }
      const apiKey = opts.apiKey && opts.apiKey !== '-' ? opts.apiKey : await readSecret('API key: ');
      if (!apiKey) throw new UsageError('No API key given');
      const me = await withSpinner(o, 'Checking the key…', () => createGpuMarket({ baseUrl: apiUrl, apiKey }).me());
      const file = writeLogin({ apiUrl, apiKey });
      emit(o, { apiUrl, configFile: file, me }, () =>
        `${o.color.green('✔')} Logged in to ${apiUrl} as a ${me.role} key${me.org ? ` of ${me.org.name} (${me.orgRole})` : ''}.\n  Stored in ${file} (mode 0600).`,
      );
    });

  program
    .command('logout')
    .description('Forget the stored API key')
    .action((_opts, cmd: Command) => {
      const { o } = ctxOf(cmd);
      const file = configFile();
      removeLogin();
      emit(o, { configFile: file, removed: true }, () => `Removed ${file}.`);
    });

  program
    .command('whoami')
    .description('The key in use: role, org and how its invoices are taxed')
    .action(async (_opts, cmd: Command) => {
      const { o, api, login } = ctxOf(cmd);
      const me = await withSpinner(o, 'Asking…', () => api().me());
      emit(o, { apiUrl: login.apiUrl, source: login.source, ...me }, () =>
        details(o, [
          ['API', login.apiUrl],
          ['key from', login.source],
          ['role', me.role + (me.orgRole ? ` (${me.orgRole})` : '')],
          ['org', me.org ? `${me.org.name} (${me.org.id}, ${me.org.country}${me.org.vatNumber ? `, VAT ${me.org.vatNumber}` : ''})` : null],
          ['VAT', me.org ? `${me.org.tax.rateBps / 100} % (${me.org.tax.treatment})` : null],
        ]),
      );
    });

  program
    .command('sites')
    .description('Data-center sites')
    .action(async (_opts, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const res = await withSpinner(o, 'Loading sites…', () => api().sites());
      emit(o, res.data, () =>
        table(
          o,
          ['id', 'name', 'city', 'country', 'status', 'power', 'cooling', 'opens'],
          res.data.map((s) => [s.id, s.name, s.city, s.country, statusColor(o, s.status), `${s.powerMw} MW`, s.cooling, s.opensAt.slice(0, 10)]),
        ),
      );
    });

  program
    .command('gpu-types')
    .description('GPU models on offer')
    .action(async (_opts, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const res = await withSpinner(o, 'Loading GPU types…', () => api().gpuTypes());
      emit(o, res.data, () =>
        table(
          o,
          ['id', 'vendor', 'name', 'memory', 'interconnect', 'BF16 TFLOPS'],
          res.data.map((g) => [g.id, g.vendor, g.name, `${g.memoryGb} GB`, g.interconnect, g.peakBf16Tflops]),
        ),
      );
    });

  program
    .command('pools')
    .description('Pools (one GPU type at one site) with capacity, booking steps and list prices')
    .option('--site <id>', 'only this site')
    .option('--gpu-type <id>', 'only this GPU type')
    .action(async (opts: { site?: string; gpuType?: string }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const res = await withSpinner(o, 'Loading pools…', () => api().pools({ ...(opts.site ? { site: opts.site } : {}), ...(opts.gpuType ? { gpuType: opts.gpuType } : {}) }));
      emit(o, res.data, () =>
        table(
          o,
          ['id', 'site', 'GPU type', 'GPUs', 'per node', 'min / step', 'on-demand', 'reserved list', 'bookable from'],
          res.data.map((p) => [p.id, p.site, p.gpuType, p.totalGpus, p.gpusPerNode, `${p.minGpus} / ${p.stepGpus}`, gpuHourRate(p.onDemandRate), gpuHourRate(p.reservedRate), p.bookableFrom.slice(0, 10)]),
        ),
      );
    });

  program
    .command('availability')
    .description('Free GPUs per hour or day, as a heat map')
    .option('--site <id>', 'only this site')
    .option('--gpu-type <id>', 'only this GPU type')
    .requiredOption('--start <time>', 'from (UTC), e.g. 2027-02-01T00:00:00Z', parseTime)
    .requiredOption('--end <time>', 'to (UTC, exclusive)', parseTime)
    .addOption(new Option('--granularity <g>', 'slot size').choices(['hour', 'day']).default('hour'))
    .addHelpText('after', '\nExample:\n  gpum availability --site marseille --gpu-type b200-sxm-192gb --start 2027-02-01T00:00:00Z --end 2027-02-08T00:00:00Z')
    .action(async (opts: { site?: string; gpuType?: string; start: string; end: string; granularity: 'hour' | 'day' }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const res = await withSpinner(o, 'Reading availability…', () =>
        api().availability({
          start: opts.start,
          end: opts.end,
          granularity: opts.granularity,
          ...(opts.site ? { site: opts.site } : {}),
          ...(opts.gpuType ? { gpuType: opts.gpuType } : {}),
        }),
      );
      emit(o, res, () =>
        res.pools.length === 0
          ? 'No pool matches.'
          : res.pools
              .map((p) => `${o.color.bold(p.poolId)}  ${p.gpuType} at ${p.site}: ${p.capacity} GPUs, at least ${p.minAvailable} free in every slot\n${heatMap(o, p)}`)
              .join('\n\n'),
      );
    });

  program
    .command('offers')
    .description('Priced offers that fit: where and when N GPUs are free for a duration, cheapest first')
    .requiredOption('--gpu-type <id>', 'GPU type')
    .requiredOption('--gpus <n>', 'GPUs', positiveInt('--gpus'))
    .option('--duration-hours <h>', 'exact duration in hours', positiveInt('--duration-hours'))
    .option('--min-duration-hours <h>', 'shortest acceptable duration', positiveInt('--min-duration-hours'))
    .option('--max-duration-hours <h>', 'longest acceptable duration', positiveInt('--max-duration-hours'))
    .option('--earliest-start <time>', 'not before (default: the next whole hour)', parseTime)
    .option('--latest-end <time>', 'not after (default: the booking horizon)', parseTime)
    .option('--site <ids>', 'comma list of sites')
    .option('--max-price-per-gpu-hour <cents>', 'price cap in integer cents per GPU-hour', nonNegativeInt('--max-price-per-gpu-hour'))
    .addOption(new Option('--sort <by>', 'order').choices(['price', 'start']))
    .option('--limit <n>', 'at most this many offers (1-50)', positiveInt('--limit'))
    .addHelpText('after', '\nExample:\n  gpum offers --gpu-type h100-sxm-80gb --gpus 16 --duration-hours 72 --site marseille,valence-rovaltain')
    .action(async (opts: Record<string, string | number | undefined>, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const query = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as unknown as Parameters<GpuMarket['offers']>[0];
      const res = await withSpinner(o, 'Looking for offers…', () => api().offers(query));
      emit(o, res, () => {
        if (res.data.length > 0) {
          return table(
            o,
            ['site', 'pool', 'GPUs', 'start', 'end', 'hours', 'per GPU-h', 'total excl. VAT'],
            res.data.map((x) => [x.site, x.poolId, x.gpus, time(x.start), time(x.end), x.durationHours, money(x.pricePerGpuHour), money(x.total)]),
          );
        }
        const hints = ['No offer fits.'];
        if (res.nearest?.mostGpus) {
          const m = res.nearest.mostGpus;
          hints.push(`Most GPUs free: ${m.gpus} at ${m.site} (${m.poolId}) ${time(m.start)} → ${time(m.end)}`);
        }
        if (res.nearest?.earliestFit) {
          const e = res.nearest.earliestFit;
          hints.push(`Earliest fit: ${e.site} (${e.poolId}) ${time(e.start)} → ${time(e.end)}`);
        }
        return hints.join('\n');
      });
    });

  const bookingOptions = (c: Command) =>
    c
      .requiredOption('--site <id>', 'site, e.g. marseille')
      .requiredOption('--gpu-type <id>', 'GPU type, e.g. b200-sxm-192gb')
      .requiredOption('--gpus <n>', 'GPUs (a multiple of the pool’s step, e.g. whole 8-GPU nodes)', positiveInt('--gpus'));

  bookingOptions(program.command('quote').description('Price a reservation: the quote locks its price for 15 minutes'))
    .requiredOption('--start <time>', 'start, a whole UTC hour', parseTime)
    .requiredOption('--end <time>', 'end, a whole UTC hour', parseTime)
    .action(async (opts: { site: string; gpuType: string; gpus: number; start: string; end: string }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const q = await withSpinner(o, 'Pricing…', () => api().quote(opts));
      emit(o, q, () => quoteSummary(o, q, null));
    });

  bookingOptions(
    program
      .command('book')
      .description('Quote, hold and confirm in one go (asks first, showing the total incl. VAT); or start on-demand GPUs')
      .addHelpText(
        'after',
        '\nExamples:\n  gpum book --site marseille --gpu-type b200-sxm-192gb --gpus 16 --start 2027-02-01T08:00:00Z --end 2027-02-08T08:00:00Z\n  gpum book --on-demand --site valence-rovaltain --gpu-type h100-sxm-80gb --gpus 8 --yes --json',
      ),
  )
    .option('--start <time>', 'start, a whole UTC hour (reserved)', parseTime)
    .option('--end <time>', 'end, a whole UTC hour (reserved)', parseTime)
    .option('--on-demand', 'start now and run until `gpum stop` (billed per second)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (opts: { site: string; gpuType: string; gpus: number; start?: string; end?: string; onDemand?: boolean; yes?: boolean }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const client = api();
      if (opts.onDemand) {
        if (opts.start || opts.end) throw new UsageError('--on-demand starts now and runs until stopped: leave out --start and --end');
        const pool = (await client.pools({ site: opts.site, gpuType: opts.gpuType })).data[0];
        if (!o.json && pool) o.err(`On-demand: ${opts.gpus} × ${opts.gpuType} at ${opts.site}, ${gpuHourRate(pool.onDemandRate)} excl. VAT, billed per second until stopped.`);
        await confirmPrompt(o, 'Start now?', opts.yes);
        const r = await withSpinner(o, 'Starting…', () => client.startOnDemand({ site: opts.site, gpuType: opts.gpuType, gpus: opts.gpus }));
        emit(o, r, () => `${o.color.green('✔')} Started ${r.id}; stop it with: gpum stop ${r.id}\n\n${reservationDetails(o, r)}`);
        return;
      }
      if (!opts.start || !opts.end) throw new UsageError('A reserved booking needs --start and --end (or pass --on-demand)');
      const [q, me] = await withSpinner(o, 'Pricing…', () => Promise.all([client.quote({ site: opts.site, gpuType: opts.gpuType, gpus: opts.gpus, start: opts.start!, end: opts.end! }), client.me()]));
      if (!o.json) o.err(quoteSummary(o, q, me.org?.tax ?? null));
      const totalLine = me.org ? money(invoiceTotals(q.lines.map((l) => l.amount), me.org.tax.rateBps).total) + ' incl. VAT' : money(q.total);
      await confirmPrompt(o, `Book ${q.gpus} × ${q.gpuType} at ${q.site} for ${totalLine}?`, opts.yes);
      const held = await withSpinner(o, 'Holding…', () => client.hold(q.id));
      const confirmed = await withSpinner(o, 'Confirming…', () => client.confirm(held.id));
      emit(o, confirmed, () => `${o.color.green('✔')} Booked ${confirmed.id} (invoice ${confirmed.invoiceId ?? '—'}).\n\n${reservationDetails(o, confirmed)}`);
    });

  program
    .command('ls')
    .description('Your org’s reservations, newest first')
    .option('--limit <n>', 'page size (1-200)', positiveInt('--limit'), 50)
    .option('--cursor <cursor>', 'nextCursor of the previous page')
    .action(async (opts: { limit: number; cursor?: string }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const page = await withSpinner(o, 'Loading reservations…', () => api().reservations({ limit: opts.limit, ...(opts.cursor ? { cursor: opts.cursor } : {}) }));
      emit(o, page, () => (page.data.length === 0 ? 'No reservations yet.' : reservationRows(o, page.data) + (page.nextCursor ? `\nmore: gpum ls --cursor ${page.nextCursor}` : '')));
    });

  program
    .command('show')
    .description('One reservation with its price lines')
    .argument('<id>', 'reservation id (res_…)')
    .action(async (id: string, _opts, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const r = await withSpinner(o, 'Loading…', () => api().reservation(id));
      emit(o, r, () => reservationDetails(o, r));
    });

  program
    .command('extend')
    .description('Move the end of a reserved booking later, if the extra hours are free (they are invoiced)')
    .argument('<id>', 'reservation id')
    .requiredOption('--end <time>', 'new end, a whole UTC hour after the current end', parseTime)
    .action(async (id: string, opts: { end: string }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const r = await withSpinner(o, 'Extending…', () => api().extend(id, opts.end));
      emit(o, r, () => `${o.color.green('✔')} Extended to ${time(r.end)} for ${money(r.extension.price)} excl. VAT (${r.extension.gpuHours} GPU-hours).\n\n${reservationDetails(o, r)}`);
    });

  program
    .command('cancel')
    .description('Cancel a held or confirmed reservation: shows the refund due under the policy first')
    .argument('<id>', 'reservation id')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, opts: { yes?: boolean }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const client = api();
      const r = await withSpinner(o, 'Loading…', () => client.reservation(id));
      const preview =
        r.status === 'held' || !r.price
          ? 'Releasing a hold costs nothing: it was never charged.'
          : (() => {
              const refund = refundFor({ paid: r.price, start: new Date(r.start), now: new Date() });
              return `Refund if cancelled now: ${money(refund.amount)} excl. VAT of ${money(r.price)} (${refund.rule}).`;
            })();
      if (!o.json) o.err(preview);
      await confirmPrompt(o, `Cancel ${r.id}?`, opts.yes);
      const cancelled = await withSpinner(o, 'Cancelling…', () => client.cancel(id));
      emit(o, cancelled, () =>
        `${o.color.green('✔')} Cancelled ${cancelled.id}${cancelled.refund ? `; refund ${money(cancelled.refund.amount)} (${cancelled.refund.percent} %) as a credit note` : ''}.`,
      );
    });

  program
    .command('stop')
    .description('Stop an on-demand reservation (frees its GPUs; billing stops)')
    .argument('<id>', 'reservation id')
    .action(async (id: string, _opts, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const r = await withSpinner(o, 'Stopping…', () => api().stop(id));
      emit(o, r, () => `${o.color.green('✔')} Stopped ${r.id} at ${time(r.stoppedAt)}.`);
    });

  program
    .command('usage')
    .description('Metered GPU usage of a reservation (or of your org), per hour or day')
    .option('--reservation <id>', 'one reservation (default: the whole org)')
    .option('--from <time>', 'from (UTC)', parseTime)
    .option('--to <time>', 'to (UTC, exclusive)', parseTime)
    .addOption(new Option('--granularity <g>', 'bucket size').choices(['hour', 'day']).default('hour'))
    .action(async (opts: { reservation?: string; from?: string; to?: string; granularity: 'hour' | 'day' }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const u = await withSpinner(o, 'Reading usage…', () =>
        api().usage({
          granularity: opts.granularity,
          ...(opts.reservation ? { reservationId: opts.reservation } : {}),
          ...(opts.from ? { from: opts.from } : {}),
          ...(opts.to ? { to: opts.to } : {}),
        }),
      );
      emit(o, u, () => {
        const used = u.buckets.filter((b) => b.gpuSeconds > 0);
        const head = details(o, [
          ['scope', u.reservationId ?? `org ${u.orgId}`],
          ['window', `${time(u.from)} → ${time(u.to)}`],
          ['used', `${u.usedGpuHours} GPU-hours (${u.gpuSeconds} GPU-seconds)`],
          ['reserved', u.reservedGpuHours === null ? null : `${u.reservedGpuHours} GPU-hours`],
        ]);
        return used.length === 0 ? `${head}\n\nNo metered usage in this window.` : `${head}\n\n${table(o, ['from', 'GPU-hours'], used.map((b) => [time(b.start), (b.gpuSeconds / 3600).toFixed(3)]))}`;
      });
    });

  program
    .command('invoices')
    .description('Your invoices, or one invoice with its lines')
    .argument('[id]', 'invoice id (inv_…)')
    .option('--period <yyyy-mm>', 'one billing period')
    .addOption(new Option('--status <status>', 'one status').choices(['draft', 'open', 'paid', 'void', 'uncollectible']))
    .option('--limit <n>', 'page size (1-200)', positiveInt('--limit'), 50)
    .option('--cursor <cursor>', 'nextCursor of the previous page')
    .action(async (id: string | undefined, opts: { period?: string; status?: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible'; limit: number; cursor?: string }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      if (id) {
        const inv = await withSpinner(o, 'Loading…', () => api().invoice(id));
        emit(o, inv, () =>
          [
            details(o, [
              ['invoice', inv.id],
              ['status', statusColor(o, inv.status)],
              ['period', inv.period],
              ['customer', `${inv.customer.name} (${inv.customer.country})`],
              ['subtotal', money(inv.subtotal)],
              ['VAT', `${money(inv.tax)} (${inv.taxTreatment})`],
              ['total', o.color.bold(money(inv.total))],
              ['credited', inv.creditedTotal.amount !== 0 ? money(inv.creditedTotal) : null],
              ['pay at', inv.hostedInvoiceUrl],
              ['note', inv.note ?? inv.legalMention],
            ]),
            table(o, ['line', 'amount', 'VAT'], inv.lines.map((l) => [l.description, money(l.amount), money(l.tax)])),
          ].join('\n\n'),
        );
        return;
      }
      const page = await withSpinner(o, 'Loading invoices…', () =>
        api().invoices({ limit: opts.limit, ...(opts.period ? { period: opts.period } : {}), ...(opts.status ? { status: opts.status } : {}), ...(opts.cursor ? { cursor: opts.cursor } : {}) }),
      );
      emit(o, page, () =>
        page.data.length === 0
          ? 'No invoices.'
          : table(
              o,
              ['id', 'kind', 'period', 'status', 'reservation', 'subtotal', 'VAT', 'total'],
              page.data.map((i) => [i.id, i.kind, i.period, statusColor(o, i.status), i.reservationId ?? '—', money(i.subtotal), money(i.tax), money(i.total)]),
            ) + (page.nextCursor ? `\nmore: gpum invoices --cursor ${page.nextCursor}` : ''),
      );
    });

  program
    .command('events')
    .description('Your org’s events, oldest first; --follow keeps polling for new ones')
    .option('--after <sequence>', 'only events after this sequence number or event id')
    .option('--limit <n>', 'page size (1-500)', positiveInt('--limit'), 100)
    .option('-f, --follow', 'keep polling for new events until interrupted (with --json: one JSON object per line)')
    .option('--interval <seconds>', 'polling interval with --follow', positiveInt('--interval'), 2)
    .action(async (opts: { after?: string; limit: number; follow?: boolean; interval: number }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const client = api();
      const line = (e: { sequence: number; createdAt: string; type: string; data: Record<string, unknown> }) =>
        o.json ? JSON.stringify(e) : `${String(e.sequence).padStart(5)}  ${time(e.createdAt)}  ${o.color.cyan(e.type.padEnd(26))} ${String(e.data.reservationId ?? e.data.invoiceId ?? e.data.id ?? '')}`;
      if (!opts.follow) {
        const page = await withSpinner(o, 'Loading events…', () => client.events({ limit: opts.limit, ...(opts.after ? { after: opts.after } : {}) }));
        emit(o, page, () => (page.data.length === 0 ? 'No events.' : page.data.map(line).join('\n')));
        return;
      }
      let after = opts.after;
      const interrupted = new AbortController();
      const stop = () => interrupted.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        while (!interrupted.signal.aborted) {
          const page = await client.events({ limit: opts.limit, ...(after ? { after } : {}) });
          for (const e of page.data) o.out(line(e));
          if (page.data.length > 0) after = String(page.data.at(-1)!.sequence);
          if (!page.nextCursor) await sleep(opts.interval * 1000, undefined, { signal: interrupted.signal }).catch(() => undefined);
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  const webhooks = program.command('webhooks').description('Your org’s webhook endpoints and their deliveries (org admins)');
  webhooks
    .command('ls', { isDefault: true })
    .description('List endpoints')
    .action(async (_opts, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const page = await withSpinner(o, 'Loading endpoints…', () => api().webhookEndpoints());
      emit(o, page, () =>
        page.data.length === 0
          ? 'No webhook endpoints.'
          : table(o, ['id', 'url', 'events', 'status', 'failing since'], page.data.map((e) => [e.id, e.url, e.events.join(', '), statusColor(o, e.status), time(e.failingSince)])),
      );
    });
  webhooks
    .command('add')
    .description('Register an https endpoint; prints its signing secret once')
    .requiredOption('--url <url>', 'https URL resolving to public addresses (see WEBHOOK_ALLOWED_HOSTS for local receivers)')
    .requiredOption('--events <types>', 'comma list of event types, or * for all', csv)
    .option('--description <text>', 'a note for your team')
    .action(async (opts: { url: string; events: string[]; description?: string }, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const e = await withSpinner(o, 'Registering…', () => api().createWebhookEndpoint({ url: opts.url, events: opts.events, ...(opts.description ? { description: opts.description } : {}) }));
      emit(o, e, () => `${o.color.green('✔')} Registered ${e.id} for ${e.events.join(', ')}.\n  Signing secret (shown once): ${o.color.bold(e.secret)}`);
    });
  webhooks
    .command('rm')
    .description('Delete an endpoint (its pending deliveries are dropped)')
    .argument('<id>', 'endpoint id (whe_…)')
    .action(async (id: string, _opts, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      await withSpinner(o, 'Deleting…', () => api().deleteWebhookEndpoint(id));
      emit(o, { id, deleted: true }, () => `Deleted ${id}.`);
    });
  webhooks
    .command('test')
    .description('Queue a test event for an endpoint (see its outcome with `webhooks deliveries`)')
    .argument('<id>', 'endpoint id')
    .action(async (id: string, _opts, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const res = await withSpinner(o, 'Sending…', () => api().testWebhookEndpoint(id));
      emit(o, res, () => JSON.stringify(res, null, 2));
    });
  webhooks
    .command('deliveries')
    .description('Delivery log of an endpoint, newest first')
    .argument('<id>', 'endpoint id')
    .action(async (id: string, _opts, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const page = await withSpinner(o, 'Loading deliveries…', () => api().deliveries(id));
      emit(o, page, () =>
        page.data.length === 0
          ? 'No deliveries.'
          : table(
              o,
              ['id', 'event', 'status', 'attempts', 'last status', 'next attempt'],
              page.data.map((d) => [d.id, d.eventType, statusColor(o, d.status), d.attemptCount, d.responseStatus ?? d.error ?? '—', time(d.nextAttemptAt)]),
            ),
      );
    });
  webhooks
    .command('retry')
    .description('Queue another attempt of one delivery (see its outcome with `webhooks deliveries`)')
    .argument('<id>', 'endpoint id')
    .argument('<deliveryId>', 'delivery id (msg_…)')
    .action(async (id: string, deliveryId: string, _opts, cmd: Command) => {
      const { o, api } = ctxOf(cmd);
      const d = await withSpinner(o, 'Retrying…', () => api().retryDelivery(id, deliveryId));
      emit(o, d, () => `Delivery ${d.id} queued for attempt ${d.attemptCount + 1}; \`gpum webhooks deliveries ${id}\` shows its outcome.`);
    });

  for (const c of [program, ...allCommands(program)]) c.exitOverride();
  return program;
}

const allCommands = (c: Command): Command[] => c.commands.flatMap((sub) => [sub, ...allCommands(sub)]);

function printError(o: Output, error: unknown): number {
  if (error instanceof ApiError) {
    if (o.json) o.err(JSON.stringify({ error: error.problem }));
    else {
      o.err(`${o.color.red('Error:')} ${error.title} (HTTP ${error.status}): ${error.detail}`);
      for (const e of error.errors) o.err(`  ${o.color.bold(e.path)}: ${e.message}`);
      if (error.requestId) o.err(o.color.dim(`  request id ${error.requestId}`));
    }
    return EXIT.api;
  }
  if (error instanceof NetworkError) {
    if (o.json) o.err(JSON.stringify({ error: { type: 'network', detail: error.message } }));
    else o.err(`${o.color.red('Error:')} ${error.message}`);
    return EXIT.network;
  }
  if (error instanceof UsageError) {
    if (o.json) o.err(JSON.stringify({ error: { type: 'usage', detail: error.message } }));
    else o.err(`${o.color.red('Error:')} ${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof GpuMarketError) {
    o.err(`${o.color.red('Error:')} ${error.message}`);
    return EXIT.api;
  }
  throw error;
}

/** Runs the command line; resolves to the exit code. */
export async function main(argv: string[] = process.argv, io: Io = processIo()): Promise<number> {
  const o = createOutput({ json: argv.includes('--json'), io });
  const program = buildProgram((cmd) => {
    const login = effectiveLogin(io.env);
    const out = createOutput({ json: Boolean(cmd.optsWithGlobals().json), io });
    return {
      o: out,
      login,
      api: () => {
        if (!login.apiKey) throw new UsageError('Not logged in: run `gpum login`, or set GPU_MARKET_API_KEY');
        return createGpuMarket({
          baseUrl: login.apiUrl,
          apiKey: login.apiKey,
          onRetry: ({ attempt, delayMs, reason }) => {
            if (!out.json && out.tty) out.err(out.color.dim(`(${reason}; retry ${attempt} in ${Math.round(delayMs / 100) / 10} s)`));
          },
        });
      },
    };
  }, io);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return printError(o, error);
  }
}
