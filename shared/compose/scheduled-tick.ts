/** The scheduled jobs as a part (see foundation.ts): what the sweeper Lambda runs every minute and `npm start` every few seconds. */
import type { BillingService } from '#billing/service.ts';
import type { Db } from '#store/db.ts';
import { createBookingService, type BookingService, type ReservationBilling } from '../services/booking.ts';
import { sweepDueReservations } from '../services/sweeper.ts';
import { createCatalogCache } from '#store/catalog.ts';
import type { Clock } from '../ids.ts';
import type { Foundation } from './foundation.ts';
import type { WebhookDelivery } from './webhook-delivery.ts';

/** The booking service with the defaults `createRuntime` gives the API's (30 s catalog cache, default retry policy). */
export function createBooking(foundation: Foundation, billing?: ReservationBilling): BookingService {
  const { db, clock, ids } = foundation;
  return createBookingService({ db, clock, ids, catalog: createCatalogCache(db, clock, 30_000), billing });
}

export interface ScheduledJobs {
  db: Db;
  clock: Clock;
  booking: BookingService;
  webhooks: Pick<WebhookDelivery, 'retryDueDeliveries'>;
  billing: Pick<BillingService, 'syncPending'>;
}

/** One pass of every job that runs "every minute" in AWS: due transitions, due webhook retries, unfinished Stripe syncs. */
export async function runScheduledTick({ db, clock, booking, webhooks, billing }: ScheduledJobs) {
  const reservations = await sweepDueReservations({ db, clock, booking });
  const webhookRetries = await webhooks.retryDueDeliveries(clock());
  return { reservations, webhookRetries, billing: await billing.syncPending() };
}
