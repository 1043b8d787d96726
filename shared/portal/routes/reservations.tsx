/** A customer's reservations: the list, one reservation (usage, invoices), the extend and cancel previews; starting on demand is in on-demand.tsx. */
import type { BillingService } from '#billing/service.ts';
import { CANCELLATION_POLICY } from '#domain/cancellation.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import { formatMoney } from '#domain/money.ts';
import type { Reservation } from '#domain/reservation.ts';
import { DAY_MS, HOUR_MS, epochHour, floorToDay, fromEpochHour } from '#domain/time.ts';
import type { App, Services } from '#http/context.ts';
import { listScope } from '#http/cursor.ts';
import type { Db } from '#store/db.ts';
import { getReservation, listReservations } from '#store/reservations.ts';
import { parseUtcInput } from '../booking-form.ts';
import { formatUtc, toUtcInput } from '../format.ts';
import { page, signedIn, type PortalContext, type Who } from '../http.tsx';
import type { PortalInvoiceDetail } from '../invoices.ts';
import type { PortalUsage } from '../usage.ts';
import { registerOnDemandRoutes } from './on-demand.tsx';
import { ReservationPage } from '../views/reservation.tsx';
import { taxedFor } from '../vat.ts';
import { CancelPreviewPage, ExtendPreviewPage } from '../views/reservation-previews.tsx';
import { ReservationsPage, type ReservationUsage } from '../views/reservations.tsx';

const RESERVATIONS_PAGE_SIZE = 25;
/** Usage charts show at most this much of a long reservation (its latest days). */
const USAGE_WINDOW_HOURS = 90 * 24;
const customer = ['customer'] as const;
const orgOf = (who: Who): string => who.principal.orgId!;

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

async function noticeFor(db: Db, who: Who, done: string | undefined, id: string | undefined): Promise<string | null> {
  if (!done || !id) return null;
  const r = await getReservation(db, orgOf(who), id);
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

export async function renderReservations(
  c: PortalContext,
  services: Services,
  who: Who,
  usage: PortalUsage,
  extra: { alerts?: string[]; notice?: string | null; extendValues?: Record<string, string> } = {},
  status = 200,
): Promise<Response> {
  const { db, clock, catalog, logger, cursors } = services;
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

type ReservationAction = 'confirm' | 'cancel' | 'extend' | 'stop';
export const DONE: Record<ReservationAction, string> = { confirm: 'confirmed', cancel: 'cancelled', extend: 'extended', stop: 'stopped' };

/** Registered by registerBookingRoutes (book.tsx), after the Book flow. */
export function registerReservationPages(app: App, services: Services, usage: PortalUsage, billing: BillingService | null) {
  app.get(
    '/reservations/:id',
    signedIn(services, [...customer], 'The reservation page', async (c, who) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      const done = c.req.query('done');
      const notice = done ? await noticeFor(services.db, who, done, id) : null;
      return renderReservation(c, services, who, usage, billing, id, { notice });
    }),
  );

  app.get(
    '/reservations/:id/extend',
    signedIn(services, [...customer], 'Extending a reservation', async (c, who) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      const raw = (c.req.query('end') ?? '').slice(0, 100);
      const { booking, db, catalog } = services;
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
            tax={await taxedFor(db, orgOf(who), extension.lines.map((l) => l.amount))}
            endValue={toUtcInput(end.toISOString())}
          />,
        );
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return renderReservation(c, services, who, usage, billing, id, { ...explainChangeError(error), extendValue: raw }, error.status);
      }
    }),
  );

  app.get(
    '/reservations/:id/cancel',
    signedIn(services, [...customer], 'Cancelling a reservation', async (c, who) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      const { booking, db, catalog } = services;
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
            refundTax={await taxedFor(db, orgOf(who), [refund.amount])}
            policy={CANCELLATION_POLICY}
          />,
        );
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return renderReservation(c, services, who, usage, billing, id, { alerts: [error.message] }, error.status);
      }
    }),
  );

  registerOnDemandRoutes(app, services);

  app.get(
    '/reservations',
    signedIn(services, [...customer], 'The Reservations page', async (c, who) =>
      renderReservations(c, services, who, usage, { notice: await noticeFor(services.db, who, c.req.query('done'), c.req.query('id')?.slice(0, 100)) }),
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

/** What a refused change of a reservation means for its page: alerts naming the field (the new end), and the new end's error. */
export function explainChangeError(error: DomainError): { alerts: string[]; extendError: string | undefined } {
  const alerts = error.errors?.length ? error.errors.map((e) => `${e.path === 'end' ? 'New end' : e.path}: ${e.message}`) : [error.message];
  return { alerts, extendError: error.errors?.find((e) => e.path === 'end')?.message };
}

export async function extend(booking: Services['booking'], who: Who, id: string, rawEnd: string): Promise<void> {
  await booking.extend(who.principal, id, parseExtendEnd(rawEnd).toISOString());
}

/** The invoices (with credit notes) of a reservation, from billing; none without billing. */
async function invoicesOf(who: Who, billing: BillingService | null, r: Reservation): Promise<PortalInvoiceDetail[]> {
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

export async function renderReservation(
  c: PortalContext,
  services: Services,
  who: Who,
  usage: PortalUsage,
  billing: BillingService | null,
  id: string,
  extra: { notice?: string | null; alerts?: string[]; extendValue?: string | undefined; extendError?: string | undefined },
  status = 200,
): Promise<Response> {
  const { db, clock, catalog: cache, logger } = services;
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
      invoices={await invoicesOf(who, billing, r)}
      notice={extra.notice ?? null}
      alerts={extra.alerts ?? []}
      extendValue={extra.extendValue}
      extendError={extra.extendError}
    />,
    status,
  );
}
