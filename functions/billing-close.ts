/**
 * Lambda entry: on the 1st of each month, invoices the previous month's on-demand usage (and usage of
 * earlier months that arrived after their close). Idempotent: a retried or repeated run finds the
 * invoices it made and creates nothing twice. By hand: POST /v1/billing/close { "period": "YYYY-MM" }.
 * Composes billing only (no HTTP app).
 */
import { perColdStart, withStripeSecret } from '../shared/compose/lambda.ts';
import { createBilling } from '../shared/compose/billing.ts';
import { createFoundation } from '../shared/compose/foundation.ts';

const billing = perColdStart(async (config) => createBilling(createFoundation({ config: await withStripeSecret(config) })));

export const handler = async () => {
  const { period, created, invoices } = await (await billing()).closePreviousPeriod();
  return { period, created, invoices: invoices.length };
};
