/**
 * The operator's catalog: sites, GPU types and pools created and changed through the API. Each change
 * is one DynamoDB transaction holding the item (conditioned on the version read), its audit entry and
 * its `catalog.changed` event; a lost race re-reads and re-checks. Changes price new quotes only: a
 * quote keeps the lines it was priced with and a reservation its terms, because both carry their own
 * copy of the price.
 */
import { BOOKING_HORIZON_HOURS, capacityAt, type CapacityStep } from '#domain/capacity.ts';
import { capacityNow, fromPublicPool, poolSchedule, toPublicPool, type GpuType, type Pool, type PublicPool, type Site } from '#domain/catalog.ts';
import { gpuTypeErrors, poolErrors, siteErrors } from '#domain/catalog-rules.ts';
import { DomainError, notFound, type FieldError } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import { epochHour, isWholeHour } from '#domain/time.ts';
import { auditWrite, listAudit, type AuditEntry } from '#store/audit.ts';
import { catalogWrite, getCatalogItem, readCatalog, type CatalogCache, type CatalogKind } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites } from '#store/events.ts';
import { withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import { transact } from '#store/transact.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import { LATEST_CHANGE_MS, assertNoBookings as assertNoBookingsIn, capacityItems, field, iso, withChange, type CapacityChangeView } from './catalog-capacity.ts';

/** The event stream that catalog changes go to (an operator's `GET /v1/events` reads it). */
export const PLATFORM_STREAM = 'platform';

export type SitePatch = Partial<Omit<Site, 'id'>>;
export type GpuTypePatch = Partial<Omit<GpuType, 'id'>>;
export type PoolPatch = Partial<Omit<PublicPool, 'id' | 'site' | 'gpuType'>>;

const invalid = (errors: FieldError[]) =>
  new DomainError('unprocessable', `Invalid ${[...new Set(errors.map((e) => e.path))].join(', ')}: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, { errors });

export interface CatalogAdminDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  catalog: CatalogCache;
  retry?: RetryPolicy | undefined;
}

export function createCatalogAdmin(deps: CatalogAdminDeps) {
  const { db, clock, ids, catalog } = deps;

  /**
   * One catalog change: read the item, let `decide` build the next value (and check it), then commit
   * item + audit + event together. `decide` returns null when nothing changes (no write, no audit).
   */
  async function change<K extends CatalogKind, V extends { id: string }>(
    principal: Principal,
    kind: K,
    id: string,
    mode: 'create' | 'update',
    decide: (current: V | null, now: Date) => Promise<V | null>,
    publicOf: (v: V) => Record<string, unknown>,
  ): Promise<V> {
    const result = await withOptimisticRetry(async () => {
      const now = clock();
      const { value, at } = await getCatalogItem(db, kind, id);
      const current = value as unknown as V | null;
      if (mode === 'create' && current) throw new DomainError('already_exists', `A ${kind} with id ${id} already exists`, { errors: [{ path: 'id', message: 'already exists' }] });
      if (mode === 'update' && !current) throw notFound(kind === 'site' ? 'Site' : kind === 'gpuType' ? 'GPU type' : 'Pool', id);
      const next = await decide(current, now);
      if (!next) return current!;
      const before = current ? publicOf(current) : null;
      const after = publicOf(next);
      const entry: AuditEntry = {
        id: ids.next('aud'),
        at: now.toISOString(),
        actor: principal.keyId,
        action: `${kind === 'gpuType' ? 'gpu_type' : kind}.${mode === 'create' ? 'created' : 'updated'}`,
        target: `${kind === 'gpuType' ? 'gpu_type' : kind}:${id}`,
        before,
        after,
      };
      const outbox = await outboxWrites(db, PLATFORM_STREAM, [{ type: 'catalog.changed', data: { action: entry.action, target: entry.target, actor: entry.actor, before, after } }], now, ids);
      await transact(db, [catalogWrite(db, kind, next as never, at), auditWrite(db, entry), ...outbox.items]);
      return next;
    }, deps.retry);
    catalog.invalidate();
    return result;
  }

  /** Catalog read straight from the table (not the cache), for checks against the latest state. */
  const fresh = () => readCatalog(db);
  /** Refuses a change that would leave reserved bookings in hours [from, to) of these pools unservable. */
  const assertNoBookings = (pools: Pool[], from: number, toHour: number, field: string, why: string) => assertNoBookingsIn(db, clock(), pools, from, toHour, field, why);

  /**
   * A change of a pool that may move its capacity: `decide` builds its next value (null: nothing
   * changes) and the capacity step it takes, if any; the pool, its capacity item and buckets checked,
   * the audit entry and the event commit in one transaction, retried on a lost race.
   */
  async function commitPool(
    principal: Principal,
    id: string,
    decide: (current: Pool, now: Date) => Promise<{ next: Pool; step: CapacityStep | null; action: string; before: Record<string, unknown>; after: Record<string, unknown> } | null>,
  ): Promise<Pool> {
    const result = await withOptimisticRetry(async () => {
      const now = clock();
      const { value: current, at } = await getCatalogItem(db, 'pool', id);
      if (!current) throw notFound('Pool', id);
      const d = await decide(current, now);
      if (!d) return current;
      const capacity = d.step ? await capacityItems(db, current, d.step, now) : [];
      const entry: AuditEntry = { id: ids.next('aud'), at: now.toISOString(), actor: principal.keyId, action: d.action, target: `pool:${id}`, before: d.before, after: d.after };
      const outbox = await outboxWrites(db, PLATFORM_STREAM, [{ type: 'catalog.changed', data: { action: entry.action, target: entry.target, actor: entry.actor, before: d.before, after: d.after } }], now, ids);
      await transact(db, [catalogWrite(db, 'pool', d.next, at), ...capacity, auditWrite(db, entry), ...outbox.items]);
      return d.next;
    }, deps.retry);
    catalog.invalidate();
    return result;
  }

  return {
    createSite: (principal: Principal, site: Site) =>
      change<'site', Site>(principal, 'site', site.id, 'create', async () => {
        const errors = siteErrors(site);
        if (errors.length) throw invalid(errors);
        return site;
      }, (s) => ({ ...s })),

    updateSite: (principal: Principal, id: string, patch: SitePatch) =>
      change<'site', Site>(principal, 'site', id, 'update', async (current, now) => {
        const next: Site = { ...current!, ...patch, id };
        const errors = siteErrors(next);
        if (errors.length) throw invalid(errors);
        if (JSON.stringify(next) === JSON.stringify(current)) return null;
        const pools = (await fresh()).pools.filter((p) => p.site === id);
        const nowHour = epochHour(now) + 1;
        // Closing a site (back to planned, or into site-wide maintenance) with bookings still to run is refused.
        if (next.status !== current!.status && next.status !== 'active') {
          await assertNoBookings(pools, nowHour, nowHour + BOOKING_HORIZON_HOURS, 'status', `site ${id} cannot become ${next.status} while it has bookings to serve`);
        }
        const oldOpen = epochHour(new Date(current!.opensAt));
        const newOpen = epochHour(new Date(next.opensAt));
        if (newOpen > oldOpen) {
          await assertNoBookings(pools, Math.max(nowHour, oldOpen), newOpen, 'opensAt', `site ${id} cannot open later than bookings already made`);
        }
        return next;
      }, (s) => ({ ...s })),

    createGpuType: (principal: Principal, gpu: GpuType) =>
      change<'gpuType', GpuType>(principal, 'gpuType', gpu.id, 'create', async () => {
        const errors = gpuTypeErrors(gpu);
        if (errors.length) throw invalid(errors);
        return gpu;
      }, (g) => ({ ...g })),

    updateGpuType: (principal: Principal, id: string, patch: GpuTypePatch) =>
      change<'gpuType', GpuType>(principal, 'gpuType', id, 'update', async (current) => {
        const next: GpuType = { ...current!, ...patch, id };
        const errors = gpuTypeErrors(next);
        if (errors.length) throw invalid(errors);
        return JSON.stringify(next) === JSON.stringify(current) ? null : next;
      }, (g) => ({ ...g })),

    createPool: (principal: Principal, input: PublicPool) =>
      change<'pool', Pool>(principal, 'pool', input.id, 'create', async () => {
        const pool = fromPublicPool(input);
        const errors = poolErrors(pool, await fresh());
        if (errors.length) throw invalid(errors);
        return pool;
      }, (p) => ({ ...toPublicPool(p) })),

    updatePool: (principal: Principal, id: string, patch: PoolPatch) =>
      commitPool(principal, id, async (current, now) => {
        const { totalGpus, ...rest } = patch;
        let next: Pool = { ...fromPublicPool({ ...toPublicPool(current), ...rest, id }), capacityChanges: current.capacityChanges };
        const errors = poolErrors(totalGpus === undefined ? next : { ...next, totalGpus }, await fresh());
        if (errors.length) throw invalid(errors);
        // Capacity set here is a change from the current hour, checked like any other (never shrinks what is sold).
        const step = totalGpus !== undefined && totalGpus !== capacityNow(current, now) ? { fromHour: epochHour(now), totalGpus } : null;
        if (step) next = withChange(next, step, principal, now);
        if (JSON.stringify(next) === JSON.stringify(current)) return null;
        const oldFrom = epochHour(new Date(current.bookableFrom));
        const newFrom = epochHour(new Date(next.bookableFrom));
        if (newFrom > oldFrom) {
          const nowHour = epochHour(now) + 1;
          await assertNoBookings([current], Math.max(nowHour, oldFrom), newFrom, 'bookableFrom', `pool ${id} cannot open later than bookings already made`);
        }
        return { next, step, action: 'pool.updated', before: { ...toPublicPool(current, now) }, after: { ...toPublicPool(next, now) } };
      }),

    /**
     * Schedules the pool's capacity from `effectiveFrom` (GPUs installed or retired from that hour),
     * until its next scheduled change. A reduction that would leave fewer GPUs than are sold in any
     * hour it governs is refused with 409 capacity_conflict listing the first such hours.
     */
    async scheduleCapacity(principal: Principal, id: string, input: { effectiveFrom: string; totalGpus: number }): Promise<CapacityChangeView> {
      const at = new Date(input.effectiveFrom);
      const pool = await commitPool(principal, id, async (current, now) => {
        if (Number.isNaN(at.getTime()) || !isWholeHour(at)) throw field('effectiveFrom', 'must be a whole UTC hour, e.g. 2027-03-01T00:00:00Z');
        if (epochHour(at) < epochHour(now)) throw field('effectiveFrom', `must not be in the past (the current hour began ${iso(epochHour(now))})`);
        if (at.getTime() >= LATEST_CHANGE_MS) throw field('effectiveFrom', 'must be before 2100');
        if (!Number.isSafeInteger(input.totalGpus) || input.totalGpus < 0) throw field('totalGpus', 'must be a non-negative integer');
        if (input.totalGpus % current.gpusPerNode !== 0) throw field('totalGpus', `must be whole nodes: a multiple of gpusPerNode (${current.gpusPerNode})`);
        const step = { fromHour: epochHour(at), totalGpus: input.totalGpus };
        const existing = (current.capacityChanges ?? []).find((c) => epochHour(new Date(c.effectiveFrom)) === step.fromHour);
        if (existing && existing.totalGpus === step.totalGpus) return null;
        const before = capacityAt(poolSchedule(current), step.fromHour);
        return {
          next: withChange(current, step, principal, now),
          step,
          action: 'pool.capacity_changed',
          before: { effectiveFrom: iso(step.fromHour), totalGpus: before },
          after: { effectiveFrom: iso(step.fromHour), totalGpus: step.totalGpus },
        };
      });
      const change = (pool.capacityChanges ?? []).find((c) => epochHour(new Date(c.effectiveFrom)) === epochHour(at));
      if (!change) throw new DomainError('internal', 'capacity change committed without its entry');
      return { poolId: id, ...change };
    },

    /** The pool's scheduled capacity changes, oldest first (past ones included). */
    async listCapacityChanges(id: string): Promise<CapacityChangeView[]> {
      const { value } = await getCatalogItem(db, 'pool', id);
      if (!value) throw notFound('Pool', id);
      return (value.capacityChanges ?? []).map((c) => ({ poolId: id, ...c }));
    },

    listAudit: (limit: number, cursor: string | undefined) => listAudit(db, limit, cursor),
  };
}

export type CatalogAdmin = ReturnType<typeof createCatalogAdmin>;
