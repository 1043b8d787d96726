/**
 * Invoice and credit-note state: every change to one is a single transaction carrying the record, its
 * sync marker and receivable index, and its outbox events (statuses move only forward, domain/invoice.ts).
 */
import { STATUS_EVENT, canMoveTo, type CreditNote, type Invoice, type InvoiceStatus } from '#domain/invoice.ts';
import { outboxWrites, type EventDraft } from '#store/events.ts';
import { receivableDelete, receivablePut, stripeInvoiceLink, syncMarkerDelete } from '#store/billing-records.ts';
import { creditNoteReplace, getCreditNote, getInvoice, invoiceReplace } from '#store/invoices.ts';
import { financeAlertPut, type FinanceAlert } from '#store/finance-alerts.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import type { BillingContext } from './context.ts';
import { toApiInvoice } from './invoice-wire.ts';

/** What happened to an invoice: Stripe's ids and links, a status reached, the sync done or failed, a failed payment. */
export interface InvoiceUpdate {
  stripe?: { stripeInvoiceId: string; hostedInvoiceUrl: string | null; pdfUrl: string | null; stripeCustomerId: string | null };
  status?: InvoiceStatus | null;
  completeSync?: boolean;
  failSync?: string;
  /** Raised for finance in the same transaction, when this update is the one that fails the sync. */
  financeAlert?: FinanceAlert;
  paymentFailed?: { message: string; attemptCount: number | null };
}

export function createLedger(ctx: BillingContext) {
  const { db, clock, ids, retry } = ctx;

  function planInvoiceUpdate(prev: Invoice, now: Date, u: InvoiceUpdate): { next: Invoice; items: TransactItem[]; events: EventDraft[] } {
    const at = now.toISOString();
    const next: Invoice = { ...prev };
    const items: TransactItem[] = [];
    const eventTypes: string[] = [];
    const extra: Record<string, Record<string, unknown>> = {};
    if (u.stripe) {
      if (!prev.stripeInvoiceId) items.push(stripeInvoiceLink(db, u.stripe.stripeInvoiceId, prev));
      next.stripeInvoiceId = prev.stripeInvoiceId ?? u.stripe.stripeInvoiceId;
      next.hostedInvoiceUrl = u.stripe.hostedInvoiceUrl ?? prev.hostedInvoiceUrl;
      next.pdfUrl = u.stripe.pdfUrl ?? prev.pdfUrl;
      next.stripeCustomerId = prev.stripeCustomerId ?? u.stripe.stripeCustomerId;
    }
    if (prev.stripeSync === 'pending' && (u.completeSync || u.failSync)) {
      next.stripeSync = u.completeSync ? 'synced' : 'failed';
      next.note = u.completeSync ? null : (u.failSync ?? null);
      items.push(syncMarkerDelete(db, prev.createdAt, 'INV', prev.id));
      if (u.failSync && u.financeAlert) items.push(financeAlertPut(db, u.financeAlert));
    }
    if (u.status && canMoveTo(prev.status, u.status)) {
      next.status = u.status;
      if (prev.status === 'open' && prev.finalizedAt) items.push(receivableDelete(db, prev.finalizedAt, prev.id));
      if (prev.status === 'draft') next.finalizedAt = at;
      if (u.status === 'open') items.push(receivablePut(db, at, prev));
      if (u.status === 'paid') next.paidAt = at;
      if (u.status === 'void' || u.status === 'uncollectible') next.closedAt = at;
      eventTypes.push(STATUS_EVENT[u.status as Exclude<InvoiceStatus, 'draft'>]);
    }
    if (u.paymentFailed && next.status === 'open') {
      next.lastPaymentError = u.paymentFailed.message;
      eventTypes.push('invoice.payment_failed');
      extra['invoice.payment_failed'] = { attemptCount: u.paymentFailed.attemptCount };
    }
    const changed = JSON.stringify(next) !== JSON.stringify(prev);
    if (!changed) return { next: prev, items: [], events: [] };
    next.updatedAt = at;
    next.version = prev.version + 1;
    const events = eventTypes.map((type) => ({ type, data: { ...toApiInvoice(next), ...extra[type] } }));
    return { next, items: [invoiceReplace(db, prev, next), ...items], events };
  }

  /** Applies an update to the invoice as it is now, in one attempt; `also` joins the transaction (e.g. a Stripe event claim). */
  async function updateInvoiceOnce(
    orgId: string,
    invoiceId: string,
    update: (current: Invoice) => InvoiceUpdate | null,
    also: TransactItem[] = [],
  ): Promise<{ invoice: Invoice | null; changed: boolean }> {
    const now = clock();
    const current = await getInvoice(db, orgId, invoiceId);
    if (!current) {
      await transact(db, also);
      return { invoice: null, changed: false };
    }
    const wanted = update(current);
    const plan = wanted ? planInvoiceUpdate(current, now, wanted) : { next: current, items: [], events: [] };
    const outbox = await outboxWrites(db, orgId, plan.events, now, ids);
    await transact(db, [...plan.items, ...outbox.items, ...also]);
    return { invoice: plan.next, changed: plan.items.length > 0 };
  }

  /** The same, retried on lost races (each attempt re-reads the invoice). */
  const updateInvoice = async (orgId: string, invoiceId: string, update: (current: Invoice) => InvoiceUpdate | null): Promise<Invoice | null> =>
    (await withOptimisticRetry(() => updateInvoiceOnce(orgId, invoiceId, update), retry)).invoice;

  async function updateCreditNoteOnce(
    orgId: string,
    creditNoteId: string,
    change: (current: CreditNote) => Partial<CreditNote> | null,
    also: TransactItem[] = [],
  ): Promise<{ creditNote: CreditNote | null; changed: boolean }> {
    const current = await getCreditNote(db, orgId, creditNoteId);
    const patch = current ? change(current) : null;
    if (!current || !patch) {
      await transact(db, also);
      return { creditNote: current, changed: false };
    }
    const next: CreditNote = { ...current, ...patch, updatedAt: clock().toISOString(), version: current.version + 1 };
    const marker = current.stripeSync === 'pending' && next.stripeSync !== 'pending' ? [syncMarkerDelete(db, current.createdAt, 'CN', current.id)] : [];
    await transact(db, [creditNoteReplace(db, current, next), ...marker, ...also]);
    return { creditNote: next, changed: true };
  }

  const updateCreditNote = async (orgId: string, creditNoteId: string, change: (current: CreditNote) => Partial<CreditNote> | null): Promise<CreditNote | null> =>
    (await withOptimisticRetry(() => updateCreditNoteOnce(orgId, creditNoteId, change), retry)).creditNote;

  return { updateInvoiceOnce, updateInvoice, updateCreditNoteOnce, updateCreditNote };
}
export type Ledger = ReturnType<typeof createLedger>;
