/** Operator pages: the fleet and the audit log. */
import { toPublicPool } from '#domain/catalog.ts';
import type { App } from '#http/context.ts';
import { listAudit } from '#store/audit.ts';
import { page, signedIn } from '../http.tsx';
import { AuditPage, FleetPage } from '../views/fleet.tsx';

export function registerFleetRoutes(app: App) {
  app.get(
    '/fleet',
    signedIn(['operator'], 'The fleet page', async (c, who) => {
      const deps = c.get('deps');
      const catalog = await deps.catalog.get();
      const { operator } = deps;
      const now = deps.clock().toISOString();
      const pools = await Promise.all(
        catalog.pools.map(async (p) => ({ ...toPublicPool(p, deps.clock()), maintenance: (await operator.listMaintenance(p.id)).filter((w) => w.end > now) })),
      );
      return page(c, <FleetPage viewer={who.viewer} sites={catalog.sites} pools={pools} />);
    }),
  );
  app.get(
    '/audit',
    signedIn(['operator'], 'The audit log', async (c, who) => {
      const cursor = c.req.query('cursor');
      const { data, nextCursor } = await listAudit(c.get('deps').db, 50, cursor || undefined);
      return page(c, <AuditPage viewer={who.viewer} entries={data} next={nextCursor} />);
    }),
  );
}
