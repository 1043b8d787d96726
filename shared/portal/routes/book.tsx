/** Sites and availability, the Book flow (quote → reserve → confirm) and the reservations list. */
import type { BillingService } from '#billing/service.ts';
import { CANCELLATION_POLICY } from '#domain/cancellation.ts';
import { DomainError, notFound, type FieldError } from '#domain/errors.ts';
import { formatMoney, type Money } from '#domain/money.ts';
import type { Reservation } from '#domain/reservation.ts';
import type { Catalog } from '#domain/catalog.ts';
import { DAY_MS, HOUR_MS, epochHour, floorToDay, floorToHour, fromEpochHour, periodOf } from '#domain/time.ts';
import { invoiceTotals, taxTreatmentFor } from '#domain/vat.ts';
import { getOrg } from '#store/orgs.ts';
import type { App } from '#http/context.ts';
import { listScope } from '#http/cursor.ts';
import { getQuote, type Quote } from '#store/quotes.ts';
import { getReservation, listReservations } from '#store/reservations.ts';
import { BOOKING_FIELDS, describeFieldError, emptyBookingForm, isBookingField, parseBookingForm, parseUtcInput, poolOf, resolve, type BookingField, type BookingFormValues } from '../booking-form.ts';
import { formatUtc, toUtcInput } from '../format.ts';
import { formBodyLimit, fragment, page, seeOther, signedIn, type FormFields, type PortalContext, type Who } from '../http.tsx';
import type { PortalInvoiceDetail } from '../invoices.ts';
import type { PortalUsage } from '../usage.ts';
import { CancelPreviewPage, ExtendPreviewPage, OnDemandPage, ReservationPage, type TaxedAmount } from '../views/reservation.tsx';
import { BookAvailability, BookPage, type BookAvailabilityView } from '../views/book.tsx';
import { ReservationsPage, type ReservationUsage } from '../views/reservations.tsx';
import { DayPage } from '../views/heatmap.tsx';
import { SitesPage } from '../views/sites.tsx';

export const AVAILABILITY_DAYS = 30;
/** The Book page draws at most this many days of a long window. */
const MAX_DRAWN_DAYS = 92;
const RESERVATIONS_PAGE_SIZE = 25;
/** Usage charts show at most this much of a long reservation (its latest days). */
const USAGE_WINDOW_HOURS = 90 * 24;

const customer = ['customer'] as const;
const orgOf = (who: Who): string => who.principal.orgId!;

/** What a failed booking call means for the form: alerts naming the field, and the fields to mark. */
export function explainBookingError(error: DomainError): { alerts: string[]; fieldErrors: Partial<Record<BookingField, string>> } {
  const fieldErrors: Partial<Record<BookingField, string>> = {};
  const errors: FieldError[] = error.errors?.length
    ? error.errors
    : error.code === 'capacity_unavailable'
      ? [{ path: 'gpus', message: error.message }]
      : [];
  for (const e of errors) if (isBookingField(e.path)) fieldErrors[e.path] ??= e.message;
  return { alerts: errors.length ? errors.map(describeFieldError) : [error.message], fieldErrors };
}

const valuesOf = (source: { site: string; gpuType: string; gpus: number; start: string; end: string | null }): BookingFormValues => ({
  site: source.site,
  gpuType: source.gpuType,
  gpus: String(source.gpus),
  start: toUtcInput(source.start),
  end: source.end ? toUtcInput(source.end) : '',
});

async function ownQuote(c: PortalContext, who: Who, quoteId: string): Promise<Quote | null> {
  const found = await getQuote(c.get('deps').db, quoteId);
  return found && found.quote.orgId === orgOf(who) ? found.quote : null;
}

