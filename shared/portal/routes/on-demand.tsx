/** Start on demand: the form (pool, GPUs) with the rates, and starting it (registered by registerReservationPages). */
import { DomainError } from '#domain/errors.ts';
import type { App, Services } from '#http/context.ts';
import { formBodyLimit, page, seeOther, signedIn } from '../http.tsx';
import { taxedFor } from '../vat.ts';
import { OnDemandPage } from '../views/on-demand.tsx';

const customer = ['customer'] as const;

export function registerOnDemandRoutes(app: App, services: Services) {
  app.get(
    '/on-demand',
    signedIn(services, [...customer], 'Starting on demand', async (c, who) => {
      const { catalog, clock, db } = services;
      const pool = (c.req.query('pool') ?? '').slice(0, 100);
      return page(c, <OnDemandPage viewer={who.viewer} catalog={await catalog.get()} now={clock()} values={{ pool, gpus: '8' }} errors={{}} alerts={[]} rateBps={(await taxedFor(db, who.principal.orgId!, [])).rateBps} />);
    }),
  );

  app.post(
    '/on-demand',
    formBodyLimit,
    signedIn(services, [...customer], 'Starting on demand', async (c, who, form) => {
      const { catalog: cache, clock, booking, db } = services;
      const catalog = await cache.get();
      const values = { pool: (form.pool ?? '').slice(0, 100), gpus: (form.gpus ?? '').slice(0, 10) };
      const errors: Partial<Record<'pool' | 'gpus', string>> = {};
      const pool = catalog.pools.find((p) => p.id === values.pool);
      if (!pool) errors.pool = 'choose a pool';
      const gpus = /^\d{1,6}$/.test(values.gpus.trim()) ? Number(values.gpus.trim()) : NaN;
      if (!Number.isInteger(gpus) || gpus <= 0) errors.gpus = 'enter a whole number of GPUs, e.g. 8';
      else if (pool && (gpus < pool.minGpus || gpus % pool.stepGpus !== 0)) errors.gpus = `whole nodes: a multiple of ${pool.stepGpus}, at least ${pool.minGpus}`;
      const rateBps = (await taxedFor(db, who.principal.orgId!, [])).rateBps;
      const again = (alerts: string[], errs: typeof errors, status: number) =>
        page(c, <OnDemandPage viewer={who.viewer} catalog={catalog} now={clock()} values={values} errors={errs} alerts={alerts} rateBps={rateBps} />, status);
      if (!pool || errors.gpus) return again(Object.entries(errors).map(([f, m]) => `${f === 'pool' ? 'Pool' : 'GPUs'}: ${m}`), errors, 400);
      try {
        const r = await booking.startOnDemand(who.principal, { site: pool.site, gpuType: pool.gpuType, gpus });
        return seeOther(c, `/reservations/${encodeURIComponent(r.id)}?done=started`);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        const fieldErrors: typeof errors = {};
        for (const e of error.errors ?? []) fieldErrors[e.path === 'gpus' ? 'gpus' : 'pool'] ??= e.message;
        if (error.code === 'capacity_unavailable') fieldErrors.gpus ??= error.message;
        return again([error.message], fieldErrors, error.status);
      }
    }),
  );
}
