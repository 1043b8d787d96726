/**
 * Find capacity (docs/offers.md): the offer search of `GET /v1/offers` as a page, with a heat map of
 * free GPUs per pool and day (availability service, navigable over the next 12 months) and the
 * offers as cards showing the VAT the signed-in org pays (shared/domain/vat.ts). "Get quote" on a
 * card posts the offer's window to the Book page's quote action.
 */
import { DomainError } from '#domain/errors.ts';
import { DAY_MS, floorToDay } from '#domain/time.ts';
import type { App, Services } from '#http/context.ts';
import { parseUtcInput } from '../booking-form.ts';
import { formatDay, formatUtc } from '../format.ts';
import { page, signedIn, type PortalContext } from '../http.tsx';
import { NO_TAX, orgTaxOf, taxed } from '../vat.ts';
import { FindPage, type FindValues, type HeatMap, type OfferCard } from '../views/find.tsx';

export const HEAT_DAYS = 28;
const HEAT_MONTHS_AHEAD_DAYS = 366;

const LABELS: Record<string, string> = {
  gpuType: 'GPU type',
  gpus: 'GPUs',
  durationHours: 'Duration (hours)',
  minDurationHours: 'Shortest (hours)',
  maxDurationHours: 'Longest (hours)',
  earliestStart: 'Earliest start (UTC)',
  latestEnd: 'Latest end (UTC)',
  site: 'Sites',
};

const numberOrUndefined = (text: string): number | undefined => (text.trim() === '' ? undefined : /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN);

async function heatMap(c: PortalContext, { availability, catalog: cache }: Pick<Services, 'availability' | 'catalog'>, values: FindValues, now: Date): Promise<HeatMap | null> {
  const catalog = await cache.get();
  if (!catalog.gpuTypes.some((g) => g.id === values.gpuType)) return null;
  const today = floorToDay(now);
  const last = new Date(today.getTime() + (HEAT_MONTHS_AHEAD_DAYS - HEAT_DAYS) * DAY_MS);
  const asked = /^\d{4}-\d{2}-\d{2}$/.test(c.req.query('heat') ?? '') ? new Date(`${c.req.query('heat')}T00:00:00Z`) : values.earliestStart ? parseUtcInput(values.earliestStart) : null;
  let from = asked && !Number.isNaN(asked.getTime()) ? floorToDay(asked) : today;
  if (from < today) from = today;
  if (from > last) from = last;
  const end = new Date(from.getTime() + HEAT_DAYS * DAY_MS);
  const result = await availability.query({ gpuType: values.gpuType, start: from, end, granularity: 'day' });
  const rows = result.pools
    .filter((p) => values.sites.length === 0 || values.sites.includes(p.site))
    .map((p) => {
      const pool = catalog.pools.find((x) => x.id === p.poolId);
      const opens = pool ? Date.parse(pool.bookableFrom) : 0;
      return {
        poolId: p.poolId,
        siteName: catalog.sites.find((s) => s.id === p.site)?.name ?? p.site,
        capacity: p.capacity,
        opensAt: pool?.bookableFrom ?? null,
        days: p.slots.map((s) => (Date.parse(s.end) <= opens ? null : s.available)),
      };
    });
  const step = HEAT_DAYS * DAY_MS;
  return {
    from: from.toISOString(),
    days: HEAT_DAYS,
    rows,
    earlier: from > today ? formatDay(new Date(Math.max(today.getTime(), from.getTime() - step))) : null,
    later: from < last ? formatDay(new Date(Math.min(last.getTime(), from.getTime() + step))) : null,
  };
}

export function registerFindRoutes(app: App, services: Services) {
  app.get(
    '/find',
    signedIn(services, ['customer'], 'The Find capacity page', async (c, who) => {
      const catalog = await services.catalog.get();
      const now = services.clock();
      const q = (name: string) => (c.req.query(name) ?? '').slice(0, 100);
      const searched = c.req.query('gpus') !== undefined;
      const values: FindValues = {
        gpuType: q('gpuType') || catalog.gpuTypes[0]?.id || '',
        gpus: searched ? q('gpus') : '8',
        durationHours: searched ? q('durationHours') : '24',
        minDurationHours: q('minDurationHours'),
        maxDurationHours: q('maxDurationHours'),
        earliestStart: q('earliestStart'),
        latestEnd: q('latestEnd'),
        sites: (c.req.queries('site') ?? []).flatMap((s) => s.split(',')).filter((s) => s).slice(0, 20),
      };
      const alerts: string[] = [];
      let offers: OfferCard[] = [];
      let nearest: { mostGpus: string | null; earliestFit: string | null } | null = null;
      let status = 200;
      if (searched) {
        const earliestStart = values.earliestStart ? parseUtcInput(values.earliestStart) : undefined;
        const latestEnd = values.latestEnd ? parseUtcInput(values.latestEnd) : undefined;
        if (earliestStart === null) alerts.push(`${LABELS.earliestStart}: enter a UTC date and time like 2026-12-01T08:00`);
        if (latestEnd === null) alerts.push(`${LABELS.latestEnd}: enter a UTC date and time like 2026-12-01T08:00`);
        if (alerts.length === 0) {
          try {
            const result = await services.offers.search({
              gpuType: values.gpuType,
              gpus: numberOrUndefined(values.gpus) ?? Number.NaN,
              durationHours: numberOrUndefined(values.durationHours),
              minDurationHours: numberOrUndefined(values.minDurationHours),
              maxDurationHours: numberOrUndefined(values.maxDurationHours),
              earliestStart: earliestStart ?? undefined,
              latestEnd: latestEnd ?? undefined,
              sites: values.sites,
            });
            const tax = (await orgTaxOf(services.db, who.principal.orgId!)) ?? NO_TAX;
            offers = result.data.map((o) => ({ ...o, siteName: catalog.sites.find((s) => s.id === o.site)?.name ?? o.site, vat: taxed(tax, o.lines.map((l) => l.amount)) }));
            if (result.nearest) {
              const { mostGpus, earliestFit } = result.nearest;
              nearest = {
                mostGpus: mostGpus ? `At most ${mostGpus.gpus} GPUs are free for that long: ${mostGpus.poolId}, ${formatUtc(mostGpus.start)} → ${formatUtc(mostGpus.end)}.` : null,
                earliestFit: earliestFit ? `The earliest window that fits ends after your latest end: ${earliestFit.poolId}, ${formatUtc(earliestFit.start)} → ${formatUtc(earliestFit.end)}.` : null,
              };
            }
          } catch (error) {
            if (!(error instanceof DomainError)) throw error;
            status = error.status;
            alerts.push(...(error.errors?.length ? error.errors.map((e) => `${LABELS[e.path] ?? e.path}: ${e.message}`) : [error.message]));
          }
        } else {
          status = 400;
        }
      }
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(values)) if (k !== 'sites' && typeof v === 'string' && v) query.set(k, v);
      for (const s of values.sites) query.append('site', s);
      return page(
        c,
        <FindPage
          viewer={who.viewer}
          catalog={catalog}
          values={values}
          alerts={alerts}
          searched={searched}
          offers={offers}
          nearest={nearest}
          heat={await heatMap(c, services, values, now)}
          query={query.toString()}
        />,
        status,
      );
    }),
  );
}