/** The chosen pool's free GPUs over the chosen window (or the next 7 days), for the Book page. */
export async function bookAvailability(c: PortalContext, catalog: Catalog, values: BookingFormValues, now: Date): Promise<BookAvailabilityView> {
  const site = values.site.trim() ? resolve(catalog.sites, values.site) : null;
  const gpuType = values.gpuType.trim() ? resolve(catalog.gpuTypes, values.gpuType) : null;
  const pool = site && gpuType ? poolOf(catalog, site.id, gpuType.id) : null;
  const empty = { pool: null, needed: null, window: null, slotHours: 24 as const, slots: [] };
  if (!site || !gpuType) return { ...empty, message: 'Choose a site and a GPU type to see the pool’s free GPUs.' };
  if (!pool) return { ...empty, message: `${site.name} has no ${gpuType.name} pool.` };
  const neededText = values.gpus.trim();
  const needed = /^\d{1,6}$/.test(neededText) && Number(neededText) > 0 ? Number(neededText) : null;
  const earliest = floorToHour(now);
  let start = values.start.trim() ? parseUtcInput(values.start) : null;
  let end = values.end.trim() ? parseUtcInput(values.end) : null;
  let chosen = Boolean(start && end && end > start);
  let message: string | null = null;
  if (!start || !end || end <= start || end <= earliest) {
    start = earliest;
    end = new Date(earliest.getTime() + 7 * DAY_MS);
    chosen = false;
  }
  if (start < earliest) start = earliest;
  if (end.getTime() - start.getTime() > MAX_DRAWN_DAYS * DAY_MS) {
    end = new Date(start.getTime() + MAX_DRAWN_DAYS * DAY_MS);
    message = `The chart shows the first ${MAX_DRAWN_DAYS} days of the window.`;
  }
  const slotHours = end.getTime() - start.getTime() <= 72 * HOUR_MS ? 1 : 24;
  const result = await c.get('deps').availability.query({ site: pool.site, gpuType: pool.gpuType, start, end, granularity: slotHours === 1 ? 'hour' : 'day' });
  const opens = Date.parse(pool.bookableFrom);
  const slots = (result.pools[0]?.slots ?? []).map((s) => ({ start: s.start, available: Date.parse(s.end) <= opens ? 0 : s.available }));
  if (opens > start.getTime()) message = `${site.name} opens ${pool.bookableFrom.slice(0, 10)}: nothing is bookable before then.${message ? ` ${message}` : ''}`;
  return { pool, needed, window: { start: start.toISOString(), end: end.toISOString(), chosen }, slotHours, slots, message };
}

/** VAT of a quote for the signed-in org, by the same rule as its invoice (shared/domain/vat.ts). */
async function quoteTaxOf(c: PortalContext, who: Who, quote: Quote | null) {
  if (!quote) return null;
  const org = await getOrg(c.get('deps').db, orgOf(who));
  if (!org) return null;
  const treatment = taxTreatmentFor(org);
  const totals = invoiceTotals(quote.lines.map((l) => l.amount), treatment.rateBps);
  return { rateBps: treatment.rateBps, tax: totals.tax, total: totals.total, mention: treatment.legalMention };
}

async function renderBook(
  c: PortalContext,
  who: Who,
  state: { values?: BookingFormValues; quote?: Quote | null; reservation?: Reservation | null; alerts?: string[]; fieldErrors?: Partial<Record<BookingField, string>> },
  status = 200,
): Promise<Response> {
  const { catalog: catalogCache, clock } = c.get('deps');
  const catalog = await catalogCache.get();
  const now = clock();
  const quote = state.quote ?? null;
  const reservation = state.reservation ?? null;
  const values = state.values ?? (reservation ? valuesOf(reservation) : quote ? valuesOf(quote) : emptyBookingForm());
  return page(
    c,
    <BookPage
      viewer={who.viewer}
      catalog={catalog}
      now={now}
      values={values}
      fieldErrors={state.fieldErrors ?? {}}
      alerts={state.alerts ?? []}
      quote={quote}
      reservation={reservation}
      availability={await bookAvailability(c, catalog, values, now)}
      quoteTax={await quoteTaxOf(c, who, quote)}
    />,
    status,
  );
}

/** Values typed in another format (e.g. `2026-12-01T08:00:00Z`) are shown as the picker's `2026-12-01T08:00`. */
const normalizeTimes = (values: BookingFormValues): BookingFormValues => {
  const out = { ...values };
  for (const f of ['start', 'end'] as const) {
    const parsed = out[f].trim() ? parseUtcInput(out[f]) : null;
    if (parsed) out[f] = toUtcInput(parsed.toISOString());
  }
  return out;
};

