/**
 * Lambda entry: on the 1st of each month, invoices the previous month's on-demand usage (and usage of
 * earlier months that arrived after their close). Idempotent: a retried or repeated run finds the
 * invoices it made and creates nothing twice. By hand: POST /v1/billing/close { "period": "YYYY-MM" }.
 */
import { parseConfig } from '../shared/config.ts';
import { createLambdaRuntime } from '../shared/lambda.ts';

const system = createLambdaRuntime(parseConfig(process.env));

export const handler = async () => {
  const { period, created, invoices } = await system.billing.closePreviousPeriod();
  return { period, created, invoices: invoices.length };
};
