/**
 * The operator's catalog: sites, GPU types and pools created and changed through the API. Each change
 * is one DynamoDB transaction holding the item (conditioned on the version read), its audit entry and
 * its `catalog.changed` event; a lost race re-reads and re-checks. Changes price new quotes only: a
 * quote keeps the lines it was priced with and a reservation its terms, because both carry their own
 * copy of the price.
 */
import { BOOKING_HORIZON_HOURS, BUCKET_HOURS, MAX_CAPACITY_CHANGES, bucketOf, bucketsForRange, capacityAt, capacityConflicts, stepSpan, withStep, type CapacityStep, type PoolLoad } from '#domain/capacity.ts';
import { capacityNow, fromPublicPool, poolSchedule, toPublicPool, type CapacityChange, type GpuType, type Pool, type PublicPool, type Site } from '#domain/catalog.ts';
import { gpuTypeErrors, poolErrors, siteErrors } from '#domain/catalog-rules.ts';
import { DomainError, notFound, type FieldError } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import { HOUR_MS, epochHour, isWholeHour } from '#domain/time.ts';
import { auditWrite, listAudit, type AuditEntry } from '#store/audit.ts';
import { catalogWrite, getCatalogItem, readCatalog, type CatalogCache, type CatalogKind } from '#store/catalog.ts';
import { bucketChecks, capacityScheduleWrite } from '#store/capacity.ts';
import { readPoolLoad } from '#store/capacity.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites } from '#store/events.ts';
import { StaleReadError, withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
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

/** How many conflicting hours a refused reduction lists. */
const CONFLICTS_LISTED = 10;

/** A capacity change as the API shows it. */
export interface CapacityChangeView extends CapacityChange {
  poolId: string;
}

/** A date no capacity change may reach (the catalog's dates lie before 2100). */
const LATEST_CHANGE_MS = Date.parse('2100-01-01T00:00:00Z');

/** The pool with `step` in its schedule (catalog copy): a change at the same hour is replaced. */
function withChange(pool: Pool, step: CapacityStep, principal: Principal, now: Date): Pool {
  const kept = (pool.capacityChanges ?? []).filter((c) => epochHour(new Date(c.effectiveFrom)) !== step.fromHour);
  const added: CapacityChange = { effectiveFrom: iso(step.fromHour), totalGpus: step.totalGpus, createdAt: now.toISOString(), actor: principal.keyId };
  return { ...pool, capacityChanges: [...kept, added].sort((a, b) => Date.parse(a.effectiveFrom) - Date.parse(b.effectiveFrom)) };
}

const field = (path: string, message: string) => new DomainError('unprocessable', `${path}: ${message}`, { errors: [{ path, message }] });

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

  /**
   * The writes of a capacity step: the pool's capacity item (its schedule, authoritative for every
   * booking decision) at the next version and, for a reduction, a check of every capacity bucket of
   * the hours it governs, after refusing it if any of those hours is sold beyond the new capacity.
   * Bookings write or check the capacity item's version in their own transaction, so a booking and a
   * reduction racing cannot both commit on a stale view (docs/decisions.md, "Capacity schedule").
   */
  async function capacityItems(pool: Pool, step: CapacityStep, now: Date): Promise<TransactItem[]> {
    const nowHour = epochHour(now);
    // No reserved booking reaches past this hour; beyond it only running on-demand GPUs can conflict.
    const horizonHour = nowHour + BOOKING_HORIZON_HOURS + 1;
    const head = await readPoolLoad(db, pool.id, pool.totalGpus, 0, 0);
    const steps = withStep(head.steps, step);
    if (steps.length > MAX_CAPACITY_CHANGES) throw field('effectiveFrom', `a pool keeps at most ${MAX_CAPACITY_CHANGES} scheduled changes`);
    if (step.totalGpus >= capacityAt(head, step.fromHour)) return [capacityScheduleWrite(db, head, steps)];
    const span = stepSpan(head.steps, step.fromHour);
    const from = Math.max(step.fromHour, nowHour);
    const scanTo = Math.max(from, Math.min(span.toHour ?? horizonHour, horizonHour));
    const load = await readPoolLoad(db, pool.id, pool.totalGpus, from, scanTo);
    if (load.onDemandVersion !== head.onDemandVersion) throw new StaleReadError(`${pool.id}: capacity item changed while reading; re-reading`);
    const conflicts = capacityConflicts(load, from, span.toHour, step.totalGpus, horizonHour, CONFLICTS_LISTED);
    if (conflicts.length > 0) {
      const first = conflicts[0]!;
      const message = `${step.totalGpus} GPUs from ${iso(step.fromHour)} is fewer than already sold: ${first.occupied} GPUs in hour ${iso(first.hour)}${conflicts.length > 1 ? ` and ${conflicts.length - 1} more hour(s) listed` : ''}`;
      throw new DomainError('capacity_conflict', `totalGpus: ${message}; move or cancel those bookings first, or retire the GPUs later`, {
        errors: [{ path: 'totalGpus', message }],
        extensions: { conflicts: conflicts.map((c) => ({ start: iso(c.hour), end: iso(c.hour + 1), sold: c.occupied, totalGpus: c.capacity })) },
      });
    }
    return [capacityScheduleWrite(db, load, steps), ...bucketChecks(db, load, bucketsForRange(from, scanTo))];
  }

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
      const capacity = d.step ? await capacityItems(current, d.step, now) : [];
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
