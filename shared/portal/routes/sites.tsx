/** The Sites page (pools, rates, the next days' availability, a month's heat map) and one pool's day by the hour. */
import { DomainError, notFound } from '#domain/errors.ts';
import { DAY_MS, floorToDay, periodOf } from '#domain/time.ts';
import type { App, Services } from '#http/context.ts';
import { page, signedIn } from '../http.tsx';
import { DayPage } from '../views/heatmap.tsx';
import { SitesPage } from '../views/sites.tsx';

export const AVAILABILITY_DAYS = 30;

const customer = ['customer'] as const;

export function registerSitesRoutes(app: App, services: Services) {
  app.get(
    '/sites',
    signedIn(services, [...customer], 'The Sites page', async (c, who) => {
      const now = services.clock();
      const first = periodOf(now);
      const last = shiftMonth(first, 12);
      const asked = (c.req.query('month') ?? '').trim().slice(0, 7);
      const month = /^\d{4}-(0[1-9]|1[0-2])$/.test(asked) && asked >= first && asked <= last ? asked : first;
      const monthStart = new Date(`${month}-01T00:00:00Z`);
      const from = month === first ? floorToDay(now) : monthStart;
      const to = new Date(`${shiftMonth(month, 1)}-01T00:00:00Z`);
      const result = await services.availability.query({ start: from, end: to, granularity: 'day' });
      const catalog = await services.catalog.get();
      const days: string[] = [];
      for (let d = monthStart.getTime(); d < to.getTime(); d += DAY_MS) days.push(new Date(d).toISOString().slice(0, 10));
      const rows = catalog.pools.map((pool) => ({ pool, slots: result.pools.find((a) => a.poolId === pool.id)?.slots ?? [] }));
      const summary = await services.availability.query({ start: floorToDay(now), end: new Date(floorToDay(now).getTime() + AVAILABILITY_DAYS * DAY_MS), granularity: 'day' });
      return page(
        c,
        <SitesPage
          viewer={who.viewer}
          catalog={catalog}
          availability={summary.pools}
          from={floorToDay(now).toISOString()}
          days={AVAILABILITY_DAYS}
          heat={{ month, rows, days, now, prev: month > first ? shiftMonth(month, -1) : null, next: month < last ? shiftMonth(month, 1) : null }}
        />,
      );
    }),
  );

  app.get(
    '/sites/day',
    signedIn(services, [...customer], 'The Sites page', async (c, who) => {
      const catalog = await services.catalog.get();
      const poolId = (c.req.query('pool') ?? '').slice(0, 100);
      const date = (c.req.query('date') ?? '').slice(0, 10);
      const pool = catalog.pools.find((p) => p.id === poolId);
      if (!pool) throw notFound('Pool', poolId);
      const start = /^\d{4}-\d{2}-\d{2}$/.test(date) ? new Date(`${date}T00:00:00Z`) : null;
      if (!start || Number.isNaN(start.getTime())) {
        throw new DomainError('validation_failed', `date: "${date}" is not a day like 2026-12-01`, { errors: [{ path: 'date', message: 'must be a day like 2026-12-01' }] });
      }
      const result = await services.availability.query({ site: pool.site, gpuType: pool.gpuType, start, end: new Date(start.getTime() + DAY_MS), granularity: 'hour' });
      return page(c, <DayPage viewer={who.viewer} catalog={catalog} pool={pool} date={date} slots={result.pools[0]?.slots ?? []} now={services.clock()} />);
    }),
  );
}

/** `2026-11` shifted by `months`. */
function shiftMonth(month: string, months: number): string {
  const d = new Date(`${month}-01T00:00:00Z`);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1)).toISOString().slice(0, 7);
}
