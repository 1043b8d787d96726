/** The scheduled jobs as a part (see foundation.ts): what the sweeper Lambda runs every minute and `npm start` every few seconds. */
import type { BillingService } from '#billing/service.ts';
import type { Db } from '#store/db.ts';
import type { BookingService } from '../services/booking.ts';
import type { BudgetService } from '../services/budgets.ts';
import type { ResaleService } from '../services/resale.ts';
import { sweepDueReservations } from '../services/sweeper.ts';
import { releaseUnpaidCapacity } from '../services/unpaid-release.ts';
import type { Clock } from '../ids.ts';
import type { Webhooks } from './webhooks.ts';

export interface ScheduledJobs {
  db: Db;
  clock: Clock;
  /** The booking service of shared/compose/services.ts, the same one the API runs. */
  booking: BookingService;
  budgets: Pick<BudgetService, 'sweep'>;
  webhooks: Pick<Webhooks, 'retryDueDeliveries'>;
  billing: Pick<BillingService, 'syncPending' | 'payPendingResaleEarnings'>;
  /** Resale: ends open listings whose window started. */
  resale: Pick<ResaleService, 'endStarted'>;
}

/**
 * One pass of every job that runs "every minute" in AWS: due transitions, listings whose window started, budget alerts and on-demand
 * stops at the limit, due webhook retries, sellers' resale earnings credited, capacity of bookings unpaid past due, unfinished Stripe syncs.
 */
export async function runScheduledTick({ db, clock, booking, budgets, webhooks, billing, resale }: ScheduledJobs) {
  const reservations = await sweepDueReservations({ db, clock, booking });
  const listingsEnded = await resale.endStarted();
  const spend = await budgets.sweep((orgId, id) => booking.stopAtBudgetLimit(orgId, id));
  const webhookRetries = await webhooks.retryDueDeliveries(clock());
  const resalePayouts = await billing.payPendingResaleEarnings();
  const unpaidReleased = await releaseUnpaidCapacity({ db, clock, booking });
  return { reservations, listingsEnded, budgets: spend, webhookRetries, resalePayouts, unpaidReleased, billing: await billing.syncPending() };
}
