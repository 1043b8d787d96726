/**
 * Billing: invoices for confirmed reservations and their extensions, monthly on-demand invoices,
 * credit notes for cancellations, Stripe (through a BillingGateway) and the finance reports.
 *
 * Crash safety: every invoice and credit note is first written here, in the same DynamoDB transaction
 * as the change it bills (confirm, extend, cancel, close), with a sync marker. Stripe comes after the
 * commit; each call's idempotency key derives from our ids, so running it again after any crash
 * creates nothing twice. What did not finish is finished by `syncPending()` (the scheduled tick).
 * See docs/billing.md.
 *
 * Assembled from parts that change for different reasons:
 *   context.ts        what the parts share (clients, gateway, settings)
 *   ledger.ts         invoice and credit-note state changes (one transaction each, with their events)
 *   stripe-sync.ts    pushing to Stripe after a commit, and `syncPending()` for what did not finish
 *   booking-hooks.ts  what billing adds to a confirm, extend or cancel (ReservationBilling)
 *   credit-notes.ts   credit notes finance issues
 *   monthly-close.ts  the monthly close of on-demand usage (preview and run)
 *   stripe-webhooks.ts Stripe's webhooks, each event handled once
 *   reports.ts        reads, the CSV export, receivables, revenue, reconciliation
 *   resale-payouts.ts sellers' resale earnings credited on their invoices
 */
import type { Logger } from '#shared/log.ts';
import { createCatalogCache, type CatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import type { RetryPolicy } from '#store/retry.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import { createReservationBilling } from './booking-hooks.ts';
import type { BillingContext } from './context.ts';
import { createCreditNotes } from './credit-notes.ts';
import type { BillingGateway } from './gateway.ts';
import { createLedger } from './ledger.ts';
import { isLocalGateway } from './local-gateway.ts';
import { createMonthlyClose } from './monthly-close.ts';
import { createReports } from './reports.ts';
import { createResalePayouts } from './resale-payouts.ts';
import { createStripeSync } from './stripe-sync.ts';
import { createStripeWebhooks } from './stripe-webhooks.ts';

export { RECEIVABLE_BUCKETS } from './reports.ts';

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

export function createBillingService(deps: BillingServiceDeps) {
  const ctx: BillingContext = {
    db: deps.db,
    clock: deps.clock,
    ids: deps.ids,
    gateway: deps.gateway,
    logger: deps.logger,
    catalog: deps.catalog ?? createCatalogCache(deps.db, deps.clock),
    stripeConfigured: !isLocalGateway(deps.gateway),
    pushBudgetMs: deps.pushBudgetMs ?? 10_000,
    lookbackMonths: deps.lookbackMonths ?? 3,
    retry: deps.retry,
  };
  const ledger = createLedger(ctx);
  const sync = createStripeSync(ctx, ledger);
  const close = createMonthlyClose(ctx, sync);
  const webhooks = createStripeWebhooks(ctx, ledger);
  const reports = createReports(ctx);
  return {
    stripeConfigured: ctx.stripeConfigured,
    reservationBilling: createReservationBilling(ctx, sync),
    closePeriod: close.closePeriod,
    previewClose: close.previewClose,
    closePreviousPeriod: close.closePreviousPeriod,
    syncPending: sync.syncPending,
    payPendingResaleEarnings: createResalePayouts(ctx, sync).payPendingResaleEarnings,
    handleStripeEvent: webhooks.handleStripeEvent,
    receiveStripeWebhook: webhooks.receiveStripeWebhook,
    invoiceFor: reports.invoiceFor,
    invoicesFor: reports.invoicesFor,
    issueCreditNote: createCreditNotes(ctx, sync).issueCreditNote,
    exportCsv: reports.exportCsv,
    receivables: reports.receivables,
    revenue: reports.revenue,
    reconciliation: reports.reconciliation,
    /** Exposed for tests and the ops sync: push one record now. */
    pushInvoice: sync.pushInvoice,
    pushCreditNote: sync.pushCreditNote,
  };
}

export type BillingService = ReturnType<typeof createBillingService>;
