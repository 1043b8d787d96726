/**
 * The operator's catalog: sites, GPU types and pools created and changed through the API. Each change
 * is one DynamoDB transaction holding the item (conditioned on the version read), its audit entry and
 * its `catalog.changed` event; a lost race re-reads and re-checks. Changes price new quotes only: a
 * quote keeps the lines it was priced with and a reservation its terms, because both carry their own
 * copy of the price.
 */
import { BOOKING_HORIZON_HOURS, BUCKET_HOURS, bucketOf, type PoolLoad } from '#domain/capacity.ts';
import { fromPublicPool, toPublicPool, type GpuType, type Pool, type PublicPool, type Site } from '#domain/catalog.ts';
import { gpuTypeErrors, poolErrors, siteErrors } from '#domain/catalog-rules.ts';
import { DomainError, notFound, type FieldError } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import { HOUR_MS, epochHour } from '#domain/time.ts';
import { auditWrite, listAudit, type AuditEntry } from '#store/audit.ts';
import { catalogWrite, getCatalogItem, readCatalog, type CatalogCache, type CatalogKind } from '#store/catalog.ts';
import { readPoolLoad } from '#store/capacity.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites } from '#store/events.ts';
import { withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import { transact } from '#store/transact.ts';
import type { Clock, IdGenerator } from '../ids.ts';

/** The event stream that catalog changes go to (an operator's `GET /v1/events` reads it). */
export const PLATFORM_STREAM = 'platform';

export type SitePatch = Partial<Omit<Site, 'id'>>;
export type GpuTypePatch = Partial<Omit<GpuType, 'id'>>;
export type PoolPatch = Partial<Omit<PublicPool, 'id' | 'site' | 'gpuType'>>;

const invalid = (errors: FieldError[]) =>
  new DomainError('unprocessable', `Invalid ${[...new Set(errors.map((e) => e.path))].join(', ')}: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, { errors });

/** Hours (UTC epoch) in [from, to) where reserved bookings hold GPUs of the pool; at most `limit`. */
function bookedHours(load: PoolLoad, from: number, to: number, limit: number): number[] {
  const out: number[] = [];
  for (let h = from; h < to && out.length < limit; h++) {
    const b = load.buckets.get(bucketOf(h));
    if ((b?.used[h - bucketOf(h) * BUCKET_HOURS] ?? 0) > 0) out.push(h);
  }
  return out;
}

const iso = (hour: number) => new Date(hour * HOUR_MS).toISOString();

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
  async function assertNoBookings(pools: Pool[], from: number, toHour: number, field: string, why: string): Promise<void> {
    // No booking reaches past the booking horizon, so neither does the check.
    const to = Math.min(toHour, epochHour(clock()) + 1 + BOOKING_HORIZON_HOURS);
    if (to <= from) return;
    for (const pool of pools) {
      const load = await readPoolLoad(db, pool.id, pool.totalGpus, from, to);
      const hours = bookedHours(load, from, to, 5);
      const onDemand = load.onDemand > 0;
      if (hours.length > 0 || onDemand) {
        const detail = onDemand ? `${load.onDemand} on-demand GPUs are running in pool ${pool.id}` : `pool ${pool.id} is booked in hours ${hours.map(iso).join(', ')}`;
        throw new DomainError('bookings_exist', `${field}: ${why}; ${detail}`, { errors: [{ path: field, message: `${why}: ${detail}` }] });
      }
    }
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
      change<'pool', Pool>(principal, 'pool', id, 'update', async (current, now) => {
        const next = fromPublicPool({ ...toPublicPool(current!), ...patch, id });
        const errors = poolErrors(next, await fresh());
        if (errors.length) throw invalid(errors);
        if (JSON.stringify(toPublicPool(next)) === JSON.stringify(toPublicPool(current!))) return null;
        if (next.totalGpus < current!.totalGpus) {
          throw new DomainError('unprocessable', `totalGpus: capacity is lowered from a date with POST /v1/pools/${id}/capacity-changes, which checks every booked hour`, {
            errors: [{ path: 'totalGpus', message: `may only grow here (now ${current!.totalGpus}); lower it with POST /v1/pools/${id}/capacity-changes` }],
          });
        }
        const oldFrom = epochHour(new Date(current!.bookableFrom));
        const newFrom = epochHour(new Date(next.bookableFrom));
        if (newFrom > oldFrom) {
          const nowHour = epochHour(now) + 1;
          await assertNoBookings([current!], Math.max(nowHour, oldFrom), newFrom, 'bookableFrom', `pool ${id} cannot open later than bookings already made`);
        }
        return next;
      }, (p) => ({ ...toPublicPool(p) })),

    listAudit: (limit: number, cursor: string | undefined) => listAudit(db, limit, cursor),
  };
}

export type CatalogAdmin = ReturnType<typeof createCatalogAdmin>;
