/** The Book flow (quote → reserve → confirm) and the actions on a reservation from the Book page and the list (confirm, cancel, extend, stop); the reservation pages are in reservations.tsx, the Sites pages in sites.tsx. */
import type { BillingService } from '#billing/service.ts';
import { DomainError, type FieldError } from '#domain/errors.ts';
import type { Reservation } from '#domain/reservation.ts';
import type { Catalog } from '#domain/catalog.ts';
import { DAY_MS, HOUR_MS, floorToHour } from '#domain/time.ts';
import type { App, Services } from '#http/context.ts';
import type { Db } from '#store/db.ts';
import { getQuote, type Quote } from '#store/quotes.ts';
import { getReservation } from '#store/reservations.ts';
import { BOOKING_FIELDS, describeFieldError, emptyBookingForm, isBookingField, parseBookingForm, parseUtcInput, poolOf, resolve, type BookingField, type BookingFormValues } from '../booking-form.ts';
import { toUtcInput } from '../format.ts';
import { formBodyLimit, fragment, page, seeOther, signedIn, type FormFields, type PortalContext, type Who } from '../http.tsx';
import type { PortalUsage } from '../usage.ts';
import { orgTaxOf, taxed } from '../vat.ts';
import { BookAvailability, type BookAvailabilityView } from '../views/book-availability.tsx';
import { BookPage } from '../views/book.tsx';
import { DONE, explainChangeError, extend, registerReservationPages, renderReservation, renderReservations } from './reservations.tsx';

/** The Book page draws at most this many days of a long window. */
const MAX_DRAWN_DAYS = 92;

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

async function ownQuote(db: Db, who: Who, quoteId: string): Promise<Quote | null> {
  const found = await getQuote(db, quoteId);
  return found && found.quote.orgId === orgOf(who) ? found.quote : null;
}

/** The chosen pool's free GPUs over the chosen window (or the next 7 days), for the Book page. */
export async function bookAvailability(availability: Services['availability'], catalog: Catalog, values: BookingFormValues, now: Date): Promise<BookAvailabilityView> {
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
  const result = await availability.query({ site: pool.site, gpuType: pool.gpuType, start, end, granularity: slotHours === 1 ? 'hour' : 'day' });
  const opens = Date.parse(pool.bookableFrom);
  const slots = (result.pools[0]?.slots ?? []).map((s) => ({ start: s.start, available: Date.parse(s.end) <= opens ? 0 : s.available }));
  if (opens > start.getTime()) message = `${site.name} opens ${pool.bookableFrom.slice(0, 10)}: nothing is bookable before then.${message ? ` ${message}` : ''}`;
  return { pool, needed, window: { start: start.toISOString(), end: end.toISOString(), chosen }, slotHours, slots, message };
}

/** VAT of a quote for the signed-in org, by the same rule as its invoice (shared/domain/vat.ts). */
async function quoteTaxOf(db: Db, who: Who, quote: Quote | null) {
  const tax = quote ? await orgTaxOf(db, orgOf(who)) : null;
  return quote && tax ? taxed(tax, quote.lines.map((l) => l.amount)) : null;
}

