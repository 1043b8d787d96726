/** Operator pages: the fleet and the audit log. */
import { toPublicPool } from '#domain/catalog.ts';
import type { App, Services } from '#http/context.ts';
import { listScope } from '#http/cursor.ts';
import { listAudit } from '#store/audit.ts';
import { DomainError } from '#domain/errors.ts';
import { page, seeOther, signedIn } from '../http.tsx';
import { AuditPage, FleetPage } from '../views/fleet.tsx';

export function registerFleetRoutes(app: App, services: Services) {
  app.get(
    '/fleet',
    signedIn(services, ['operator'], 'The fleet page', async (c, who) => {
      const catalog = await services.catalog.get();
      const { operator } = services;
      const now = services.clock().toISOString();
      const pools = await Promise.all(
        catalog.pools.map(async (p) => ({ ...toPublicPool(p, services.clock()), capacityChanges: p.capacityChanges ?? [], maintenance: (await operator.listMaintenance(p.id)).filter((w) => w.end > now) })),
      );
      const error = c.req.query('error');
      const scheduled = c.req.query('scheduled');
      const notice = error ? { ok: false, text: error.slice(0, 500) } : scheduled ? { ok: true, text: `Capacity change scheduled for ${scheduled.slice(0, 100)}.` } : null;
      return page(c, <FleetPage viewer={who.viewer} sites={catalog.sites} pools={pools} notice={notice} />);
    }),
  );
  app.post(
    '/fleet/pools/:id/capacity',
    signedIn(services, ['operator'], 'Scheduling a capacity change', async (c, who, form) => {
      const id = c.req.param('id') ?? '';
      const raw = (form.effectiveFrom ?? '').trim();
      // A datetime-local field gives "2027-03-01T00:00" (UTC, as labelled).
      const effectiveFrom = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(raw) ? `${raw}:00Z` : raw;
      const totalGpus = /^\d{1,8}$/.test((form.totalGpus ?? '').trim()) ? Number(form.totalGpus) : Number.NaN;
      try {
        if (Number.isNaN(totalGpus)) throw new DomainError('unprocessable', 'Total GPUs: enter a whole number of GPUs');
        await services.catalogAdmin.scheduleCapacity(who.principal, id, { effectiveFrom, totalGpus });
      } catch (error) {
        if (error instanceof DomainError && error.status < 500) return seeOther(c, `/fleet?error=${encodeURIComponent(error.message)}#pool-${encodeURIComponent(id)}`);
        throw error;
      }
      return seeOther(c, `/fleet?scheduled=${encodeURIComponent(id)}#pool-${encodeURIComponent(id)}`);
    }),
  );
  app.get(
    '/audit',
    signedIn(services, ['operator'], 'The audit log', async (c, who) => {
      const { db, cursors } = services;
      // Sealed like the API's cursors: opaque, tamper-proof, bound to this list and role.
      const scope = listScope('portal:audit', who.principal);
      const { data, nextCursor } = await listAudit(db, 50, await cursors.open(scope, c.req.query('cursor') || undefined));
      return page(c, <AuditPage viewer={who.viewer} entries={data} next={await cursors.seal(scope, nextCursor)} />);
    }),
  );
}