/** GPU-seconds of a started reservation per hour (short) or per day (long); null without usage. */
async function usageOf(usage: PortalUsage, r: Reservation, now: Date): Promise<ReservationUsage | null> {
  if (!['active', 'completed', 'stopped'].includes(r.status)) return null;
  const until = Math.min(r.end ? Date.parse(r.end) : now.getTime(), now.getTime());
  const toHour = Math.ceil(until / HOUR_MS);
  const fromHour = Math.max(epochHour(new Date(r.start)), toHour - USAGE_WINDOW_HOURS);
  if (toHour <= fromHour) return null;
  const byHour = await usage.gpuSecondsByHour(r.id, fromHour, toHour);
  if ([...byHour.values()].every((s) => s <= 0)) return null;
  if (toHour - fromHour <= 72) {
    const slots = [];
    for (let h = fromHour; h < toHour; h++) slots.push({ start: fromEpochHour(h).toISOString(), gpuSeconds: byHour.get(h) ?? 0 });
    return { slotHours: 1, slots };
  }
  const firstDay = floorToDay(fromEpochHour(fromHour)).getTime();
  const slots: { start: string; gpuSeconds: number }[] = [];
  for (let d = firstDay; d < toHour * HOUR_MS; d += DAY_MS) slots.push({ start: new Date(d).toISOString(), gpuSeconds: 0 });
  for (const [h, seconds] of byHour) {
    const slot = slots[Math.floor((h * HOUR_MS - firstDay) / DAY_MS)];
    if (slot) slot.gpuSeconds += seconds;
  }
  return { slotHours: 24, slots };
}

async function noticeFor(c: PortalContext, who: Who, done: string | undefined, id: string | undefined): Promise<string | null> {
  if (!done || !id) return null;
  const r = await getReservation(c.get('deps').db, orgOf(who), id);
  if (!r) return null;
  switch (done) {
    case 'confirmed':
      return `Reservation ${r.id} is confirmed${r.invoiceId ? `; invoice ${r.invoiceId}` : ''}.`;
    case 'cancelled':
      return `Reservation ${r.id} is cancelled.${r.refund ? ` Refund: ${formatMoney(r.refund.amount)} (${r.refund.percent} %, ${r.refund.rule}).` : ''}`;
    case 'extended':
      return `Reservation ${r.id} now ends ${r.end ? formatUtc(r.end) : '—'}; its price is now ${r.price ? formatMoney(r.price) : '—'}.`;
    case 'stopped':
      return `On-demand reservation ${r.id} is stopped.`;
    case 'started':
      return `On-demand reservation ${r.id} is running: ${r.gpus} GPUs, metered from ${formatUtc(r.start)}.`;
    default:
      return null;
  }
}

async function renderReservations(
  c: PortalContext,
  who: Who,
  usage: PortalUsage,
  extra: { alerts?: string[]; notice?: string | null; extendValues?: Record<string, string> } = {},
  status = 200,
): Promise<Response> {
  const { db, clock, catalog, logger, cursors } = c.get('deps');
  const now = clock();
  const cursor = c.req.query('cursor') || undefined;
  // The page's cursor is sealed like the API's (opaque, tamper-proof, bound to this list and org).
  const scope = listScope('portal:reservations', who.principal);
  const stored = await listReservations(db, orgOf(who), { limit: RESERVATIONS_PAGE_SIZE, cursor: await cursors.open(scope, cursor) });
  const list = { ...stored, nextCursor: await cursors.seal(scope, stored.nextCursor) };
  const usageById = new Map<string, ReservationUsage>();
  await Promise.all(
    list.data.map(async (r) => {
      try {
        const u = await usageOf(usage, r, now);
        if (u) usageById.set(r.id, u);
      } catch (error) {
        logger.warn('portal could not read usage', { requestId: c.get('requestId'), reservationId: r.id, error: error instanceof Error ? error.message : String(error) });
      }
    }),
  );
  return page(
    c,
    <ReservationsPage
      viewer={who.viewer}
      catalog={await catalog.get()}
      now={now}
      reservations={list.data}
      nextCursor={list.nextCursor}
      paged={Boolean(cursor)}
      usage={usageById}
      notice={extra.notice ?? null}
      alerts={extra.alerts ?? []}
      extendValues={extra.extendValues}
    />,
    status,
  );
}

