/**
 * Stripe push and sync: invoices and credit notes committed here as `pending` are pushed to Stripe
 * after the commit (within a time budget) and, whatever did not finish, by `syncPending()` on the
 * scheduled tick. Each Stripe call's idempotency key derives from our ids, so a rerun creates nothing twice.
 */
import type { CreditNote, Invoice } from '#domain/invoice.ts';
import { taxTreatmentFor } from '#domain/vat.ts';
import type { FinanceAlert } from '#store/finance-alerts.ts';
import { listSyncMarkers } from '#store/billing-records.ts';
import { getCreditNote, getInvoice } from '#store/invoices.ts';
import { setStripeCustomerId } from '#store/orgs.ts';
import { describeError, orgOrFail, type BillingContext } from './context.ts';
import type { Ledger } from './ledger.ts';
import { StripeInvoiceMismatchError } from './gateway.ts';

export function createStripeSync(ctx: BillingContext, ledger: Ledger) {
  const { db, gateway, logger, pushBudgetMs } = ctx;
  const { updateInvoice, updateCreditNote } = ledger;

  async function stripeCustomerFor(orgId: string): Promise<string> {
    const org = await orgOrFail(db, orgId);
    if (org.stripeCustomerId) return org.stripeCustomerId;
    const { treatment } = taxTreatmentFor(org);
    const { customerId } = await gateway.ensureCustomer({
      orgId,
      name: org.name,
      country: org.country,
      vatNumber: org.vatNumber,
      email: org.billingEmail,
      taxExempt: treatment === 'eu_reverse_charge' ? 'reverse' : treatment === 'export_none' ? 'exempt' : 'none',
    });
    await setStripeCustomerId(db, orgId, customerId);
    return customerId;
  }

  const invoiceDescription = (i: Invoice): string =>
    i.kind === 'usage' ? `On-demand GPU usage, ${i.period}` : i.kind === 'extension' ? `Extension of reservation ${i.reservationId}` : `Reservation ${i.reservationId}`;

  /**
   * Stripe's invoice did not add up to ours: the invoice's sync fails with the detail (finance reads it;
   * customers see the plain "being issued" note) and a finance alert is written in the same transaction.
   * Stripe's invoice is not linked to ours: its draft was deleted or it was voided, nothing to pay there.
   */
  async function failMismatch(invoice: Invoice, detail: string, stripeInvoiceId: string | null, stripeAction: FinanceAlert['stripeAction']): Promise<void> {
    logger.error('Stripe invoice does not match ours: finance alerted', { invoiceId: invoice.id, orgId: invoice.orgId, stripeInvoiceId, stripeAction, detail });
    const at = ctx.clock().toISOString();
    const financeAlert: FinanceAlert = { id: ctx.ids.next('alert'), at, kind: 'stripe_invoice_mismatch', orgId: invoice.orgId, invoiceId: invoice.id, stripeInvoiceId, stripeAction, detail };
    await updateInvoice(invoice.orgId, invoice.id, () => ({ failSync: `Stripe's invoice does not match this one: ${detail}`, financeAlert }));
  }

  /** Puts a pending invoice into Stripe (items, invoice, finalize) and records what Stripe answered. */
  async function pushInvoice(orgId: string, invoiceId: string): Promise<Invoice | null> {
    const invoice = await getInvoice(db, orgId, invoiceId);
    if (!invoice || invoice.stripeSync !== 'pending') return invoice;
    const customerId = invoice.stripeCustomerId ?? (await stripeCustomerFor(orgId));
    let result;
    try {
      result = await gateway.createFinalizedInvoice({
        invoiceId: invoice.id,
        customerId,
        currency: 'eur',
        lines: invoice.lines.map((l) => ({
          description: l.description,
          amount: l.amount.amount,
          tax: l.tax.amount,
          metadata: { kind: l.kind, ...(l.poolId ? { poolId: l.poolId } : {}), ...(l.usagePeriod ? { usagePeriod: l.usagePeriod } : {}) },
        })),
        taxRateBps: invoice.taxRateBps,
        footer: invoice.legalMention,
        metadata: { orgId, invoiceId: invoice.id, kind: invoice.kind, period: invoice.period, ...(invoice.reservationId ? { reservationId: invoice.reservationId } : {}) },
        description: invoiceDescription(invoice),
        expected: { subtotal: invoice.subtotal.amount, tax: invoice.tax.amount, total: invoice.total.amount },
      });
    } catch (error) {
      if (error instanceof StripeInvoiceMismatchError) await failMismatch(invoice, error.message, error.stripeInvoiceId, error.action);
      throw error;
    }
    const stripe = { stripeInvoiceId: result.stripeInvoiceId, hostedInvoiceUrl: result.hostedInvoiceUrl, pdfUrl: result.pdfUrl, stripeCustomerId: customerId };
    if (result.subtotal !== invoice.subtotal.amount || result.tax !== invoice.tax.amount || result.total !== invoice.total.amount) {
      // A gateway that did not check (the check lives in the Stripe gateway): recorded and alerted all the same.
      const detail = `Stripe invoice ${result.stripeInvoiceId} totals ${result.subtotal} + ${result.tax} = ${result.total} cents, ours ${invoice.subtotal.amount} + ${invoice.tax.amount} = ${invoice.total.amount}`;
      await failMismatch(invoice, detail, result.stripeInvoiceId, 'none');
      throw new StripeInvoiceMismatchError(detail, result.stripeInvoiceId, 'none');
    }
    return updateInvoice(orgId, invoiceId, () => ({ stripe, status: result.status, completeSync: true }));
  }

  /** Issues a pending credit note in Stripe (its invoice first, if that is still pending). */
  async function pushCreditNote(orgId: string, creditNoteId: string): Promise<CreditNote | null> {
    const note = await getCreditNote(db, orgId, creditNoteId);
    if (!note || note.stripeSync !== 'pending') return note;
    let invoice = await getInvoice(db, orgId, note.invoiceId);
    if (invoice?.stripeSync === 'pending') invoice = await pushInvoice(orgId, invoice.id);
    if (!invoice || invoice.stripeSync === 'failed' || invoice.stripeSync === 'not_configured' || !invoice.stripeInvoiceId) {
      const why = `its invoice ${note.invoiceId} is not in Stripe (${invoice?.stripeSync ?? 'missing'})`;
      await updateCreditNote(orgId, creditNoteId, (c) => (c.stripeSync === 'pending' ? { stripeSync: 'failed', note: `Not sent to Stripe: ${why}` } : null));
      throw new Error(`Credit note ${creditNoteId} cannot be sent: ${why}`);
    }
    const result = await gateway.createCreditNote({
      creditNoteId: note.id,
      stripeInvoiceId: invoice.stripeInvoiceId,
      amount: note.total.amount,
      reason: note.reason,
      refundIfPaid: true,
    });
    return updateCreditNote(orgId, creditNoteId, (c) =>
      c.stripeSync === 'pending' ? { status: 'issued', stripeSync: 'synced', stripeCreditNoteId: result.stripeCreditNoteId, stripeRefundId: result.refundId } : null,
    );
  }

  /**
   * After a commit: try Stripe now, within the push budget; a failure or a slow Stripe leaves the work
   * to `syncPending()` (the records and their sync markers are already committed). Never throws.
   */
  async function pushAfterCommit(what: Record<string, string>, push: () => Promise<unknown>): Promise<void> {
    const attempt = push().then(
      () => undefined,
      (error: unknown) => logger.warn('Stripe sync left to the scheduled sync', { ...what, error: describeError(error) }),
    );
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, pushBudgetMs);
      timer.unref();
    });
    await Promise.race([attempt, budget]);
    clearTimeout(timer);
  }

  async function syncPending(limit = 100): Promise<{ synced: number; failed: number }> {
    let synced = 0;
    let failed = 0;
    for (const marker of await listSyncMarkers(db, limit)) {
      try {
        if (marker.kind === 'INV') await pushInvoice(marker.orgId, marker.id);
        else await pushCreditNote(marker.orgId, marker.id);
        synced++;
      } catch (error) {
        failed++;
        logger.warn('Stripe sync failed; retried on the next tick', { kind: marker.kind, id: marker.id, error: describeError(error) });
      }
    }
    return { synced, failed };
  }

  return { pushInvoice, pushCreditNote, pushAfterCommit, syncPending };
}
export type StripeSync = ReturnType<typeof createStripeSync>;
