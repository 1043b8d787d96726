/** The budget banner every customer page shows once a threshold of this month was reached. */
import { spendFigures, type SpendState } from '#domain/budget.ts';
import { eur, formatMoney } from '#domain/money.ts';
import { periodOf } from '#domain/time.ts';

/** The banner's text when a threshold of this month was reached (null otherwise). */
export function budgetBanner(s: SpendState, now: Date): string | null {
  const period = periodOf(now);
  const reached = s.periods[period]?.thresholdsReached ?? [];
  if (!s.budget || reached.length === 0) return null;
  const spent = spendFigures(s, period, now).spent;
  return `Budget alert: ${reached.at(-1)} % of this month’s ${formatMoney(s.budget.monthlyLimit)} budget reached (${formatMoney(eur(spent))} spent).`;
}
