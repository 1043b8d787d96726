/** The scheduled jobs as a part (see foundation.ts): what the sweeper Lambda runs every minute and `npm start` every few seconds. */
import type { BillingService } from '#billing/service.ts';
import type { Db } from '#store/db.ts';
import { createBookingService, type BookingService, type ReservationBilling } from '../services/booking.ts';
import { createBudgetService, type BudgetService } from '../services/budgets.ts';
import { sweepDueReservations } from '../services/sweeper.ts';
import { createCatalogCache } from '#store/catalog.ts';
import type { Clock } from '../ids.ts';
import type { Foundation } from './foundation.ts';
import type { WebhookDelivery } from './webhook-delivery.ts';

/**
 * The booking service with the defaults `createRuntime` gives the API's (30 s catalog cache, default
 * retry policy, spend controls' hook), and the budget service it records spend through.
 */
export function createBooking(foundation: Foundation, billing?: ReservationBilling): { booking: BookingService; budgets: BudgetService } {
  const { db, clock, ids } = foundation;
  const budgets = createBudgetService({ db, clock, ids });
  return { booking: createBookingService({ db, clock, ids, catalog: createCatalogCache(db, clock, 30_000), billing, spend: budgets.reservationSpend }), budgets };
}

export interface ScheduledJobs {
  db: Db;
  clock: Clock;
  booking: BookingService;
  budgets: Pick<BudgetService, 'sweep'>;
  webhooks: Pick<WebhookDelivery, 'retryDueDeliveries'>;
  billing: Pick<BillingService, 'syncPending'>;
}

/**
 * One pass of every job that runs "every minute" in AWS: due transitions, budget alerts and on-demand
 * stops at the limit, due webhook retries, unfinished Stripe syncs.
 */
export async function runScheduledTick({ db, clock, booking, budgets, webhooks, billing }: ScheduledJobs) {
  const reservations = await sweepDueReservations({ db, clock, booking });
  const spend = await budgets.sweep((orgId, id) => booking.stopAtBudgetLimit(orgId, id));
  const webhookRetries = await webhooks.retryDueDeliveries(clock());
  return { reservations, budgets: spend, webhookRetries, billing: await billing.syncPending() };
}
