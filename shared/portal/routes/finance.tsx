/** Finance pages over the billing service: monthly close (preview, then close), reconciliation, revenue, receivables by age. */
import type { BillingService } from '#billing/service.ts';
import { DomainError } from '#domain/errors.ts';
import { periodOf, shiftPeriod } from '#domain/time.ts';
import type { App, Services } from '#http/context.ts';
import { getOrg } from '#store/orgs.ts';
import type { Clock } from '#shared/ids.ts';
import { formBodyLimit, page, signedIn } from '../http.tsx';
import { ClosePage, ReconciliationPage, ReceivablesByAgePage, RevenuePage } from '../views/finance.tsx';

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;
const finance = ['finance'] as const;

/** The period asked for, or last month; an unreadable one is named as an error. */
function periodFrom(clock: Clock, raw: string | undefined): { period: string; error?: string } {
  const fallback = shiftPeriod(periodOf(clock()), -1);
  const text = (raw ?? '').trim().slice(0, 20);
  if (!text) return { period: fallback };
  if (PERIOD.test(text)) return { period: text };
  return { period: fallback, error: `"${text}" is not a month like ${fallback} (YYYY-MM)` };
}

const explain = (error: unknown): { message: string; field?: string } => {
  if (!(error instanceof DomainError)) throw error;
  return { message: error.message.replace(/^period: /, ''), ...(error.errors?.some((e) => e.path === 'period') ? { field: error.errors.find((e) => e.path === 'period')!.message } : {}) };
};

export function registerFinanceRoutes(app: App, services: Services, billing: BillingService | null) {
  if (!billing) return;

  app.get(
    '/billing/close',
    signedIn(services, [...finance], 'The monthly close', async (c, who) => {
      const asked = c.req.query('period');
      const { period, error } = periodFrom(services.clock, asked);
      if (error) return page(c, <ClosePage viewer={who.viewer} period={period} alerts={[`Period: ${error}`]} periodError={error} preview={null} closed={null} />, 400);
      if (!asked) return page(c, <ClosePage viewer={who.viewer} period={period} alerts={[]} preview={null} closed={null} />);
      try {
        return page(c, <ClosePage viewer={who.viewer} period={period} alerts={[]} preview={await billing.previewClose(period)} closed={null} />);
      } catch (e) {
        const { message, field } = explain(e);
        return page(c, <ClosePage viewer={who.viewer} period={period} alerts={[`Period: ${message}`]} periodError={field} preview={null} closed={null} />, 422);
      }
    }),
  );

  app.post(
    '/billing/close',
    formBodyLimit,
    signedIn(services, [...finance], 'The monthly close', async (c, who, form) => {
      const { period, error } = periodFrom(services.clock, form.period ?? 'missing');
      if (error) return page(c, <ClosePage viewer={who.viewer} period={period} alerts={[`Period: ${error}`]} periodError={error} preview={null} closed={null} />, 400);
      try {
        const result = await billing.closePeriod(period);
        const { db } = services;
        const invoices = await Promise.all(result.invoices.map(async (i) => ({ id: i.id, orgName: (await getOrg(db, i.orgId))?.name ?? i.customer.name, total: i.total })));
        return page(c, <ClosePage viewer={who.viewer} period={period} alerts={[]} preview={null} closed={{ created: result.created, invoices }} />);
      } catch (e) {
        const { message, field } = explain(e);
        return page(c, <ClosePage viewer={who.viewer} period={period} alerts={[`Period: ${message}`]} periodError={field} preview={null} closed={null} />, 422);
      }
    }),
  );

  app.get(
    '/billing/reconciliation',
    signedIn(services, [...finance], 'Reconciliation', async (c, who) => {
      const { period, error } = periodFrom(services.clock, c.req.query('period'));
      if (error) return page(c, <ReconciliationPage viewer={who.viewer} period={period} alerts={[`Period: ${error}`]} periodError={error} r={null} />, 400);
      return page(c, <ReconciliationPage viewer={who.viewer} period={period} alerts={[]} r={await billing.reconciliation(period)} />);
    }),
  );

  app.get(
    '/billing/revenue',
    signedIn(services, [...finance], 'Revenue', async (c, who) => {
      const { period, error } = periodFrom(services.clock, c.req.query('period'));
      const catalog = await services.catalog.get();
      const names = (site: string | null, gpuType: string | null) =>
        site || gpuType
          ? `${catalog.gpuTypes.find((g) => g.id === gpuType)?.name ?? gpuType ?? 'any GPU'} at ${catalog.sites.find((s) => s.id === site)?.name ?? site ?? 'any site'}`
          : 'Other (discounts and adjustments)';
      if (error) return page(c, <RevenuePage viewer={who.viewer} period={period} alerts={[`Period: ${error}`]} periodError={error} revenue={null} names={names} />, 400);
      return page(c, <RevenuePage viewer={who.viewer} period={period} alerts={[]} revenue={await billing.revenue(period)} names={names} />);
    }),
  );

  app.get(
    '/receivables',
    signedIn(services, [...finance], 'The Receivables page', async (c, who) => page(c, <ReceivablesByAgePage viewer={who.viewer} r={await billing.receivables()} />)),
  );
}
