/**
 * Portal pages of resale and market data (docs/resale.md): Market prices (every signed-in role but
 * meters), the seller's Listings with a Withdraw button, and Sell unused hours on a reservation
 * (preview of the expected earnings, then the listing). Each goes through the same services as the
 * API (services.market, services.resale).
 */
import { poolLabel } from '#domain/catalog.ts';
import { DomainError } from '#domain/errors.ts';
import { expectedEarnings, resaleFeeBps } from '#domain/resale.ts';
import type { Reservation } from '#domain/reservation.ts';
import { DAY_MS } from '#domain/time.ts';
import type { App, Services } from '#http/context.ts';
import { getReservation } from '#store/reservations.ts';
import { formBodyLimit, page, seeOther, signedIn, type FormFields, type PortalContext, type Who } from '../http.tsx';
import { MarketPage } from '../views/market.tsx';
import { ListingsPage, SellPage, type SellForm, type SellPreview } from '../views/resale.tsx';
import { parseEuros, toUtcInput } from '../format.ts';

/** "2026-12-10T08:00" (the picker's UTC value) → ISO, or null when it is not a date-time. */
const fromPicker = (text: string): string | null => {
  const m = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.exec(text.trim());
  if (!m) return null;
  const d = new Date(`${text.trim()}Z`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
};

function parseSell(form: FormFields, r: Reservation): { values: SellForm; errors: Partial<Record<keyof SellForm, string>>; request: { start: string; end: string; gpus: number; minPricePerGpuHour: number | null } | null } {
  const values: SellForm = { start: (form.start ?? '').slice(0, 40), end: (form.end ?? '').slice(0, 40), gpus: (form.gpus ?? '').slice(0, 12), minPrice: (form.minPrice ?? '').slice(0, 40) };
  const errors: Partial<Record<keyof SellForm, string>> = {};
  const start = fromPicker(values.start);
  const end = fromPicker(values.end);
  if (!start) errors.start = 'From: pick a date and hour (UTC)';
  if (!end) errors.end = 'To: pick a date and hour (UTC)';
  const gpus = /^\d{1,6}$/.test(values.gpus.trim()) ? Number(values.gpus.trim()) : NaN;
  if (!Number.isInteger(gpus) || gpus < 1 || gpus > r.gpus) errors.gpus = `GPUs: a whole number from 1 to ${r.gpus}`;
  const min = values.minPrice.trim() === '' ? null : parseEuros(values.minPrice);
  if (values.minPrice.trim() !== '' && (min === null || min < 1)) errors.minPrice = 'Minimum price: an amount in euros, e.g. 2.10, or empty for none';
  if (Object.keys(errors).length > 0) return { values, errors, request: null };
  return { values, errors, request: { start: start!, end: end!, gpus, minPricePerGpuHour: min } };
}

const FIELD_OF: Record<string, keyof SellForm> = { start: 'start', end: 'end', gpus: 'gpus', minPricePerGpuHour: 'minPrice' };

export function registerMarketRoutes(app: App, services: Services) {
  app.get(
    '/market',
    signedIn(services, ['customer', 'finance', 'operator'], 'The Market prices page', async (c, who) => {
      const { catalog, market, clock } = services;
      const cat = await catalog.get();
      const pools = cat.pools.map((p) => ({ id: p.id, site: p.site, gpuType: p.gpuType, label: poolLabel(p, cat) }));
      const chosen = pools.find((p) => p.id === c.req.query('pool')) ?? pools[0];
      const now = clock();
      const to = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS);
      const from = new Date(to.getTime() - 30 * DAY_MS);
      const days = chosen ? (await market.prices({ site: chosen.site, gpuType: chosen.gpuType, from, to, granularity: 'day' })).data : [];
      return page(c, <MarketPage viewer={who.viewer} pools={pools} poolId={chosen?.id ?? ''} days={days} from={from.toISOString()} to={new Date(to.getTime() - DAY_MS).toISOString()} />);
    }),
  );

  const listings = async (c: PortalContext, who: Who, notice: string | null, alerts: string[], status = 200) => {
    const { resale, clock } = services;
    const { data } = await resale.list(who.principal, { limit: 100 });
    return page(c, <ListingsPage viewer={who.viewer} listings={data} notice={notice} alerts={alerts} now={clock()} />, status);
  };
  app.get(
    '/listings',
    signedIn(services, ['customer'], 'The Listings page', async (c, who) => {
      const created = c.req.query('created');
      const withdrawn = c.req.query('withdrawn');
      const notice = created ? `Listed: ${created.slice(0, 64)} is open for buyers.` : withdrawn ? `Withdrawn: ${withdrawn.slice(0, 64)}; its unsold hours stay yours.` : null;
      return listings(c, who, notice, []);
    }),
  );
  app.post(
    '/listings/:id/withdraw',
    formBodyLimit,
    signedIn(services, ['customer'], 'Withdrawing a listing', async (c, who) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      try {
        await services.resale.withdraw(who.principal, id);
        return seeOther(c, `/listings?withdrawn=${encodeURIComponent(id)}`);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return listings(c, who, null, [error.message], error.status);
      }
    }),
  );

  const ownReservation = async (c: PortalContext, who: Who): Promise<Reservation> => {
    const id = (c.req.param('id') ?? '').slice(0, 100);
    const r = await getReservation(services.db, who.principal.orgId!, id);
    if (!r) throw new DomainError('not_found', `Reservation ${id} not found`);
    return r;
  };
  const stepOf = async (r: Reservation) => (await services.catalog.get()).pools.find((p) => p.id === r.poolId)?.stepGpus ?? 8;

  app.get(
    '/reservations/:id/sell',
    signedIn(services, ['customer'], 'Selling unused hours', async (c, who) => {
      const r = await ownReservation(c, who);
      const now = services.clock();
      const firstHour = new Date(Math.max(Date.parse(r.start), Math.ceil(now.getTime() / 3_600_000) * 3_600_000)).toISOString();
      const form: SellForm = { start: toUtcInput(firstHour), end: r.end ? toUtcInput(r.end) : '', gpus: String(r.gpus), minPrice: '' };
      return page(c, <SellPage viewer={who.viewer} reservation={r} stepGpus={await stepOf(r)} form={form} errors={{}} alerts={[]} preview={null} />);
    }),
  );
  app.post(
    '/reservations/:id/sell',
    formBodyLimit,
    signedIn(services, ['customer'], 'Selling unused hours', async (c, who, form) => {
      const r = await ownReservation(c, who);
      const step = await stepOf(r);
      const parsed = parseSell(form, r);
      const render = (errors: Partial<Record<keyof SellForm, string>>, alerts: string[], preview: SellPreview | null, status: number) =>
        page(c, <SellPage viewer={who.viewer} reservation={r} stepGpus={step} form={parsed.values} errors={errors} alerts={alerts} preview={preview} />, status);
      if (!parsed.request) return render(parsed.errors, Object.values(parsed.errors), null, 400);
      const req = parsed.request;
      if (form.step === 'confirm') {
        try {
          const l = await services.resale.create(who.principal, r.id, req);
          return seeOther(c, `/listings?created=${encodeURIComponent(l.id)}`);
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          const errors: Partial<Record<keyof SellForm, string>> = {};
          for (const e of error.errors ?? []) {
            const f = FIELD_OF[e.path];
            if (f) errors[f] ??= e.message;
          }
          return render(errors, [error.message], null, error.status);
        }
      }
      // Preview: what selling every listed GPU-hour would earn, at the minimum or (none) at the
      // price this reservation was booked at per GPU-hour; buyers pay their own quoted price.
      const hours = Math.round((Date.parse(req.end) - Date.parse(req.start)) / 3_600_000);
      if (hours < 1) return render({ end: 'To: must be after From' }, ['To: must be after From'], null, 400);
      const pool = (await services.catalog.get()).pools.find((p) => p.id === r.poolId);
      const feeBps = pool ? resaleFeeBps(pool) : 1000;
      const bookedAt = r.price && r.end ? Math.floor(r.price.amount / (r.gpus * Math.round((Date.parse(r.end) - Date.parse(r.start)) / 3_600_000))) : (pool?.priceBook.reservedRatePerGpuHour ?? 0);
      const price = req.minPricePerGpuHour ?? bookedAt;
      const gpuHours = hours * req.gpus;
      const money = expectedEarnings(gpuHours, price, feeBps);
      const preview: SellPreview = {
        gpuHours,
        pricePerGpuHour: price,
        priceBasis: req.minPricePerGpuHour !== null ? 'your minimum' : 'what you paid per GPU-hour; buyers pay their own quoted price',
        gross: money.gross.amount,
        fee: money.fee.amount,
        feeBps,
        earnings: money.earnings.amount,
      };
      return render({}, [], preview, 200);
    }),
  );
}

