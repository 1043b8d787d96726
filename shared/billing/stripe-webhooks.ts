/**
 * Stripe's webhooks: a verified event is handled once (its id claimed in the same transaction as the
 * change it makes): invoice status and Stripe links, failed payments, credit notes ours or issued in
 * Stripe by hand.
 */
import type { CreditNote, InvoiceStatus } from '#domain/invoice.ts';
import { DomainError } from '#domain/errors.ts';
import { eur, mulRound } from '#domain/money.ts';
import { periodOf } from '#domain/time.ts';
import { outboxWrites } from '#store/events.ts';
import { invoiceForStripeId, stripeEventClaim, stripeEventSeen } from '#store/billing-records.ts';
import { findCreditNote, findInvoice, getCreditNote } from '#store/invoices.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import type { BillingContext } from './context.ts';
import { creditNoteWrites } from './credit-notes.ts';
import { InvalidStripeSignatureError, type StripeWebhookEvent } from './gateway.ts';
import { toApiCreditNote } from './invoice-wire.ts';
import type { Ledger } from './ledger.ts';

const stringField = (o: Record<string, unknown>, key: string): string | null => (typeof o[key] === 'string' ? (o[key] as string) : null);
const numberField = (o: Record<string, unknown>, key: string): number | null => (typeof o[key] === 'number' && Number.isSafeInteger(o[key]) ? (o[key] as number) : null);
const metadataOf = (o: Record<string, unknown>): Record<string, unknown> =>
  typeof o.metadata === 'object' && o.metadata !== null ? (o.metadata as Record<string, unknown>) : {};

/** Our invoice status each Stripe invoice event moves to (payment_failed changes none). */
const STATUS_OF_EVENT: Record<string, InvoiceStatus | null> = {
  'invoice.finalized': 'open',
  'invoice.paid': 'paid',
  'invoice.voided': 'void',
  'invoice.marked_uncollectible': 'uncollectible',
  'invoice.payment_failed': null,
};