const formValues = (form: FormFields): BookingFormValues =>
  Object.fromEntries(BOOKING_FIELDS.map((f) => [f, (form[f] ?? '').slice(0, 200)])) as BookingFormValues;

/** Book form values from the query (links from Sites and the heat map), site and GPU type resolved to ids. */
async function queryValues(c: PortalContext): Promise<BookingFormValues> {
  const raw = Object.fromEntries(BOOKING_FIELDS.map((f) => [f, (c.req.query(f) ?? '').slice(0, 100)])) as BookingFormValues;
  const catalog = await c.get('deps').catalog.get();
  const site = raw.site.trim() ? resolve(catalog.sites, raw.site) : null;
  const gpuType = raw.gpuType.trim() ? resolve(catalog.gpuTypes, raw.gpuType) : null;
  return normalizeTimes({ ...raw, site: site?.id ?? raw.site, gpuType: gpuType?.id ?? raw.gpuType });
}

type ReservationAction = 'confirm' | 'cancel' | 'extend' | 'stop';
const DONE: Record<ReservationAction, string> = { confirm: 'confirmed', cancel: 'cancelled', extend: 'extended', stop: 'stopped' };

export function registerBookingRoutes(app: App, usage: PortalUsage, billing: BillingService | null) {
  app.get(
    '/sites',
    signedIn([...customer], 'The Sites page', async (c, who) => {
      const deps = c.get('deps');
      const now = deps.clock();
      const first = periodOf(now);
      const last = shiftMonth(first, 12);
      const asked = (c.req.query('month') ?? '').trim().slice(0, 7);
      const month = /^\d{4}-(0[1-9]|1[0-2])$/.test(asked) && asked >= first && asked <= last ? asked : first;
      const monthStart = new Date(`${month}-01T00:00:00Z`);
      const from = month === first ? floorToDay(now) : monthStart;
      const to = new Date(`${shiftMonth(month, 1)}-01T00:00:00Z`);
      const result = await deps.availability.query({ start: from, end: to, granularity: 'day' });
      const catalog = await deps.catalog.get();
      const days: string[] = [];
      for (let d = monthStart.getTime(); d < to.getTime(); d += DAY_MS) days.push(new Date(d).toISOString().slice(0, 10));
      const rows = catalog.pools.map((pool) => ({ pool, slots: result.pools.find((a) => a.poolId === pool.id)?.slots ?? [] }));
      const summary = await deps.availability.query({ start: floorToDay(now), end: new Date(floorToDay(now).getTime() + AVAILABILITY_DAYS * DAY_MS), granularity: 'day' });
      return page(
        c,
        <SitesPage
          viewer={who.viewer}
          catalog={catalog}
          availability={summary.pools}
          from={floorToDay(now).toISOString()}
          days={AVAILABILITY_DAYS}
          heat={{ month, rows, days, now, prev: month > first ? shiftMonth(month, -1) : null, next: month < last ? shiftMonth(month, 1) : null }}
        />,
      );
    }),
  );

  app.get(
    '/sites/day',
    signedIn([...customer], 'The Sites page', async (c, who) => {
      const deps = c.get('deps');
      const catalog = await deps.catalog.get();
      const poolId = (c.req.query('pool') ?? '').slice(0, 100);
      const date = (c.req.query('date') ?? '').slice(0, 10);
      const pool = catalog.pools.find((p) => p.id === poolId);
      if (!pool) throw notFound('Pool', poolId);
      const start = /^\d{4}-\d{2}-\d{2}$/.test(date) ? new Date(`${date}T00:00:00Z`) : null;
      if (!start || Number.isNaN(start.getTime())) {
        throw new DomainError('validation_failed', `date: "${date}" is not a day like 2026-12-01`, { errors: [{ path: 'date', message: 'must be a day like 2026-12-01' }] });
      }
      const result = await deps.availability.query({ site: pool.site, gpuType: pool.gpuType, start, end: new Date(start.getTime() + DAY_MS), granularity: 'hour' });
      return page(c, <DayPage viewer={who.viewer} catalog={catalog} pool={pool} date={date} slots={result.pools[0]?.slots ?? []} now={deps.clock()} />);
    }),
  );

  app.get(
    '/book',
    signedIn([...customer], 'The Book page', async (c, who) => {
      const reservationId = c.req.query('reservation');
      const quoteId = c.req.query('quote');
      if (reservationId) {
        const reservation = await getReservation(c.get('deps').db, orgOf(who), reservationId.slice(0, 100));
        if (!reservation) return renderBook(c, who, { alerts: [`Reservation ${reservationId.slice(0, 100)} was not found.`] }, 404);
        return renderBook(c, who, { reservation });
      }
      if (quoteId) {
        const quote = await ownQuote(c, who, quoteId.slice(0, 100));
        if (!quote) return renderBook(c, who, { alerts: [`Quote ${quoteId.slice(0, 100)} was not found.`] }, 404);
        return renderBook(c, who, { quote });
      }
      return renderBook(c, who, { values: await queryValues(c) });
    }),
  );

  app.get(
    '/book/availability',
    signedIn([...customer], 'The Book page', async (c) => {
      const { catalog, clock } = c.get('deps');
      const cat = await catalog.get();
      return fragment(c, <BookAvailability catalog={cat} view={await bookAvailability(c, cat, await queryValues(c), clock())} />);
    }),
  );

  app.post(
    '/book/quote',
    formBodyLimit,
    signedIn([...customer], 'Getting a quote', async (c, who, form) => {
      const values = normalizeTimes(formValues(form));
      const { catalog, booking, clock } = c.get('deps');
      const parsed = parseBookingForm(formValues(form), await catalog.get(), clock());
      if (!parsed.ok) {
        const fieldErrors: Partial<Record<BookingField, string>> = {};
        for (const e of parsed.errors) if (isBookingField(e.path)) fieldErrors[e.path] ??= e.message;
        return renderBook(c, who, { values, alerts: parsed.errors.map(describeFieldError), fieldErrors }, 400);
      }
      try {
        const quote = await booking.quote(who.principal, parsed.request);
        return seeOther(c, `/book?quote=${encodeURIComponent(quote.id)}`);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return renderBook(c, who, { values, ...explainBookingError(error) }, error.status);
      }
    }),
  );

  app.post(
    '/book/reserve',
    formBodyLimit,
    signedIn([...customer], 'Reserving', async (c, who, form) => {
      const quoteId = (form.quoteId ?? '').trim().slice(0, 100);
      if (!quoteId) return renderBook(c, who, { alerts: ['Quote: get a quote first, then Reserve it.'] }, 400);
      try {
        const reservation = await c.get('deps').booking.hold(who.principal, quoteId);
        return seeOther(c, `/book?reservation=${encodeURIComponent(reservation.id)}`);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return renderBook(c, who, { quote: await ownQuote(c, who, quoteId), ...explainBookingError(error) }, error.status);
      }
    }),
  );

  for (const action of ['confirm', 'cancel', 'extend', 'stop'] as const) {
    app.post(
      `/reservations/:id/${action}`,
      formBodyLimit,
      signedIn([...customer], 'Changing a reservation', async (c, who, form) => {
        const id = (c.req.param('id') ?? '').slice(0, 100);
        const fromBook = form.from === 'book';
        const { booking, db } = c.get('deps');
        try {
          if (action === 'confirm') await booking.confirm(who.principal, id);
          else if (action === 'cancel') await booking.cancel(who.principal, id);
          else if (action === 'stop') await booking.stop(who.principal, id);
          else await extend(c, who, id, form.end ?? '');
          if (form.from === 'detail') return seeOther(c, `/reservations/${encodeURIComponent(id)}?done=${DONE[action]}`);
          return seeOther(c, fromBook ? `/book?reservation=${encodeURIComponent(id)}` : `/reservations?done=${DONE[action]}&id=${encodeURIComponent(id)}`);
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          const alerts = error.errors?.length ? error.errors.map((e) => `${e.path === 'end' ? 'New end' : e.path}: ${e.message}`) : [error.message];
          if (fromBook) return renderBook(c, who, { reservation: await getReservation(db, orgOf(who), id), alerts }, error.status);
          if (form.from === 'detail' && error.code !== 'not_found') {
            return renderReservation(c, who, usage, billing, id, { alerts, ...(action === 'extend' ? { extendValue: (form.end ?? '').slice(0, 100), extendError: error.errors?.find((e) => e.path === 'end')?.message } : {}) }, error.status);
          }
          return renderReservations(c, who, usage, { alerts, extendValues: action === 'extend' ? { [id]: (form.end ?? '').slice(0, 100) } : {} }, error.status);
        }
      }),
    );
  }

  app.get(
    '/reservations/:id',
    signedIn([...customer], 'The reservation page', async (c, who) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      const done = c.req.query('done');
      const notice = done ? await noticeFor(c, who, done, id) : null;
      return renderReservation(c, who, usage, billing, id, { notice });
    }),
  );

  app.get(
    '/reservations/:id/extend',
    signedIn([...customer], 'Extending a reservation', async (c, who) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      const raw = (c.req.query('end') ?? '').slice(0, 100);
      const { booking, db, catalog } = c.get('deps');
      const r = await getReservation(db, orgOf(who), id);
      if (!r) throw notFound('Reservation', id);
      try {
        const end = parseExtendEnd(raw);
        const extension = await booking.previewExtension(who.principal, id, end.toISOString());
        return page(
          c,
          <ExtendPreviewPage
            viewer={who.viewer}
            catalog={await catalog.get()}
            reservation={r}
            extension={extension}
            tax={await taxOf(c, who, extension.lines.map((l) => l.amount))}
            endValue={toUtcInput(end.toISOString())}
          />,
        );
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        const alerts = error.errors?.length ? error.errors.map((e) => `${e.path === 'end' ? 'New end' : e.path}: ${e.message}`) : [error.message];
        return renderReservation(c, who, usage, billing, id, { alerts, extendValue: raw, extendError: error.errors?.find((e) => e.path === 'end')?.message }, error.status);
      }
    }),
  );

  app.get(
    '/reservations/:id/cancel',
    signedIn([...customer], 'Cancelling a reservation', async (c, who) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      const { booking, db, catalog } = c.get('deps');
      const r = await getReservation(db, orgOf(who), id);
      if (!r) throw notFound('Reservation', id);
      try {
        const refund = await booking.previewCancellation(who.principal, id);
        return page(
          c,
          <CancelPreviewPage
            viewer={who.viewer}
            catalog={await catalog.get()}
            reservation={r}
            refund={refund}
            refundTax={await taxOf(c, who, [refund.amount])}
            policy={CANCELLATION_POLICY}
          />,
        );
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return renderReservation(c, who, usage, billing, id, { alerts: [error.message] }, error.status);
      }
    }),
  );

  app.get(
    '/on-demand',
    signedIn([...customer], 'Starting on demand', async (c, who) => {
      const { catalog, clock } = c.get('deps');
      const pool = (c.req.query('pool') ?? '').slice(0, 100);
      return page(c, <OnDemandPage viewer={who.viewer} catalog={await catalog.get()} now={clock()} values={{ pool, gpus: '8' }} errors={{}} alerts={[]} rateBps={(await taxOf(c, who, [])).rateBps} />);
    }),
  );

  app.post(
    '/on-demand',
    formBodyLimit,
    signedIn([...customer], 'Starting on demand', async (c, who, form) => {
      const { catalog: cache, clock, booking } = c.get('deps');
      const catalog = await cache.get();
      const values = { pool: (form.pool ?? '').slice(0, 100), gpus: (form.gpus ?? '').slice(0, 10) };
      const errors: Partial<Record<'pool' | 'gpus', string>> = {};
      const pool = catalog.pools.find((p) => p.id === values.pool);
      if (!pool) errors.pool = 'choose a pool';
      const gpus = /^\d{1,6}$/.test(values.gpus.trim()) ? Number(values.gpus.trim()) : NaN;
      if (!Number.isInteger(gpus) || gpus <= 0) errors.gpus = 'enter a whole number of GPUs, e.g. 8';
      else if (pool && (gpus < pool.minGpus || gpus % pool.stepGpus !== 0)) errors.gpus = `whole nodes: a multiple of ${pool.stepGpus}, at least ${pool.minGpus}`;
      const rateBps = (await taxOf(c, who, [])).rateBps;
      const again = (alerts: string[], errs: typeof errors, status: number) =>
        page(c, <OnDemandPage viewer={who.viewer} catalog={catalog} now={clock()} values={values} errors={errs} alerts={alerts} rateBps={rateBps} />, status);
      if (!pool || errors.gpus) return again(Object.entries(errors).map(([f, m]) => `${f === 'pool' ? 'Pool' : 'GPUs'}: ${m}`), errors, 400);
      try {
        const r = await booking.startOnDemand(who.principal, { site: pool.site, gpuType: pool.gpuType, gpus });
        return seeOther(c, `/reservations/${encodeURIComponent(r.id)}?done=started`);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        const fieldErrors: typeof errors = {};
        for (const e of error.errors ?? []) fieldErrors[e.path === 'gpus' ? 'gpus' : 'pool'] ??= e.message;
        if (error.code === 'capacity_unavailable') fieldErrors.gpus ??= error.message;
        return again([error.message], fieldErrors, error.status);
      }
    }),
  );

  app.get(
    '/reservations',
    signedIn([...customer], 'The Reservations page', async (c, who) =>
      renderReservations(c, who, usage, { notice: await noticeFor(c, who, c.req.query('done'), c.req.query('id')?.slice(0, 100)) }),
    ),
  );
}

