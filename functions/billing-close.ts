/**
 * Lambda entry: on the 1st of each month, invoices the previous month's on-demand usage (and usage of
 * earlier months that arrived after their close). Idempotent: a retried or repeated run finds the
 * invoices it made and creates nothing twice. By hand: POST /v1/billing/close { "period": "YYYY-MM" }.
 */
import { lambdaSystem } from '../shared/lambda.ts';

const system = lambdaSystem();

export const handler = async () => {
  const { period, created, invoices } = await (await system()).billing.closePreviousPeriod();
  return { period, created, invoices: invoices.length };
};
