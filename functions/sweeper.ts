/**
 * Lambda entry, every minute: due timed transitions (hold expiry, start, ending soon, completion),
 * budget alerts and on-demand stops at a budget's limit, due webhook retries and unfinished Stripe syncs. Composes booking, billing and webhook delivery as
 * the whole system does, without the HTTP app.
 */
import { perColdStart, withStripeSecret } from '../shared/lambda.ts';
import { createBilling } from '../shared/compose/billing.ts';
import { createFoundation } from '../shared/compose/foundation.ts';
import { createBooking, runScheduledTick } from '../shared/compose/scheduled-tick.ts';
import { createWebhookDelivery } from '../shared/compose/webhook-delivery.ts';

const tick = perColdStart(async (config) => {
  const foundation = createFoundation({ config: await withStripeSecret(config) });
  const billing = createBilling(foundation);
  const { booking, budgets } = createBooking(foundation, billing.reservationBilling);
  const jobs = {
    db: foundation.db,
    clock: foundation.clock,
    booking,
    budgets,
    webhooks: createWebhookDelivery(foundation),
    billing,
  };
  return () => runScheduledTick(jobs);
});

export const handler = async () => (await tick())();