function parseExtendEnd(rawEnd: string): Date {
  const text = rawEnd.trim();
  const end = text ? parseUtcInput(text) : null;
  if (!end) {
    const message = text ? `"${text.slice(0, 100)}" is not a UTC date and time like 2026-12-03T08:00` : 'enter the new UTC end, e.g. 2026-12-03T08:00';
    throw new DomainError('validation_failed', `end: ${message}`, { errors: [{ path: 'end', message }] });
  }
  return end;
}

async function extend(c: PortalContext, who: Who, id: string, rawEnd: string): Promise<void> {
  await c.get('deps').booking.extend(who.principal, id, parseExtendEnd(rawEnd).toISOString());
}

/** Amounts excluding VAT with this org's VAT, by the invoice's rule (shared/domain/vat.ts). */
async function taxOf(c: PortalContext, who: Who, amounts: Money[]): Promise<TaxedAmount> {
  const org = await getOrg(c.get('deps').db, orgOf(who));
  const treatment = org ? taxTreatmentFor(org) : { rateBps: 0, legalMention: null };
  const totals = invoiceTotals(amounts, treatment.rateBps);
  return { rateBps: treatment.rateBps, ...totals, mention: treatment.legalMention };
}

/** The invoices (with credit notes) of a reservation, from billing; none without billing. */
async function invoicesOf(c: PortalContext, who: Who, billing: BillingService | null, r: Reservation): Promise<PortalInvoiceDetail[]> {
  if (!billing) return [];
  const out: PortalInvoiceDetail[] = [];
  for (const invoiceId of r.invoiceIds) {
    try {
      out.push(await billing.invoiceFor(who.principal, invoiceId));
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'not_found')) throw error;
    }
  }
  return out;
}

