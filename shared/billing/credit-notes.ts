/**
 * Credit notes finance issues on any invoice (cancellations' credit notes come from booking-hooks.ts,
 * resale payouts' from resale-payouts.ts), and what crediting an invoice writes, for all of them.
 */
import { createHash } from 'node:crypto';
import { DomainError, notFound } from '#domain/errors.ts';
import { withCredit, type CreditNote, type Invoice } from '#domain/invoice.ts';
import { eur, formatMoney, type Money } from '#domain/money.ts';
import type { Principal } from '#domain/principal.ts';
import { periodOf } from '#domain/time.ts';
import { outboxWrites } from '#store/events.ts';
import type { Db } from '#store/db.ts';
import { syncMarkerPut } from '#store/billing-records.ts';
import { creditNoteCreate, findInvoice, getCreditNote, getInvoice, invoiceReplace } from '#store/invoices.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import type { BillingContext } from './context.ts';
import { creditNoteFor } from './invoice-builders.ts';
import { toApiCreditNote } from './invoice-wire.ts';
import type { StripeSync } from './stripe-sync.ts';

/** A credit note id derived from `parts` (e.g. the invoice and an idempotency key): the same id however often it is tried. */
export const derivedCreditNoteId = (...parts: string[]) => `cn_${createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 26)}`;

/** What crediting `note` on `invoice` writes: the note, the invoice with it, and the note's Stripe sync marker while its push is pending. */
export function creditNoteWrites(db: Db, invoice: Invoice, note: CreditNote, now: Date): TransactItem[] {
  return [
    creditNoteCreate(db, note),
    invoiceReplace(db, invoice, withCredit(invoice, note, now)),
    ...(note.stripeSync === 'pending' ? [syncMarkerPut(db, note.createdAt, { kind: 'CN', orgId: note.orgId, id: note.id })] : []),
  ];
}

export function createCreditNotes(ctx: BillingContext, sync: StripeSync) {
  const { db, clock, ids, stripeConfigured, retry } = ctx;
  const { pushCreditNote, pushAfterCommit } = sync;

  /**
   * A credit note of `subtotal` (excluding VAT; VAT added at the invoice's rate) on any invoice, by
   * finance. With an idempotency key, the credit note's id derives from the invoice and the key, so a
   * retry finds the one already issued; Stripe gets it under `cn-<id>` (our idempotency key).
   */
  async function issueCreditNote(principal: Principal, invoiceId: string, input: { subtotal: Money; reason: string; idempotencyKey?: string | undefined }): Promise<CreditNote> {
    if (principal.role !== 'finance') throw new DomainError('forbidden', 'Credit notes are issued by finance keys');
    const reason = input.reason.trim();
    if (!reason) throw new DomainError('validation_failed', 'reason: say why the invoice is credited', { errors: [{ path: 'reason', message: 'say why the invoice is credited' }] });
    const found = await findInvoice(db, invoiceId);
    if (!found) throw notFound('Invoice', invoiceId);
    const orgId = found.orgId;
    const noteId = input.idempotencyKey ? derivedCreditNoteId(invoiceId, input.idempotencyKey) : ids.next('cn');
    const note = await withOptimisticRetry(async () => {
      const earlier = await getCreditNote(db, orgId, noteId);
      if (earlier) return earlier;
      const invoice = await getInvoice(db, orgId, invoiceId);
      if (!invoice) throw notFound('Invoice', invoiceId);
      if (invoice.status === 'void') throw new DomainError('invalid_state', `Invoice ${invoiceId} is void; a void invoice is not credited`);
      const left = invoice.subtotal.amount - invoice.creditedSubtotal.amount;
      if (!Number.isSafeInteger(input.subtotal.amount) || input.subtotal.amount <= 0 || input.subtotal.amount > left) {
        const message = left > 0 ? `must be between €0.01 and ${formatMoney(eur(left))} (what is left to credit on ${invoiceId})` : `${invoiceId} is fully credited`;
        throw new DomainError('unprocessable', `amount: ${message}`, { errors: [{ path: 'amount', message }] });
      }
      const now = clock();
      const created = creditNoteFor(invoice, { id: noteId, subtotal: input.subtotal, reason: reason.slice(0, 500), now, period: periodOf(now), stripeConfigured });
      const outbox = await outboxWrites(db, orgId, [{ type: 'credit_note.created', data: toApiCreditNote(created) }], now, ids);
      await transact(db, [...creditNoteWrites(db, invoice, created, now), ...outbox.items]);
      return created;
    }, retry);
    if (note.stripeSync === 'pending') await pushAfterCommit({ creditNoteId: note.id }, () => pushCreditNote(orgId, note.id));
    return (await getCreditNote(db, orgId, note.id)) ?? note;
  }

  return { issueCreditNote };
}
