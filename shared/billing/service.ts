/**
 * Billing: invoices for confirmed reservations and their extensions, monthly on-demand invoices,
 * credit notes for cancellations, Stripe (through a BillingGateway) and the finance reports.
 *
 * Crash safety: every invoice and credit note is first written here, in the same DynamoDB transaction
 * as the change it bills (confirm, extend, cancel, close), with a sync marker. Stripe comes after the
 * commit; each call's idempotency key derives from our ids, so running it again after any crash
 * creates nothing twice. What did not finish is finished by `syncPending()` (the scheduled tick).
 * See docs/billing.md.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import { poolLabel, type Pool } from '#domain/catalog.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import { eur, formatMoney, mulRound, sumMoney, type Money } from '#domain/money.ts';
import { onDemandCharge } from '#domain/pricing.ts';
import type { Org, Principal } from '#domain/principal.ts';
import type { Refund, Reservation } from '#domain/reservation.ts';
import { DAY_MS, periodOf, periodStart } from '#domain/time.ts';
import { taxTreatmentFor } from '#domain/vat.ts';
import type { Logger } from '#shared/log.ts';
import { createCatalogCache, type CatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites, type EventDraft } from '#store/events.ts';
import {
  allOrgIds,
  creditNoteCreate,
  creditNoteReplace,
  creditNotesOfPeriod,
  findCreditNote,
  findInvoice,
  getCreditNote,
  getCreditNotes,
  getInvoice,
  getInvoices,
  invoiceCreate,
  invoiceForStripeId,
  invoiceReplace,
  invoicesOfPeriod,
  ledgerRows,
  ledgerWrite,
  listInvoices,
  listSyncMarkers,
  openInvoiceRefs,
  orgEventsOfPeriod,
  receivableDelete,
  receivablePut,
  stripeEventClaim,
  stripeEventSeen,
  stripeInvoiceLink,
  syncMarkerDelete,
  syncMarkerPut,
  type InvoiceListQuery,
  type UsageLedgerRow,
} from '#store/invoices.ts';
import { getOrg, setStripeCustomerId } from '#store/orgs.ts';
import { withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import { onDemandUsageByPool } from '#store/usage.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { BillingEffect, ReservationBilling } from '../services/booking.ts';
import { InvalidStripeSignatureError, type BillingGateway, type StripeWebhookEvent } from './gateway.ts';
import { isLocalGateway } from './local-gateway.ts';
import { StripeInvoiceMismatchError } from './stripe-gateway.ts';
import { CSV_COLUMNS, csvRowOfCreditNote, csvRowsOf } from './invoice-csv.ts';
import { STATUS_EVENT, canMoveTo, outstandingOf, withCredit, type CreditNote, type Invoice, type InvoiceStatus } from '#domain/invoice.ts';
import { allocateRefund, creditNoteFor, quotedWindow, reservationInvoice, usageDelta, usageInvoice, usageInvoiceId, type UsageCharge } from './invoice-builders.ts';
import { toApiCreditNote, toApiInvoice } from './invoice-wire.ts';

export interface BillingServiceDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  gateway: BillingGateway;
  logger: Logger;
  /** Pools (rates, labels) for the monthly close; one is built over `db` when not given. */
  catalog?: CatalogCache;
  retry?: RetryPolicy;
  /**
   * How long a request waits after its commit for Stripe before answering and leaving the rest to
   * `syncPending()`. Default 10 s (API Gateway answers in at most 30 s).
   */
  pushBudgetMs?: number;
  /** How many months before the closed one a close looks at for usage that arrived late. Default 3. */
  lookbackMonths?: number;
}

/** Age buckets of receivables, in days since the invoice was finalized. */
export const RECEIVABLE_BUCKETS = [
  { bucket: '0-30', maxDays: 30 },
  { bucket: '31-60', maxDays: 60 },
  { bucket: '61-90', maxDays: 90 },
  { bucket: '>90', maxDays: Number.POSITIVE_INFINITY },
] as const;

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;

/** `period` shifted by `months` (negative: earlier). */
export function shiftPeriod(period: string, months: number): string {
  const start = periodStart(period);
  return periodOf(new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + months, 1)));
}

const describeError = (error: unknown) => (error instanceof Error ? { name: error.name, message: error.message } : { message: String(error) });

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