async function renderReservation(
  c: PortalContext,
  who: Who,
  usage: PortalUsage,
  billing: BillingService | null,
  id: string,
  extra: { notice?: string | null; alerts?: string[]; extendValue?: string | undefined; extendError?: string | undefined },
  status = 200,
): Promise<Response> {
  const { db, clock, catalog: cache, logger } = c.get('deps');
  const r = await getReservation(db, orgOf(who), id);
  if (!r) throw notFound('Reservation', id);
  const now = clock();
  const catalog = await cache.get();
  let u: ReservationUsage | null = null;
  try {
    u = await usageOf(usage, r, now);
  } catch (error) {
    logger.warn('portal could not read usage', { requestId: c.get('requestId'), reservationId: r.id, error: error instanceof Error ? error.message : String(error) });
  }
  return page(
    c,
    <ReservationPage
      viewer={who.viewer}
      catalog={catalog}
      now={now}
      reservation={r}
      pool={catalog.pools.find((p) => p.id === r.poolId) ?? null}
      usage={u}
      invoices={await invoicesOf(c, who, billing, r)}
      notice={extra.notice ?? null}
      alerts={extra.alerts ?? []}
      extendValue={extra.extendValue}
      extendError={extra.extendError}
    />,
    status,
  );
}

/** `2026-11` shifted by `months`. */
function shiftMonth(month: string, months: number): string {
  const d = new Date(`${month}-01T00:00:00Z`);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1)).toISOString().slice(0, 7);
}
