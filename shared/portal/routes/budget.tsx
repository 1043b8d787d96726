/** The Budget page (customers; the form for org admins) and the threshold banner's text. */
import { spendFigures } from '#domain/budget.ts';
import { DomainError } from '#domain/errors.ts';
import { eur } from '#domain/money.ts';
import { periodOf } from '#domain/time.ts';
import type { App, Services } from '#http/context.ts';
import { toApiBudget, type BudgetInput } from '../../services/budgets.ts';
import { parseEuros } from '../format.ts';
import { page, seeOther, signedIn, type FormFields, type PortalContext, type Who } from '../http.tsx';
import { BudgetPage, type BudgetForm } from '../views/budget.tsx';

function parseForm(form: FormFields): { input: BudgetInput | null; errors: Record<string, string>; values: BudgetForm } {
  const values: BudgetForm = { limit: (form.limit ?? '').slice(0, 40), thresholds: (form.thresholds ?? '').slice(0, 100), enforce: form.enforce === 'on', stopOnDemand: form.stopOnDemand === 'on' };
  const errors: Record<string, string> = {};
  const cents = parseEuros(values.limit);
  if (cents === null || cents < 1) errors.limit = 'Monthly limit (EUR): enter a positive amount in euros, e.g. 25000 or 25000.50';
  const parts = values.thresholds.split(/[,;\s]+/).filter(Boolean);
  const pcts = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  if (pcts.some((p) => !Number.isInteger(p) || p < 1 || p > 100)) errors.thresholds = 'Alert thresholds (%): whole percentages from 1 to 100';
  else if (pcts.some((p, i) => i > 0 && p <= pcts[i - 1]!)) errors.thresholds = 'Alert thresholds (%): list them in increasing order, each once';
  if (Object.keys(errors).length > 0) return { input: null, errors, values };
  return { input: { monthlyLimit: eur(cents!), alertThresholdsPct: pcts, enforce: values.enforce, stopOnDemandAtLimit: values.stopOnDemand }, errors, values };
}

async function render(
  c: PortalContext,
  { budgets, clock }: Pick<Services, 'budgets' | 'clock'>,
  who: Who,
  form: BudgetForm | null,
  errors: Record<string, string>,
  saved: string | null,
  status = 200,
) {
  const orgId = who.principal.orgId!;
  const now = clock();
  const period = periodOf(now);
  const s = await budgets.spendOf(orgId);
  const figures = s.budget ? toApiBudget({ ...s, budget: s.budget }, period, now) : null;
  const days = (figures?.byDay ?? spendFigures(s, period, now).byDay.map((d) => ({ date: `${period}-${d.day}`, reserved: eur(d.reserved), onDemand: eur(d.onDemand) }))).map((d) => ({
    date: d.date,
    reserved: d.reserved,
    onDemand: d.onDemand,
  }));
  const values: BudgetForm = form ?? {
    limit: s.budget ? (s.budget.monthlyLimit.amount / 100).toFixed(2) : '',
    thresholds: (s.budget?.alertThresholdsPct ?? [50, 80, 100]).join(', '),
    enforce: s.budget?.enforce ?? true,
    stopOnDemand: s.budget?.stopOnDemandAtLimit ?? false,
  };
  return page(
    c,
    <BudgetPage viewer={who.viewer} admin={who.principal.orgRole === 'admin'} period={period} budget={figures} days={days} form={values} errors={errors} saved={saved} />,
    status,
  );
}

export function registerBudgetPortalRoutes(app: App, services: Services) {
  app.get(
    '/budget',
    signedIn(services, ['customer'], 'The Budget page', async (c, who) => render(c, services, who, null, {}, c.req.query('saved') === '1' ? 'Budget saved.' : c.req.query('removed') === '1' ? 'Budget removed.' : null)),
  );
  app.post(
    '/budget',
    signedIn(services, ['customer'], 'Setting the budget', async (c, who, form) => {
      if (who.principal.orgRole !== 'admin') throw new DomainError('forbidden', 'Only org admins set the budget');
      const parsed = parseForm(form);
      if (!parsed.input) return render(c, services, who, parsed.values, parsed.errors, null, 400);
      await services.budgets.put(who.principal, parsed.input);
      return seeOther(c, '/budget?saved=1');
    }),
  );
  app.post(
    '/budget/remove',
    signedIn(services, ['customer'], 'Removing the budget', async (c, who) => {
      await services.budgets.remove(who.principal);
      return seeOther(c, '/budget?removed=1');
    }),
  );
}