/** What happened to an invoice: Stripe's ids and links, a status reached, the sync done or failed, a failed payment. */
interface InvoiceUpdate {
  stripe?: { stripeInvoiceId: string; hostedInvoiceUrl: string | null; pdfUrl: string | null; stripeCustomerId: string | null };
  status?: InvoiceStatus | null;
  completeSync?: boolean;
  failSync?: string;
  paymentFailed?: { message: string; attemptCount: number | null };
}

export function createBillingService(deps: BillingServiceDeps) {
  const { db, clock, ids, gateway, logger } = deps;
  const catalog = deps.catalog ?? createCatalogCache(db, clock);
  const stripeConfigured = !isLocalGateway(gateway);
  const pushBudgetMs = deps.pushBudgetMs ?? 10_000;
  const lookbackMonths = deps.lookbackMonths ?? 3;
  const retry = deps.retry;

  async function orgOrFail(orgId: string): Promise<Org> {
    const org = await getOrg(db, orgId);
    if (!org) throw new DomainError('internal', `Org ${orgId} is missing: cannot invoice it`);
    return org;
  }

  // ---- invoice state changes (one transaction: invoice, markers, events) ----

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

  // ---- Stripe pushes ----

  async function stripeCustomerFor(orgId: string): Promise<string> {
    const org = await orgOrFail(orgId);
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
          metadata: { kind: l.kind, ...(l.poolId ? { poolId: l.poolId } : {}), ...(l.usagePeriod ? { usagePeriod: l.usagePeriod } : {}) },
        })),
        taxRateBps: invoice.taxRateBps,
        footer: invoice.legalMention,
        metadata: { orgId, invoiceId: invoice.id, kind: invoice.kind, period: invoice.period, ...(invoice.reservationId ? { reservationId: invoice.reservationId } : {}) },
        description: invoiceDescription(invoice),
      });
    } catch (error) {
      if (error instanceof StripeInvoiceMismatchError) {
        await updateInvoice(orgId, invoiceId, () => ({ failSync: `Stripe's invoice does not match this one: ${error.message}` }));
      }
      throw error;
    }
    const stripe = { stripeInvoiceId: result.stripeInvoiceId, hostedInvoiceUrl: result.hostedInvoiceUrl, pdfUrl: result.pdfUrl, stripeCustomerId: customerId };
    if (result.subtotal !== invoice.subtotal.amount || result.tax !== invoice.tax.amount || result.total !== invoice.total.amount) {
      const detail = `Stripe invoice ${result.stripeInvoiceId} totals ${result.subtotal} + ${result.tax} = ${result.total} cents, ours ${invoice.subtotal.amount} + ${invoice.tax.amount} = ${invoice.total.amount}`;
      logger.error('Stripe invoice does not match ours', { invoiceId, detail });
      await updateInvoice(orgId, invoiceId, () => ({ stripe, failSync: detail }));
      throw new StripeInvoiceMismatchError(detail);
    }
    return updateInvoice(orgId, invoiceId, () => ({ stripe, status: result.status, completeSync: true }));
  }

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

  // ---- what billing adds to bookings ----

  async function bookingInvoice(kind: 'reservation' | 'extension', r: Reservation, window: { start: string; end: string }, lines: Reservation['lines'], price: Money, now: Date): Promise<BillingEffect> {
    const org = await orgOrFail(r.orgId);
    const invoice = reservationInvoice(
      { id: ids.next('inv'), org, kind, period: periodOf(now), now, stripeConfigured },
      { id: r.id, poolId: r.poolId, site: r.site, gpuType: r.gpuType, gpus: r.gpus, window },
      lines,
      price,
    );
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
        items.push(creditNoteCreate(db, note), invoiceReplace(db, invoice, withCredit(invoice, note, now)));
        if (note.stripeSync === 'pending') {
          items.push(syncMarkerPut(db, note.createdAt, { kind: 'CN', orgId: r.orgId, id: note.id }));
          pending.push(note);
        }
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

  // ---- credit notes issued by finance ----

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
    const noteId = input.idempotencyKey
      ? `cn_${createHash('sha256').update(`${invoiceId}\u0000${input.idempotencyKey}`).digest('base64url').slice(0, 26)}`
      : ids.next('cn');
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
      await transact(db, [
        creditNoteCreate(db, created),
        invoiceReplace(db, invoice, withCredit(invoice, created, now)),
        ...(created.stripeSync === 'pending' ? [syncMarkerPut(db, created.createdAt, { kind: 'CN', orgId, id: created.id })] : []),
        ...outbox.items,
      ]);
      return created;
    }, retry);
    if (note.stripeSync === 'pending') await pushAfterCommit({ creditNoteId: note.id }, () => pushCreditNote(orgId, note.id));
    return (await getCreditNote(db, orgId, note.id)) ?? note;
  }

  // ---- monthly close of on-demand usage ----

  function assertClosable(period: string): void {
    if (!PERIOD.test(period)) throw new DomainError('validation_failed', 'period: must be YYYY-MM', { errors: [{ path: 'period', message: 'must be YYYY-MM' }] });
    const current = periodOf(clock());
    if (period >= current) {
      throw new DomainError('unprocessable', `period: ${period} is not over yet; only a past month can be closed (the current month is ${current})`, {
        errors: [{ path: 'period', message: 'must be a past month' }],
      });
    }
  }

  /** What the close of `period` would charge `orgId` (and the ledger writes that record it); reads only. */
  async function usageChargesOf(orgId: string, period: string, invoiceId: string) {
    const [org, pools] = await Promise.all([orgOrFail(orgId), catalog.get()]);
    const first = shiftPeriod(period, -lookbackMonths);
    const ledger = await ledgerRows(db, orgId, first, period);
    const charges: UsageCharge[] = [];
    const writes: TransactItem[] = [];
    for (let offset = lookbackMonths; offset >= 0; offset--) {
      const usagePeriod = shiftPeriod(period, -offset);
      const metered = await onDemandUsageByPool(db, orgId, usagePeriod);
      for (const [poolId, gpuSeconds] of [...metered].sort(([a], [b]) => a.localeCompare(b))) {
        const pool: Pool | undefined = pools.pools.find((p) => p.id === poolId);
        if (!pool) {
          logger.error('usage of a pool missing from the catalog is not invoiced', { orgId, poolId, usagePeriod });
          continue;
        }
        const row = ledger.find((l) => l.usagePeriod === usagePeriod && l.poolId === poolId);
        const rate = row?.ratePerGpuHour ?? pool.onDemandRate.amount;
        const delta = usageDelta(gpuSeconds, row ? { gpuSeconds: row.gpuSeconds, amount: row.amount } : null, rate);
        if (!delta) continue;
        charges.push({
          usagePeriod,
          poolId,
          site: pool.site,
          gpuType: pool.gpuType,
          poolLabel: poolLabel(pool, pools),
          gpuSeconds: delta.gpuSeconds,
          ratePerGpuHour: eur(rate),
          amount: eur(delta.amount),
        });
        const next: UsageLedgerRow = {
          orgId,
          usagePeriod,
          poolId,
          gpuSeconds: delta.totalSeconds,
          amount: delta.totalAmount,
          ratePerGpuHour: rate,
          closes: { ...(row?.closes ?? {}), [period]: { gpuSeconds: delta.gpuSeconds, amount: delta.amount, invoiceId } },
          version: (row?.version ?? 0) + 1,
        };
        writes.push(ledgerWrite(db, next, row?.version ?? 0));
      }
    }
    return { org, charges, writes };
  }

  /** One org's usage invoice for `period`: that month's usage and, for earlier months, usage not invoiced yet. */
  async function closeOrg(orgId: string, period: string): Promise<{ invoice: Invoice | null; created: boolean }> {
    const invoiceId = usageInvoiceId(orgId, period);
    return withOptimisticRetry(async () => {
      const existing = await getInvoice(db, orgId, invoiceId);
      if (existing) return { invoice: existing, created: false };
      const now = clock();
      const { org, charges, writes } = await usageChargesOf(orgId, period, invoiceId);
      if (charges.length === 0) return { invoice: null, created: false };
      const invoice = usageInvoice({ id: invoiceId, org, period, now, stripeConfigured }, charges);
      const outbox = await outboxWrites(db, orgId, [{ type: 'invoice.created', data: toApiInvoice(invoice) }], now, ids);
      await transact(db, [
        invoiceCreate(db, invoice),
        ...writes,
        ...(stripeConfigured ? [syncMarkerPut(db, invoice.createdAt, { kind: 'INV', orgId, id: invoice.id })] : []),
        ...outbox.items,
      ]);
      return { invoice, created: true };
    }, retry);
  }

  /** What closing `period` would invoice, per org (VAT by the org's treatment), without writing anything. */
  async function previewClose(period: string) {
    assertClosable(period);
    const orgs = [];
    for (const orgId of await allOrgIds(db)) {
      const invoiceId = usageInvoiceId(orgId, period);
      const existing = await getInvoice(db, orgId, invoiceId);
      if (existing) {
        orgs.push({ orgId, orgName: existing.customer.name, alreadyInvoiced: true, invoiceId, lines: existing.lines.map((l) => ({ description: l.description, amount: l.amount })), subtotal: existing.subtotal, tax: existing.tax, total: existing.total });
        continue;
      }
      const { org, charges } = await usageChargesOf(orgId, period, invoiceId);
      if (charges.length === 0) continue;
      const draft = usageInvoice({ id: invoiceId, org, period, now: clock(), stripeConfigured }, charges);
      orgs.push({ orgId, orgName: org.name, alreadyInvoiced: false, invoiceId, lines: draft.lines.map((l) => ({ description: l.description, amount: l.amount })), subtotal: draft.subtotal, tax: draft.tax, total: draft.total });
    }
    const open = orgs.filter((o) => !o.alreadyInvoiced);
    return { period, orgs, toInvoice: { count: open.length, subtotal: sumMoney(open.map((o) => o.subtotal)), tax: sumMoney(open.map((o) => o.tax)), total: sumMoney(open.map((o) => o.total)) } };
  }

  async function closePeriod(period: string): Promise<{ period: string; created: number; invoices: Invoice[] }> {
    assertClosable(period);
    const invoices: Invoice[] = [];
    let created = 0;
    for (const orgId of await allOrgIds(db)) {
      const result = await closeOrg(orgId, period);
      if (result.created) created++;
      if (!result.invoice) continue;
      let invoice = result.invoice;
      if (invoice.stripeSync === 'pending') {
        try {
          invoice = (await pushInvoice(orgId, invoice.id)) ?? invoice;
        } catch (error) {
          logger.warn('Stripe sync of a usage invoice left to the scheduled sync', { invoiceId: invoice.id, error: describeError(error) });
          invoice = (await getInvoice(db, orgId, invoice.id)) ?? invoice;
        }
      }
      invoices.push(invoice);
    }
    logger.info('billing period closed', { period, created, invoices: invoices.length });
    return { period, created, invoices };
  }

  // ---- Stripe sync of what is left ----

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

  // ---- Stripe webhooks ----

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
    await transact(db, [creditNoteCreate(db, note), invoiceReplace(db, invoice, withCredit(invoice, note, now)), claim, ...outbox.items]);
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
      event = gateway.parseWebhook(rawBody, signature);
    } catch (error) {
      if (!(error instanceof InvalidStripeSignatureError)) throw error;
      logger.warn('Stripe webhook refused', { reason: error.reason });
      throw new DomainError('validation_failed', 'The Stripe-Signature header does not verify for this body, or it is older than 300 seconds', {
        errors: [{ path: 'stripe-signature', message: 'invalid or expired signature' }],
      });
    }
    return { eventId: event.id, type: event.type, ...(await handleStripeEvent(event)) };
  }

  // ---- reading ----

  /** Customers read their org's invoices (another org's answers 404); finance reads every org's. */
  async function invoiceFor(principal: Principal, invoiceId: string): Promise<{ invoice: Invoice; creditNotes: CreditNote[] }> {
    const invoice =
      principal.role === 'finance' ? await findInvoice(db, invoiceId) : principal.role === 'customer' && principal.orgId ? await getInvoice(db, principal.orgId, invoiceId) : null;
    if (!invoice) throw notFound('Invoice', invoiceId);
    return { invoice, creditNotes: await getCreditNotes(db, invoice.orgId, invoice.creditNoteIds) };
  }

  async function invoicesFor(principal: Principal, q: InvoiceListQuery) {
    if (principal.role === 'customer') {
      if (!principal.orgId) throw new DomainError('forbidden', 'This key belongs to no org');
      if (q.orgId && q.orgId !== principal.orgId) throw notFound('Org', q.orgId);
      return listInvoices(db, { ...q, orgId: principal.orgId });
    }
    if (principal.role !== 'finance') throw new DomainError('forbidden', 'Invoices are for customer and finance keys');
    return listInvoices(db, q);
  }

  /**
   * CSV of the period's invoices, one row per line, then its credit notes as negative rows, streamed a
   * query page at a time. UTF-8 with a byte-order mark so Excel opens it as UTF-8 (docs/billing.md).
   */
  function exportCsv(period: string): ReadableStream<Uint8Array> {
    async function* rows() {
      for await (const page of invoicesOfPeriod(db, period)) {
        for (const invoice of page) yield* csvRowsOf(invoice);
      }
      for await (const page of creditNotesOfPeriod(db, period)) {
        for (const note of page) yield csvRowOfCreditNote(note, await getInvoice(db, note.orgId, note.invoiceId));
      }
    }
    const source = Readable.from(rows());
    const csv = stringify({ bom: true, header: true, columns: [...CSV_COLUMNS] });
    source.on('error', (error) => {
      logger.error('invoice CSV export failed mid-stream', { period, error: describeError(error) });
      csv.destroy(error);
    });
    source.pipe(csv);
    return Readable.toWeb(csv) as ReadableStream<Uint8Array>;
  }

  async function receivables() {
    const now = clock();
    const invoices = (await getInvoices(db, await openInvoiceRefs(db))).filter((i) => i.status === 'open' && outstandingOf(i).amount > 0);
    const rows = invoices
      .map((i) => {
        const ageDays = Math.max(0, Math.floor((now.getTime() - Date.parse(i.finalizedAt ?? i.createdAt)) / DAY_MS));
        const bucket = RECEIVABLE_BUCKETS.find((b) => ageDays <= b.maxDays)!.bucket;
        return {
          invoiceId: i.id,
          orgId: i.orgId,
          customerName: i.customer.name,
          period: i.period,
          total: i.total,
          outstanding: outstandingOf(i),
          finalizedAt: i.finalizedAt,
          ageDays,
          bucket,
          hostedInvoiceUrl: i.hostedInvoiceUrl,
        };
      })
      .sort((a, b) => b.ageDays - a.ageDays);
    return {
      asOf: now.toISOString(),
      total: sumMoney(rows.map((r) => r.outstanding)),
      buckets: RECEIVABLE_BUCKETS.map(({ bucket }) => {
        const inBucket = rows.filter((r) => r.bucket === bucket);
        return { bucket, count: inBucket.length, amount: sumMoney(inBucket.map((r) => r.outstanding)) };
      }),
      invoices: rows,
    };
  }

  async function revenue(period: string) {
    const rows = new Map<string, { site: string | null; gpuType: string | null; invoiced: number; credited: number; gpuSeconds: number }>();
    const row = (site: string | null, gpuType: string | null) => {
      const key = `${site}|${gpuType}`;
      const existing = rows.get(key) ?? { site, gpuType, invoiced: 0, credited: 0, gpuSeconds: 0 };
      rows.set(key, existing);
      return existing;
    };
    for await (const page of invoicesOfPeriod(db, period)) {
      for (const invoice of page.filter((i) => i.status !== 'void')) {
        for (const line of invoice.lines) {
          const r = row(line.site, line.gpuType);
          r.invoiced += line.amount.amount;
          r.gpuSeconds += line.gpuSeconds ?? 0;
        }
      }
    }
    for await (const page of creditNotesOfPeriod(db, period)) {
      for (const note of page) row(note.site, note.gpuType).credited += note.subtotal.amount;
    }
    const out = [...rows.values()]
      .sort((a, b) => `${a.site}|${a.gpuType}`.localeCompare(`${b.site}|${b.gpuType}`))
      .map((r) => ({
        site: r.site,
        gpuType: r.gpuType,
        gpuHours: mulRound(r.gpuSeconds, 100, 3600) / 100,
        invoiced: eur(r.invoiced),
        credited: eur(r.credited),
        net: eur(r.invoiced - r.credited),
      }));
    return {
      period,
      currency: 'EUR' as const,
      rows: out,
      total: { invoiced: sumMoney(out.map((r) => r.invoiced)), credited: sumMoney(out.map((r) => r.credited)), net: sumMoney(out.map((r) => r.net)) },
    };
  }

  /**
   * invoiced (invoices − credit notes of the period, excluding VAT) against what was sold, each term
   * from its own records: priced reservations from the booking events (confirmations, extensions of
   * confirmed bookings), metered usage from the billing ledger recomputed from GPU-seconds and rates,
   * refunds from the cancellation events (the policy's amounts). Balanced when both sides agree to the
   * cent and the credit notes are exactly the policy's refunds.
   */
  async function reconciliation(period: string) {
    const invoices = { count: 0, subtotal: 0, tax: 0, total: 0, voided: 0 };
    for await (const page of invoicesOfPeriod(db, period)) {
      for (const i of page) {
        invoices.count++;
        invoices.subtotal += i.subtotal.amount;
        invoices.tax += i.tax.amount;
        invoices.total += i.total.amount;
        if (i.status === 'void') invoices.voided += i.subtotal.amount;
      }
    }
    const credits = { count: 0, subtotal: 0, tax: 0, total: 0 };
    for await (const page of creditNotesOfPeriod(db, period)) {
      for (const n of page) {
        credits.count++;
        credits.subtotal += n.subtotal.amount;
        credits.tax += n.tax.amount;
        credits.total += n.total.amount;
      }
    }
    let priced = 0;
    let metered = 0;
    let refunds = 0;
    let awaitingNextClose = 0;
    for (const orgId of await allOrgIds(db)) {
      const events = await orgEventsOfPeriod(db, orgId, period, ['reservation.confirmed', 'reservation.extended', 'reservation.cancelled']);
      for (const e of events) {
        const data = e.data as { status?: string; price?: Money | null; confirmedAt?: string | null; refund?: { amount?: Money } | null; extension?: { price?: Money } };
        if (e.type === 'reservation.confirmed') priced += data.price?.amount ?? 0;
        if (e.type === 'reservation.extended' && data.status !== 'held') priced += data.extension?.price?.amount ?? 0;
        if (e.type === 'reservation.cancelled' && data.confirmedAt) refunds += data.refund?.amount?.amount ?? 0;
      }
      const ledger = await ledgerRows(db, orgId, shiftPeriod(period, -lookbackMonths), period);
      for (const row of ledger) metered += meteredByClose(row, period);
      const usage = await onDemandUsageByPool(db, orgId, period);
      for (const [poolId, gpuSeconds] of usage) {
        const row = ledger.find((l) => l.usagePeriod === period && l.poolId === poolId);
        const rate = row?.ratePerGpuHour ?? (await catalog.get()).pools.find((p) => p.id === poolId)?.onDemandRate.amount ?? 0;
        awaitingNextClose += onDemandCharge(gpuSeconds, rate).amount - (row?.amount ?? 0);
      }
    }
    const invoiced = invoices.subtotal - credits.subtotal;
    const expected = priced + metered - refunds;
    const checks = {
      invoicesMatchPricedReservationsAndUsage: invoices.subtotal === priced + metered,
      creditNotesMatchPolicyRefunds: credits.subtotal === refunds,
    };
    return {
      period,
      currency: 'EUR' as const,
      invoices: { count: invoices.count, subtotal: eur(invoices.subtotal), tax: eur(invoices.tax), total: eur(invoices.total), voided: eur(invoices.voided) },
      creditNotes: { count: credits.count, subtotal: eur(credits.subtotal), tax: eur(credits.tax), total: eur(credits.total) },
      invoiced: eur(invoiced),
      pricedReservations: eur(priced),
      meteredUsage: eur(metered),
      refundsByPolicy: eur(refunds),
      expected: eur(expected),
      difference: eur(invoiced - expected),
      checks,
      balanced: invoiced === expected && checks.invoicesMatchPricedReservationsAndUsage && checks.creditNotesMatchPolicyRefunds,
      usageAwaitingNextClose: eur(awaitingNextClose),
    };
  }

  /** The cents the close of `closePeriod` invoiced for a ledger row, recomputed from GPU-seconds: charge(after) − charge(before). */
  function meteredByClose(row: UsageLedgerRow, closePeriod: string): number {
    let seconds = 0;
    for (const close of Object.keys(row.closes).sort()) {
      const before = seconds;
      seconds += row.closes[close]!.gpuSeconds;
      if (close === closePeriod) return onDemandCharge(seconds, row.ratePerGpuHour).amount - onDemandCharge(before, row.ratePerGpuHour).amount;
    }
    return 0;
  }

  return {
    stripeConfigured,
    reservationBilling,
    closePeriod,
    previewClose,
    /** The monthly job: closes the month before the clock's. */
    closePreviousPeriod: () => closePeriod(shiftPeriod(periodOf(clock()), -1)),
    syncPending,
    handleStripeEvent,
    receiveStripeWebhook,
    invoiceFor,
    invoicesFor,
    issueCreditNote,
    exportCsv,
    receivables,
    revenue,
    reconciliation,
    /** Exposed for tests and the ops sync: push one record now. */
    pushInvoice,
    pushCreditNote,
  };
}

export type BillingService = ReturnType<typeof createBillingService>;
