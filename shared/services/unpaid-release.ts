/**
 * The scheduled job that releases the future capacity of bookings whose invoice is unpaid past its
 * due date and the grace (shared/domain/unpaid.ts): each such confirmed, not yet started reservation
 * is cancelled without refund, with `reservation.cancelled` carrying `reason: unpaid_invoice_past_due`.
 */
import { finalizedReleasableBy } from '#domain/unpaid.ts';
import type { Db } from '#store/db.ts';
import { openInvoiceRefsFinalizedBefore } from '#store/billing-records.ts';
import { getInvoices } from '#store/invoices.ts';
import { getReservation } from '#store/reservations.ts';
import type { Clock } from '../ids.ts';
import type { BookingService } from './booking.ts';

export async function releaseUnpaidCapacity(deps: { db: Db; clock: Clock; booking: Pick<BookingService, 'releaseUnpaid'> }): Promise<number> {
  const now = deps.clock();
  const refs = await openInvoiceRefsFinalizedBefore(deps.db, finalizedReleasableBy(now));
  if (refs.length === 0) return 0;
  let released = 0;
  for (const invoice of await getInvoices(deps.db, refs)) {
    if (invoice.status !== 'open' || !invoice.reservationId) continue;
    const r = await getReservation(deps.db, invoice.orgId, invoice.reservationId);
    if (!r || r.status !== 'confirmed' || new Date(r.start).getTime() <= now.getTime()) continue;
    const after = await deps.booking.releaseUnpaid(invoice.orgId, r.id, invoice.id);
    if (after.status === 'cancelled') released++;
  }
  return released;
}