async function renderBook(
  c: PortalContext,
  services: Services,
  who: Who,
  state: { values?: BookingFormValues; quote?: Quote | null; reservation?: Reservation | null; alerts?: string[]; fieldErrors?: Partial<Record<BookingField, string>> },
  status = 200,
): Promise<Response> {
  const { catalog: catalogCache, clock, availability, db } = services;
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
      availability={await bookAvailability(availability, catalog, values, now)}
      quoteTax={await quoteTaxOf(db, who, quote)}
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
const formValues = (form: FormFields): BookingFormValues =>
  Object.fromEntries(BOOKING_FIELDS.map((f) => [f, (form[f] ?? '').slice(0, 200)])) as BookingFormValues;

/** Book form values from the query (links from Sites and the heat map), site and GPU type resolved to ids. */
async function queryValues(c: PortalContext, catalogCache: Services['catalog']): Promise<BookingFormValues> {
  const raw = Object.fromEntries(BOOKING_FIELDS.map((f) => [f, (c.req.query(f) ?? '').slice(0, 100)])) as BookingFormValues;
  const catalog = await catalogCache.get();
  const site = raw.site.trim() ? resolve(catalog.sites, raw.site) : null;
  const gpuType = raw.gpuType.trim() ? resolve(catalog.gpuTypes, raw.gpuType) : null;
  return normalizeTimes({ ...raw, site: site?.id ?? raw.site, gpuType: gpuType?.id ?? raw.gpuType });
}

export function registerBookingRoutes(app: App, services: Services, usage: PortalUsage, billing: BillingService | null) {
  app.get(
    '/book',
    signedIn(services, [...customer], 'The Book page', async (c, who) => {
      const reservationId = c.req.query('reservation');
      const quoteId = c.req.query('quote');
      if (reservationId) {
        const reservation = await getReservation(services.db, orgOf(who), reservationId.slice(0, 100));
        if (!reservation) return renderBook(c, services, who, { alerts: [`Reservation ${reservationId.slice(0, 100)} was not found.`] }, 404);
        return renderBook(c, services, who, { reservation });
      }
      if (quoteId) {
        const quote = await ownQuote(services.db, who, quoteId.slice(0, 100));
        if (!quote) return renderBook(c, services, who, { alerts: [`Quote ${quoteId.slice(0, 100)} was not found.`] }, 404);
        return renderBook(c, services, who, { quote });
      }
      return renderBook(c, services, who, { values: await queryValues(c, services.catalog) });
    }),
  );

  app.get(
    '/book/availability',
    signedIn(services, [...customer], 'The Book page', async (c) => {
      const { catalog, clock, availability } = services;
      const cat = await catalog.get();
      return fragment(c, <BookAvailability catalog={cat} view={await bookAvailability(availability, cat, await queryValues(c, catalog), clock())} />);
    }),
  );

  app.post(
    '/book/quote',
    formBodyLimit,
    signedIn(services, [...customer], 'Getting a quote', async (c, who, form) => {
      const values = normalizeTimes(formValues(form));
      const { catalog, booking, clock } = services;
      const parsed = parseBookingForm(formValues(form), await catalog.get(), clock());
      if (!parsed.ok) {
        const fieldErrors: Partial<Record<BookingField, string>> = {};
        for (const e of parsed.errors) if (isBookingField(e.path)) fieldErrors[e.path] ??= e.message;
        return renderBook(c, services, who, { values, alerts: parsed.errors.map(describeFieldError), fieldErrors }, 400);
      }
      try {
        const quote = await booking.quote(who.principal, parsed.request);
        return seeOther(c, `/book?quote=${encodeURIComponent(quote.id)}`);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return renderBook(c, services, who, { values, ...explainBookingError(error) }, error.status);
      }
    }),
  );

  app.post(
    '/book/reserve',
    formBodyLimit,
    signedIn(services, [...customer], 'Reserving', async (c, who, form) => {
      const quoteId = (form.quoteId ?? '').trim().slice(0, 100);
      if (!quoteId) return renderBook(c, services, who, { alerts: ['Quote: get a quote first, then Reserve it.'] }, 400);
      try {
        const reservation = await services.booking.hold(who.principal, quoteId);
        return seeOther(c, `/book?reservation=${encodeURIComponent(reservation.id)}`);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return renderBook(c, services, who, { quote: await ownQuote(services.db, who, quoteId), ...explainBookingError(error) }, error.status);
      }
    }),
  );

  for (const action of ['confirm', 'cancel', 'extend', 'stop'] as const) {
    app.post(
      `/reservations/:id/${action}`,
      formBodyLimit,
      signedIn(services, [...customer], 'Changing a reservation', async (c, who, form) => {
        const id = (c.req.param('id') ?? '').slice(0, 100);
        const fromBook = form.from === 'book';
        const { booking, db } = services;
        try {
          if (action === 'confirm') await booking.confirm(who.principal, id);
          else if (action === 'cancel') await booking.cancel(who.principal, id);
          else if (action === 'stop') await booking.stop(who.principal, id);
          else await extend(booking, who, id, form.end ?? '');
          if (form.from === 'detail') return seeOther(c, `/reservations/${encodeURIComponent(id)}?done=${DONE[action]}`);
          return seeOther(c, fromBook ? `/book?reservation=${encodeURIComponent(id)}` : `/reservations?done=${DONE[action]}&id=${encodeURIComponent(id)}`);
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          const { alerts, extendError } = explainChangeError(error);
          if (fromBook) return renderBook(c, services, who, { reservation: await getReservation(db, orgOf(who), id), alerts }, error.status);
          if (form.from === 'detail' && error.code !== 'not_found') {
            return renderReservation(c, services, who, usage, billing, id, { alerts, ...(action === 'extend' ? { extendValue: (form.end ?? '').slice(0, 100), extendError } : {}) }, error.status);
          }
          return renderReservations(c, services, who, usage, { alerts, extendValues: action === 'extend' ? { [id]: (form.end ?? '').slice(0, 100) } : {} }, error.status);
        }
      }),
    );
  }

  registerReservationPages(app, services, usage, billing);
}
