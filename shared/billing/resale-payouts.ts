/**
 * Resale payouts: a seller's earnings from a settled fill (written with the buyer's confirmation,
 * shared/services/resale.ts) are credited on the seller's own invoices for the reservation it resold
 * from, as credit notes: on an open invoice they lower what is due, on a paid one Stripe turns them
 * into a credit on the customer's balance (shared/billing/stripe-sync.ts, `pushCreditNote`).
 *
 * Exactly once: each credit waits behind a payout marker; one transaction creates the credit notes
 * (ids derived from the fill and the invoice), adds them to the invoices (conditioned on the
 * versions read), records them on the credit and removes the marker, so two passes racing credit
 * nothing twice. Stripe gets each note under `cn-<id>` like every other credit note. See docs/resale.md.
 */
import type { CreditNote } from '#domain/invoice.ts';
import { eur, formatMoney } from '#domain/money.ts';
import { periodOf } from '#domain/time.ts';
import { outboxWrites } from '#store/events.ts';
import { getInvoices } from '#store/invoices.ts';
import { getResaleCredit, pendingResalePayouts, resalePaidOut, type ResaleCredit } from '#store/resale-credits.ts';
import { getReservation } from '#store/reservations.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import type { BillingContext } from './context.ts';
import { creditNoteWrites, derivedCreditNoteId } from './credit-notes.ts';
import { creditNoteFor } from './invoice-builders.ts';
import { toApiCreditNote } from './invoice-wire.ts';
import type { StripeSync } from './stripe-sync.ts';

/** The credit note paying a fill's earnings out on one invoice: the same id however often it is tried. */
export const payoutCreditNoteId = (fillId: string, invoiceId: string) => derivedCreditNoteId('resale', fillId, invoiceId);

export const payoutReason = (c: ResaleCredit) =>
  `Resale earnings: ${c.gpuHours} GPU-hours of ${c.reservationId} sold through listing ${c.listingId} (buyers' price ${formatMoney(c.gross)} − fee ${formatMoney(c.fee)})`;

export function createResalePayouts(ctx: BillingContext, sync: StripeSync) {
  const { db, clock, ids, logger, stripeConfigured, retry } = ctx;

  /**
   * Pays one credit out. Credit notes go on the resold reservation's invoices in order (the
   * reservation's, then its extensions'), each up to what is left to credit on it; void invoices are
   * skipped. When the invoices cannot take the whole amount (e.g. credited in full by finance) the
   * credit stays pending and finance is told through the error log; nothing is written.
   */
  async function payOut(ref: { orgId: string; period: string; fillId: string }): Promise<'paid' | 'waiting'> {
    const notes = await withOptimisticRetry(async (): Promise<CreditNote[] | null> => {
      const credit = await getResaleCredit(db, ref.orgId, ref.period, ref.fillId);
      if (!credit || credit.creditNoteIds) return [];
      const seller = await getReservation(db, credit.orgId, credit.reservationId);
      const order = seller?.invoiceIds ?? [];
      const invoices = (await getInvoices(db, order.map((invoiceId) => ({ orgId: credit.orgId, invoiceId })))).sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
      const now = clock();
      const created: CreditNote[] = [];
      const items: TransactItem[] = [];
      let remaining = credit.earnings.amount;
      for (const invoice of invoices) {
        if (remaining === 0) break;
        const left = invoice.subtotal.amount - invoice.creditedSubtotal.amount;
        if (invoice.status === 'void' || left <= 0) continue;
        const amount = Math.min(left, remaining);
        const note = creditNoteFor(invoice, { id: payoutCreditNoteId(credit.fillId, invoice.id), subtotal: eur(amount), reason: payoutReason(credit), now, period: periodOf(now), stripeConfigured });
        items.push(...creditNoteWrites(db, invoice, note, now));
        created.push(note);
        remaining -= amount;
      }
      if (remaining > 0) {
        logger.error('resale earnings exceed what is left to credit on the seller’s invoices; the payout waits', { orgId: credit.orgId, fillId: credit.fillId, reservationId: credit.reservationId, earnings: credit.earnings.amount, uncredited: remaining });
        return null;
      }
      const outbox = await outboxWrites(db, credit.orgId, created.map((n) => ({ type: 'credit_note.created', data: toApiCreditNote(n) })), now, ids);
      await transact(db, [...items, ...resalePaidOut(db, credit, created.map((n) => n.id)), ...outbox.items]);
      return created;
    }, retry);
    if (notes === null) return 'waiting';
    for (const n of notes) if (n.stripeSync === 'pending') await sync.pushAfterCommit({ creditNoteId: n.id }, () => sync.pushCreditNote(n.orgId, n.id));
    return 'paid';
  }

  /** The scheduled pass: pays out up to `limit` pending credits, oldest first. */
  async function payPendingResaleEarnings(limit = 100): Promise<{ paid: number; waiting: number }> {
    let paid = 0;
    let waiting = 0;
    for (const ref of await pendingResalePayouts(db, limit)) {
      if ((await payOut(ref)) === 'paid') paid++;
      else waiting++;
    }
    return { paid, waiting };
  }

  return { payPendingResaleEarnings };
}
