/**
 * What billing adds to a booking's transaction (services/booking's ReservationBilling): the invoice of
 * a confirmation or an extension, the credit notes of a cancellation's refund, and the Stripe push
 * after the commit.
 */
import { withLineFootprints, type CreditNote, type Invoice } from '#domain/invoice.ts';
import { eur, formatMoney, type Money } from '#domain/money.ts';
import { DomainError } from '#domain/errors.ts';
import type { Refund, Reservation } from '#domain/reservation.ts';
import { periodOf } from '#domain/time.ts';
import { getCreditLimit, unpaidTotal } from '#store/credit-limits.ts';
import type { EventDraft } from '#store/events.ts';
import { syncMarkerPut } from '#store/billing-records.ts';
import { getInvoice, invoiceCreate } from '#store/invoices.ts';
import type { TransactItem } from '#store/transact.ts';
import type { BillingEffect, ReservationBilling } from '../services/booking.ts';
import { factorsFor } from '../services/footprint.ts';
import { orgOrFail, type BillingContext } from './context.ts';
import { creditNoteWrites } from './credit-notes.ts';
import { allocateRefund, creditNoteFor, quotedWindow, reservationInvoice } from './invoice-builders.ts';
import { toApiCreditNote, toApiInvoice } from './invoice-wire.ts';
import type { StripeSync } from './stripe-sync.ts';

export function createReservationBilling(ctx: BillingContext, sync: StripeSync): ReservationBilling {
  const { db, ids, logger, stripeConfigured } = ctx;
  const { pushInvoice, pushCreditNote, pushAfterCommit } = sync;

  /**
   * Finance's credit limit on the org's unpaid commitments: the invoice this confirmation or extension
   * adds, on top of the org's unpaid invoices, must fit under it; otherwise 402 credit-limit (pay open
   * invoices first, or ask finance to raise the limit). No limit set: nothing checked.
   */
  async function checkCreditLimit(r: Reservation, kind: 'reservation' | 'extension', adds: number): Promise<void> {
    const limit = await getCreditLimit(db, r.orgId);
    if (limit?.amount === null || limit?.amount === undefined) return;
    const unpaid = await unpaidTotal(db, r.orgId);
    if (unpaid + adds <= limit.amount) return;
    const what = kind === 'reservation' ? 'Confirming' : 'Extending';
    throw new DomainError(
      'credit_limit',
      `${what} reservation ${r.id} adds an invoice of ${formatMoney(eur(adds))} to ${formatMoney(eur(unpaid))} unpaid, over the org's credit limit of ${formatMoney(eur(limit.amount))}: pay open invoices first`,
      {
        errors: [{ path: 'creditLimit', message: `unpaid ${unpaid} + ${adds} cents exceeds the credit limit of ${limit.amount} cents` }],
        extensions: { creditLimit: eur(limit.amount), unpaid: eur(unpaid), invoiceTotal: eur(adds) },
      },
    );
  }

  async function bookingInvoice(kind: 'reservation' | 'extension', r: Reservation, window: { start: string; end: string }, lines: Reservation['lines'], price: Money, now: Date): Promise<BillingEffect> {
    const org = await orgOrFail(db, r.orgId);
    const c = await ctx.catalog.get();
    const invoice = withLineFootprints(
      reservationInvoice(
        { id: ids.next('inv'), org, kind, period: periodOf(now), now, stripeConfigured },
        { id: r.id, poolId: r.poolId, site: r.site, gpuType: r.gpuType, gpus: r.gpus, window },
        lines,
        price,
      ),
      (site, gpuType) => factorsFor(c, site, gpuType),
    );
    await checkCreditLimit(r, kind, invoice.total.amount);
    return {
      items: [invoiceCreate(db, invoice), ...(stripeConfigured ? [syncMarkerPut(db, invoice.createdAt, { kind: 'INV', orgId: r.orgId, id: invoice.id })] : [])],
      events: [{ type: 'invoice.created', data: toApiInvoice(invoice) }],
      invoiceId: invoice.id,
      ...(stripeConfigured ? { afterCommit: () => pushAfterCommit({ invoiceId: invoice.id }, () => pushInvoice(r.orgId, invoice.id)) } : {}),
    };
  }

  const reservationBilling: ReservationBilling = {
    async onConfirm(r, now) {
      if (!r.price || !r.end) throw new DomainError('internal', `Reservation ${r.id} has no price or end to invoice`);
      return bookingInvoice('reservation', r, quotedWindow(r.lines, r.start, r.end), r.lines, r.price, now);
    },

    async onExtend(r, extension, now) {
      return bookingInvoice('extension', r, { start: extension.start, end: extension.end }, extension.lines, extension.total, now);
    },

    async onCancel(r: Reservation, refund: Refund, now: Date): Promise<BillingEffect> {
      if (refund.amount.amount === 0) return { items: [], events: [] };
      const invoices = (await Promise.all(r.invoiceIds.map((id) => getInvoice(db, r.orgId, id)))).filter((i): i is Invoice => i !== null && i.status !== 'void');
      const creditable = invoices.reduce((sum, i) => sum + i.subtotal.amount - i.creditedSubtotal.amount, 0);
      if (creditable < refund.amount.amount) {
        logger.error('refund exceeds what is left to credit on the reservation’s invoices', { reservationId: r.id, refund: refund.amount.amount, creditable });
      }
      const parts = allocateRefund(eur(Math.min(refund.amount.amount, creditable)), invoices);
      const items: TransactItem[] = [];
      const events: EventDraft[] = [];
      const pending: CreditNote[] = [];
      for (const part of parts) {
        const invoice = invoices.find((i) => i.id === part.invoiceId)!;
        const note = creditNoteFor(invoice, {
          id: ids.next('cn'),
          subtotal: part.amount,
          reason: `Cancellation of reservation ${r.id}: ${refund.rule}`,
          now,
          period: periodOf(now),
          stripeConfigured,
        });
        items.push(...creditNoteWrites(db, invoice, note, now));
        if (note.stripeSync === 'pending') pending.push(note);
        events.push({ type: 'credit_note.created', data: toApiCreditNote(note) });
      }
      if (pending.length === 0) return { items, events };
      return {
        items,
        events,
        afterCommit: () =>
          pushAfterCommit({ reservationId: r.id }, async () => {
            for (const note of pending) await pushCreditNote(r.orgId, note.id);
          }),
      };
    },
  };

  return reservationBilling;
}