export function createStripeWebhooks(ctx: BillingContext, ledger: Ledger) {
  const { db, clock, ids, gateway, logger, retry } = ctx;
  const { updateInvoiceOnce, updateCreditNoteOnce } = ledger;

  type WebhookOutcome = { outcome: 'processed' | 'duplicate' | 'ignored'; invoiceId?: string; creditNoteId?: string };

  /** One attempt at an invoice event; the claim of the event id commits with the change, or alone when nothing changes. */
  async function handleInvoiceEvent(event: StripeWebhookEvent, claim: TransactItem): Promise<WebhookOutcome> {
    const object = event.object;
    const stripeInvoiceId = stringField(object, 'id');
    const ourId = stringField(metadataOf(object), 'invoiceId');
    const target = (ourId ? await findInvoice(db, ourId) : null) ?? (stripeInvoiceId ? await invoiceForStripeId(db, stripeInvoiceId) : null);
    if (!target || !stripeInvoiceId || (target.stripeInvoiceId !== null && target.stripeInvoiceId !== stripeInvoiceId)) {
      await transact(db, [claim]);
      return { outcome: 'ignored' };
    }
    // Not yet linked: the Stripe id must not already be another invoice's (metadata alone proves nothing).
    if (target.stripeInvoiceId === null) {
      const owner = await invoiceForStripeId(db, stripeInvoiceId);
      if (owner && owner.id !== target.id) {
        logger.warn('stripe invoice event names one invoice and carries another invoice’s Stripe id; ignored', { eventId: event.id, invoiceId: target.id, stripeInvoiceId });
        await transact(db, [claim]);
        return { outcome: 'ignored', invoiceId: target.id };
      }
    }
    // Paid means paid in full in our currency: `amount_paid ≥ total`, the same currency.
    if (event.type === 'invoice.paid') {
      const amountPaid = numberField(object, 'amount_paid');
      const currency = stringField(object, 'currency');
      if (amountPaid === null || amountPaid < target.total.amount || currency === null || currency.toUpperCase() !== target.total.currency) {
        logger.warn('stripe invoice.paid does not pay this invoice in full; ignored', {
          eventId: event.id,
          invoiceId: target.id,
          amountPaid,
          currency,
          total: target.total.amount,
        });
        await transact(db, [claim]);
        return { outcome: 'ignored', invoiceId: target.id };
      }
    }
    const total = numberField(object, 'total');
    const subtotal = numberField(object, 'subtotal');
    const attemptCount = numberField(object, 'attempt_count');
    const { changed } = await updateInvoiceOnce(
      target.orgId,
      target.id,
      (current) => ({
        stripe: {
          stripeInvoiceId,
          hostedInvoiceUrl: stringField(object, 'hosted_invoice_url'),
          pdfUrl: stringField(object, 'invoice_pdf'),
          stripeCustomerId: stringField(object, 'customer'),
        },
        status: STATUS_OF_EVENT[event.type] ?? null,
        completeSync: current.stripeSync === 'pending' && object.status !== 'draft' && total === current.total.amount && subtotal === current.subtotal.amount,
        ...(event.type === 'invoice.payment_failed'
          ? { paymentFailed: { message: attemptCount === null ? 'A payment attempt failed' : `Payment attempt ${attemptCount} failed`, attemptCount } }
          : {}),
      }),
      [claim],
    );
    return { outcome: changed ? 'processed' : 'ignored', invoiceId: target.id };
  }

  /** One attempt at a credit note event: ours (its Stripe ids recorded) or one issued in Stripe by hand (recorded as ours). */
  async function handleCreditNoteEvent(event: StripeWebhookEvent, claim: TransactItem): Promise<WebhookOutcome> {
    const object = event.object;
    const stripeCreditNoteId = stringField(object, 'id');
    const refunds = Array.isArray(object.refunds) ? (object.refunds as Record<string, unknown>[]) : [];
    const refund = refunds[0]?.refund;
    const refundId = typeof refund === 'string' ? refund : typeof refund === 'object' && refund !== null ? stringField(refund as Record<string, unknown>, 'id') : null;
    const ourId = stringField(metadataOf(object), 'creditNoteId');
    if (ourId) {
      const ours = await findCreditNote(db, ourId);
      if (!ours) {
        await transact(db, [claim]);
        return { outcome: 'ignored' };
      }
      const { changed } = await updateCreditNoteOnce(
        ours.orgId,
        ours.id,
        (c) => (c.stripeSync === 'pending' ? { status: 'issued', stripeSync: 'synced', stripeCreditNoteId, stripeRefundId: refundId } : null),
        [claim],
      );
      return { outcome: changed ? 'processed' : 'ignored', creditNoteId: ours.id };
    }
    const stripeInvoiceId = stringField(object, 'invoice');
    const total = numberField(object, 'total') ?? numberField(object, 'amount');
    const invoice = stripeInvoiceId ? await invoiceForStripeId(db, stripeInvoiceId) : null;
    const id = `cn_stripe_${stripeCreditNoteId}`;
    if (!invoice || !stripeCreditNoteId || total === null || total <= 0 || (await getCreditNote(db, invoice.orgId, id))) {
      await transact(db, [claim]);
      return { outcome: 'ignored' };
    }
    const now = clock();
    const subtotal = numberField(object, 'subtotal') ?? (invoice.taxRateBps === 0 ? total : mulRound(total, 10_000, 10_000 + invoice.taxRateBps));
    const first = invoice.lines[0];
    const note: CreditNote = {
      id,
      orgId: invoice.orgId,
      invoiceId: invoice.id,
      reservationId: invoice.reservationId,
      period: periodOf(now),
      reason: stringField(object, 'memo') ?? 'Credit note issued in Stripe',
      site: invoice.lines.every((l) => l.site === first?.site) ? (first?.site ?? null) : null,
      gpuType: invoice.lines.every((l) => l.gpuType === first?.gpuType) ? (first?.gpuType ?? null) : null,
      subtotal: eur(subtotal),
      tax: eur(total - subtotal),
      total: eur(total),
      status: 'issued',
      stripeSync: 'synced',
      note: null,
      stripeCreditNoteId,
      stripeRefundId: refundId,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      version: 1,
    };
    const outbox = await outboxWrites(db, invoice.orgId, [{ type: 'credit_note.created', data: toApiCreditNote(note) }], now, ids);
    await transact(db, [...creditNoteWrites(db, invoice, note, now), claim, ...outbox.items]);
    return { outcome: 'processed', creditNoteId: id };
  }

  /**
   * Handles one verified Stripe event once: its id is claimed (conditional put) in the same
   * transaction as the change, so a second delivery, even a concurrent one, changes nothing. Each
   * attempt re-reads everything; a lost race re-runs from the duplicate check.
   */
  async function handleStripeEvent(event: StripeWebhookEvent): Promise<WebhookOutcome> {
    return withOptimisticRetry(async () => {
      if (await stripeEventSeen(db, event.id)) return { outcome: 'duplicate' as const };
      const claim = stripeEventClaim(db, event.id, event.type, clock());
      if (event.type in STATUS_OF_EVENT) return handleInvoiceEvent(event, claim);
      if (event.type === 'credit_note.created') return handleCreditNoteEvent(event, claim);
      await transact(db, [claim]);
      return { outcome: 'ignored' as const };
    }, retry);
  }

  /** Verifies the signature on the raw body, then handles the event. A bad signature is a 400 that says nothing of why. */
  async function receiveStripeWebhook(rawBody: string, signature: string | undefined) {
    let event: StripeWebhookEvent;
    try {
      event = await gateway.parseWebhook(rawBody, signature);
    } catch (error) {
      if (!(error instanceof InvalidStripeSignatureError)) throw error;
      logger.warn('Stripe webhook refused', { reason: error.reason });
      throw new DomainError('validation_failed', 'The Stripe-Signature header does not verify for this body, or it is older than 300 seconds', {
        errors: [{ path: 'stripe-signature', message: 'invalid or expired signature' }],
      });
    }
    return { eventId: event.id, type: event.type, ...(await handleStripeEvent(event)) };
  }

  return { handleStripeEvent, receiveStripeWebhook };
}
