/**
 * Lambda entry, every minute: due timed transitions (hold expiry, start, ending soon, completion),
 * resale listings whose window started,
 * budget alerts and on-demand stops at a budget's limit, due webhook retries and unfinished Stripe
 * syncs. Composes booking, budgets, billing and webhook delivery as
 * the whole system does, without the HTTP app.
 */
import { perColdStart, withStripeSecret } from '../shared/compose/lambda.ts';
import { createBilling } from '../shared/compose/billing.ts';
import { createFoundation } from '../shared/compose/foundation.ts';
import { runScheduledTick } from '../shared/compose/scheduled-tick.ts';
import { createServices } from '../shared/compose/services.ts';
import { webhooksOf } from '../shared/compose/webhooks.ts';
import { createCatalogCache } from '../shared/store/catalog.ts';

const tick = perColdStart(async (config) => {
  const foundation = createFoundation({ config: await withStripeSecret(config) });
  const catalog = createCatalogCache(foundation.db, foundation.clock, 30_000);
  const billing = createBilling(foundation, { catalog });
  const { booking, budgets, resale } = createServices(foundation, { catalog, billing });
  const jobs = { db: foundation.db, clock: foundation.clock, booking, budgets, webhooks: webhooksOf(foundation), billing, resale };
  return () => runScheduledTick(jobs);
});

export const handler = async () => (await tick())();
