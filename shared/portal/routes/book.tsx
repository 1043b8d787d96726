/** Sites and availability, the Book flow (quote → reserve → confirm) and the reservations list. */
import { DomainError, type FieldError } from '#domain/errors.ts';
import { formatMoney } from '#domain/money.ts';
import type { Reservation } from '#domain/reservation.ts';
import { DAY_MS, HOUR_MS, epochHour, floorToDay, fromEpochHour } from '#domain/time.ts';
import type { App } from '#http/context.ts';
import { getQuote, type Quote } from '#store/quotes.ts';
import { getReservation, listReservations } from '#store/reservations.ts';
import { availability } from '../../services/availability.ts';
import { BOOKING_FIELDS, describeFieldError, emptyBookingForm, isBookingField, parseBookingForm, parseUtcInput, type BookingField, type BookingFormValues } from '../booking-form.ts';
import { formatUtc, toUtcInput } from '../format.ts';
import { formBodyLimit, page, seeOther, signedIn, type FormFields, type PortalContext, type Who } from '../http.tsx';
import type { PortalUsage } from '../usage.ts';
import { BookPage } from '../views/book.tsx';
import { ReservationsPage, type ReservationUsage } from '../views/reservations.tsx';
import { SitesPage } from '../views/sites.tsx';

export const AVAILABILITY_DAYS = 30;
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

async function renderBook(
  c: PortalContext,
  who: Who,
  state: { values?: BookingFormValues; quote?: Quote | null; reservation?: Reservation | null; alerts?: string[]; fieldErrors?: Partial<Record<BookingField, string>> },
  status = 200,
): Promise<Response> {
  const { catalog, clock } = c.get('deps');
  const quote = state.quote ?? null;
  const reservation = state.reservation ?? null;
  const values = state.values ?? (reservation ? valuesOf(reservation) : quote ? valuesOf(quote) : emptyBookingForm());
  return page(
    c,
    <BookPage
      viewer={who.viewer}
      catalog={await catalog.get()}
      now={clock()}
      values={values}
      fieldErrors={state.fieldErrors ?? {}}
      alerts={state.alerts ?? []}
      quote={quote}
      reservation={reservation}
    />,
    status,
  );
}

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
  const { db, clock, catalog, logger } = c.get('deps');
  const now = clock();
  const cursor = c.req.query('cursor') || undefined;
  const list = await listReservations(db, orgOf(who), { limit: RESERVATIONS_PAGE_SIZE, cursor });
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

type ReservationAction = 'confirm' | 'cancel' | 'extend' | 'stop';
const DONE: Record<ReservationAction, string> = { confirm: 'confirmed', cancel: 'cancelled', extend: 'extended', stop: 'stopped' };

export function registerBookingRoutes(app: App, usage: PortalUsage) {
  app.get(
    '/sites',
    signedIn([...customer], 'The Sites page', async (c, who) => {
      const deps = c.get('deps');
      const from = floorToDay(deps.clock());
      const result = await availability(deps, { start: from, end: new Date(from.getTime() + AVAILABILITY_DAYS * DAY_MS), granularity: 'day' });
      return page(c, <SitesPage viewer={who.viewer} catalog={await deps.catalog.get()} availability={result.pools} from={from.toISOString()} days={AVAILABILITY_DAYS} />);
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
      const values = { ...emptyBookingForm(), site: (c.req.query('site') ?? '').slice(0, 100), gpuType: (c.req.query('gpuType') ?? '').slice(0, 100) };
      return renderBook(c, who, { values });
    }),
  );

  app.post(
    '/book/quote',
    formBodyLimit,
    signedIn([...customer], 'Getting a quote', async (c, who, form) => {
      const values = formValues(form);
      const { catalog, booking } = c.get('deps');
      const parsed = parseBookingForm(values, await catalog.get());
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
          return seeOther(c, fromBook ? `/book?reservation=${encodeURIComponent(id)}` : `/reservations?done=${DONE[action]}&id=${encodeURIComponent(id)}`);
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          const alerts = error.errors?.length ? error.errors.map((e) => `${e.path === 'end' ? 'New end' : e.path}: ${e.message}`) : [error.message];
          if (fromBook) return renderBook(c, who, { reservation: await getReservation(db, orgOf(who), id), alerts }, error.status);
          return renderReservations(c, who, usage, { alerts, extendValues: action === 'extend' ? { [id]: (form.end ?? '').slice(0, 100) } : {} }, error.status);
        }
      }),
    );
  }

  app.get(
    '/reservations',
    signedIn([...customer], 'The Reservations page', async (c, who) =>
      renderReservations(c, who, usage, { notice: await noticeFor(c, who, c.req.query('done'), c.req.query('id')?.slice(0, 100)) }),
    ),
  );
}

async function extend(c: PortalContext, who: Who, id: string, rawEnd: string): Promise<void> {
  const text = rawEnd.trim();
  const end = text ? parseUtcInput(text) : null;
  if (!end) {
    const message = text ? `"${text.slice(0, 100)}" is not a UTC date and time like 2026-12-03T08:00` : 'enter the new UTC end, e.g. 2026-12-03T08:00';
    throw new DomainError('validation_failed', `end: ${message}`, { errors: [{ path: 'end', message }] });
  }
  await c.get('deps').booking.extend(who.principal, id, end.toISOString());
}
