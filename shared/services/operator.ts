/**
 * Operator actions: maintenance windows (which take capacity out under the same never-overbooked
 * check as bookings), orgs and API keys.
 */
import { MAX_RESERVED_HOURS, assertFree, shiftHours } from '#domain/capacity.ts';
import { peakCapacity } from '#domain/catalog.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import type { Org, OrgRole, Principal, Role } from '#domain/principal.ts';
import { HOUR_MS, epochHour, isWholeHour } from '#domain/time.ts';
import type { CatalogCache } from '#store/catalog.ts';
import { bucketWrites, onDemandCheck, readPoolLoad, releaseWrites } from '#store/capacity.ts';
import type { Db } from '#store/db.ts';
import { getMaintenance, listMaintenance, maintenanceCreate, maintenanceDelete, type MaintenanceWindow } from '#store/maintenance.ts';
import { generateApiKey, getOrg, listAllOrgs, putApiKey, putOrg, revokeApiKeyById } from '#store/orgs.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import type { Clock, IdGenerator } from '../ids.ts';

export type { MaintenanceWindow } from '#store/maintenance.ts';

const field = (path: string, message: string) => new DomainError('unprocessable', `${path}: ${message}`, { errors: [{ path, message }] });

export function createOperatorService(deps: { db: Db; clock: Clock; ids: IdGenerator; catalog: CatalogCache }) {
  const { db, clock, ids, catalog } = deps;

  async function pool(poolId: string) {
    const p = (await catalog.get()).pools.find((x) => x.id === poolId);
    if (!p) throw notFound('Pool', poolId);
    return p;
  }

  /** Adds or removes a window's GPUs; `windowOf` is read again on every attempt, so a racing removal is seen. */
  async function changeMaintenance(poolId: string, windowOf: () => Promise<MaintenanceWindow>, direction: 'add' | 'remove', extra: TransactItem) {
    const p = await pool(poolId);
    await withOptimisticRetry(async () => {
      const w = await windowOf();
      const delta = direction === 'add' ? w.gpus : -w.gpus;
      const sH = epochHour(new Date(w.start));
      const eH = epochHour(new Date(w.end));
      const snapshot = await readPoolLoad(db, p.id, p.totalGpus, sH, eH);
      if (delta > 0) assertFree(snapshot, sH, eH, delta, `every hour of that window in ${p.id} (move bookings first)`);
      const buckets = delta < 0 ? releaseWrites(db, snapshot, sH, eH, -delta, 'maint') : bucketWrites(db, p.id, shiftHours(snapshot, sH, eH, delta, 'maint'));
      await transact(db, [...buckets, onDemandCheck(db, snapshot), extra]);
    });
  }

  return {
    async addMaintenance(poolId: string, input: { start: string; end: string; gpus: number; reason: string }): Promise<MaintenanceWindow> {
      const p = await pool(poolId);
      const start = new Date(input.start);
      const end = new Date(input.end);
      if (!isWholeHour(start)) throw field('start', 'must be a whole UTC hour');
      if (!isWholeHour(end)) throw field('end', 'must be a whole UTC hour');
      if (end <= start) throw field('end', 'must be after start');
      if (end <= clock()) throw field('end', 'must be in the future');
      // One transaction writes every capacity bucket the window touches: 365 days is 28 of them.
      if (end.getTime() - start.getTime() > MAX_RESERVED_HOURS * HOUR_MS) throw field('end', 'a maintenance window lasts at most 365 days');
      if (input.gpus > peakCapacity(p)) throw field('gpus', `pool ${p.id} has ${peakCapacity(p)} GPUs at most`);
      const w: MaintenanceWindow = {
        id: ids.next('mnt'),
        poolId,
        start: start.toISOString(),
        end: end.toISOString(),
        gpus: input.gpus,
        reason: input.reason,
        createdAt: clock().toISOString(),
      };
      await changeMaintenance(poolId, async () => w, 'add', maintenanceCreate(db, w));
      return w;
    },

    async listMaintenance(poolId: string): Promise<MaintenanceWindow[]> {
      await pool(poolId);
      return listMaintenance(db, poolId);
    },

    async removeMaintenance(poolId: string, windowId: string): Promise<void> {
      const windowOf = async () => {
        const w = await getMaintenance(db, poolId, windowId);
        if (!w) throw notFound('Maintenance window', windowId);
        return w;
      };
      await changeMaintenance(poolId, windowOf, 'remove', maintenanceDelete(db, poolId, windowId));
    },

    async createOrg(input: { name: string; country: string; vatNumber?: string | null | undefined; billingEmail: string }): Promise<Org> {
      const org: Org = {
        id: ids.next('org'),
        name: input.name,
        country: input.country.toUpperCase(),
        vatNumber: input.vatNumber ?? null,
        billingEmail: input.billingEmail,
        stripeCustomerId: null,
        createdAt: clock().toISOString(),
      };
      await putOrg(db, org);
      return org;
    },

    getOrg: (orgId: string) => getOrg(db, orgId),

    listOrgs: (): Promise<Org[]> => listAllOrgs(db),

    async createApiKey(input: { role: Role; orgId?: string | undefined; orgRole?: OrgRole | undefined; siteId?: string | undefined }) {
      const c = await catalog.get();
      if (input.role === 'customer') {
        if (!input.orgId) throw field('orgId', 'required for customer keys');
        if (!(await getOrg(db, input.orgId))) throw field('orgId', `unknown org ${input.orgId}`);
      } else if (input.orgId) throw field('orgId', 'only customer keys belong to an org');
      if (input.role === 'meter') {
        if (!input.siteId) throw field('siteId', 'required for meter keys');
        if (!c.sites.some((s) => s.id === input.siteId)) throw field('siteId', `unknown site ${input.siteId}`);
      } else if (input.siteId) throw field('siteId', 'only meter keys belong to a site');
      const principal: Principal = {
        keyId: ids.next('key'),
        role: input.role,
        orgId: input.role === 'customer' ? input.orgId! : null,
        orgRole: input.role === 'customer' ? (input.orgRole ?? 'member') : null,
        siteId: input.role === 'meter' ? input.siteId! : null,
      };
      const key = generateApiKey(input.role);
      await putApiKey(db, key, principal, clock());
      return { ...principal, id: principal.keyId, key, createdAt: clock().toISOString() };
    },

    async revokeApiKey(keyId: string): Promise<void> {
      if (!(await revokeApiKeyById(db, keyId))) throw notFound('API key', keyId);
    },
  };
}
export type OperatorService = ReturnType<typeof createOperatorService>;
