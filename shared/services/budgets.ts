/**
 * Spend controls: the org budget (read, set, remove), org admins' management of their own org's API
 * keys and their monthly limits, the hook that records every booking in the org's spend record inside
 * the booking's transaction (refusing one that would go over), and the scheduled pass that writes
 * threshold alerts and stops on-demand at the limit. See docs/budgets.md.
 */
import {
  MAX_LIMIT_CENTS,
  applySpend,
  assertWithinBudget,
  markThresholds,
  mustStopOnDemand,
  spendFigures,
  thresholdsDue,
  validateThresholds,
  type BudgetSettings,
  type SpendState,
} from '#domain/budget.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import { eur, type Money } from '#domain/money.ts';
import type { OrgRole, Principal } from '#domain/principal.ts';
import { periodOf } from '#domain/time.ts';
import { apiKeysOfOrg, budgetedOrgs, budgetedOrgWrite, readSpend, spendWrite, type StoredApiKey } from '#store/budgets.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites, type EventDraft } from '#store/events.ts';
import { apiKeyItemById, generateApiKey, getOrg, putApiKey, revokeApiKeyById } from '#store/orgs.ts';
import { withOptimisticRetry, type RetryPolicy } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { ReservationSpend, SpendEffect } from './booking.ts';

export const BUDGET_THRESHOLD_EVENT = 'budget.threshold_reached';

export interface BudgetInput {
  monthlyLimit: Money;
  alertThresholdsPct: number[];
  enforce: boolean;
  stopOnDemandAtLimit: boolean;
}

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;

const field = (code: 'validation_failed' | 'unprocessable', path: string, message: string) => new DomainError(code, `${path}: ${message}`, { errors: [{ path, message }] });

function orgOf(principal: Principal): string {
  if (principal.role !== 'customer' || !principal.orgId) throw new DomainError('forbidden', 'Budgets are for customer keys');
  return principal.orgId;
}

function assertAdmin(principal: Principal): string {
  const orgId = orgOf(principal);
  if (principal.orgRole !== 'admin') throw new DomainError('forbidden', 'This operation is for org admins');
  return orgId;
}

/** The budget of a month as the API shows it. */
export function toApiBudget(s: SpendState & { budget: BudgetSettings }, period: string, now: Date) {
  const f = spendFigures(s, period, now);
  const limit = s.budget.monthlyLimit.amount;
  return {
    monthlyLimit: s.budget.monthlyLimit,
    alertThresholdsPct: s.budget.alertThresholdsPct,
    enforce: s.budget.enforce,
    stopOnDemandAtLimit: s.budget.stopOnDemandAtLimit,
    period,
    spent: eur(f.spent),
    committed: eur(f.committed),
    forecast: eur(f.forecast),
    remaining: eur(limit - f.spent - f.committed),
    thresholdsReached: s.periods[period]?.thresholdsReached ?? [],
    breakdown: { reserved: eur(f.spentReserved), onDemand: eur(f.spentOnDemand), held: eur(f.held), onDemandFirstHours: eur(f.committed - f.held) },
    byDay: f.byDay.map((d) => ({ date: `${period}-${d.day}`, reserved: eur(d.reserved), onDemand: eur(d.onDemand) })),
    updatedAt: s.budget.updatedAt,
  };
}
export type ApiBudget = ReturnType<typeof toApiBudget>;

export function createBudgetService(deps: { db: Db; clock: Clock; ids: IdGenerator; retry?: RetryPolicy | undefined }) {
  const { db, clock, ids } = deps;

  /** Thresholds `spent` reached this month that have no event yet: their events, and the state that records them. */
  function alerts(s: SpendState, now: Date): { state: SpendState; events: EventDraft[] } {
    if (!s.budget) return { state: s, events: [] };
    const period = periodOf(now);
    const f = spendFigures(s, period, now);
    const due = thresholdsDue(s, period, f.spent);
    const monthlyLimit = s.budget.monthlyLimit;
    return {
      state: markThresholds(s, period, due),
      events: due.map((thresholdPct) => ({ type: BUDGET_THRESHOLD_EVENT, data: { period, thresholdPct, spent: eur(f.spent), monthlyLimit } })),
    };
  }

  /** Writes a new spend record (and its events) for an org, retried on lost races; `change` sees the record as it is. */
  async function update(orgId: string, change: (s: SpendState, now: Date) => { next: SpendState; items?: TransactItem[] } | null): Promise<SpendState> {
    return withOptimisticRetry(async () => {
      const now = clock();
      const before = await readSpend(db, orgId);
      const decided = change(before, now);
      if (!decided) return before;
      const { state, events } = alerts(decided.next, now);
      const outbox = await outboxWrites(db, orgId, events, now, ids);
      await transact(db, [spendWrite(db, before, state), ...(decided.items ?? []), ...outbox.items]);
      return { ...state, version: before.version + 1 };
    }, deps.retry);
  }

  const reservationSpend: ReservationSpend = {
    async onChange(orgId, changes, check, now): Promise<SpendEffect> {
      const before = await readSpend(db, orgId);
      if (check) assertWithinBudget(before, check.amount, check.keyId, now);
      const applied = changes.reduce((s, c) => applySpend(s, c, now), before);
      const { state, events } = alerts(applied, now);
      return { items: [spendWrite(db, before, state)], events };
    },
  };

  async function keyInOrg(principal: Principal, keyId: string): Promise<{ stored: StoredApiKey; orgId: string }> {
    const item = await apiKeyItemById(db, keyId);
    const stored = item ? ({ principal: item.principal, prefix: String(item.prefix), revoked: Boolean(item.revoked), createdAt: String(item.createdAt) } as StoredApiKey) : null;
    if (!stored) throw notFound('API key', keyId);
    if (principal.role === 'operator') {
      if (stored.principal.role !== 'customer' || !stored.principal.orgId) {
        throw field('unprocessable', 'monthlySpendLimit', `key ${keyId} is a ${stored.principal.role} key; only customer keys have spend limits`);
      }
      return { stored, orgId: stored.principal.orgId };
    }
    const orgId = assertAdmin(principal);
    if (stored.principal.orgId !== orgId) throw notFound('API key', keyId);
    return { stored, orgId };
  }

  function toApiKeyView(k: StoredApiKey, s: SpendState, now: Date) {
    const limit = s.keyLimits[k.principal.keyId];
    const f = spendFigures(s, periodOf(now), now, k.principal.keyId);
    return {
      id: k.principal.keyId,
      prefix: k.prefix,
      role: k.principal.role,
      orgId: k.principal.orgId,
      orgRole: k.principal.orgRole,
      revoked: k.revoked,
      createdAt: k.createdAt,
      monthlySpendLimit: limit === undefined ? null : eur(limit),
      monthToDate: { period: periodOf(now), spent: eur(f.spent), committed: eur(f.committed) },
    };
  }

  return {
    reservationSpend,

    /** The org's budget and its figures for `period` (default: this month); 404 when it has none. */
    async get(principal: Principal, period?: string): Promise<ApiBudget> {
      const orgId = orgOf(principal);
      const now = clock();
      if (period !== undefined && !PERIOD.test(period)) throw field('validation_failed', 'period', 'must be YYYY-MM');
      const s = await readSpend(db, orgId);
      if (!s.budget) throw new DomainError('not_found', 'This org has no budget; an org admin sets one with PUT /v1/budget');
      return toApiBudget({ ...s, budget: s.budget }, period ?? periodOf(now), now);
    },

    /** The spend record (the portal draws its chart from it even without a budget). */
    spendOf: (orgId: string) => readSpend(db, orgId),

    async put(principal: Principal, input: BudgetInput): Promise<ApiBudget> {
      const orgId = assertAdmin(principal);
      if (!Number.isSafeInteger(input.monthlyLimit.amount) || input.monthlyLimit.amount < 1 || input.monthlyLimit.amount > MAX_LIMIT_CENTS) {
        throw field('validation_failed', 'monthlyLimit.amount', `must be a whole number of cents from 1 to ${MAX_LIMIT_CENTS}`);
      }
      validateThresholds(input.alertThresholdsPct);
      const saved = await update(orgId, (s, now) => ({
        next: { ...s, budget: { ...input, alertThresholdsPct: [...input.alertThresholdsPct], updatedAt: now.toISOString() } },
        items: [budgetedOrgWrite(db, orgId, true)],
      }));
      return toApiBudget({ ...saved, budget: saved.budget! }, periodOf(clock()), clock());
    },

    async remove(principal: Principal): Promise<void> {
      const orgId = assertAdmin(principal);
      await update(orgId, (s) => (s.budget ? { next: { ...s, budget: null }, items: [budgetedOrgWrite(db, orgId, false)] } : null));
    },

    // ---- API keys of an org (org admins; operators for any customer key) ----

    async listKeys(principal: Principal, query: { orgId?: string | undefined; limit: number; cursor?: string | undefined }) {
      let orgId: string;
      if (principal.role === 'operator') {
        if (!query.orgId) throw field('validation_failed', 'orgId', 'operators name the org whose keys to list');
        orgId = query.orgId;
      } else {
        orgId = assertAdmin(principal);
        if (query.orgId && query.orgId !== orgId) throw notFound('Org', query.orgId);
      }
      const [page, s] = await Promise.all([apiKeysOfOrg(db, orgId, query), readSpend(db, orgId)]);
      const now = clock();
      return { data: page.data.map((k) => toApiKeyView(k, s, now)), nextCursor: page.nextCursor };
    },

    /** An org admin issues a key of its own org (member by default); shown once. */
    async createOrgKey(principal: Principal, input: { role: string; orgId?: string | undefined; orgRole?: OrgRole | undefined; siteId?: string | undefined }) {
      const orgId = assertAdmin(principal);
      if (input.role !== 'customer') throw new DomainError('forbidden', `Org admins issue customer keys of their own org only, not ${input.role} keys`);
      if (input.orgId !== undefined && input.orgId !== orgId) throw notFound('Org', input.orgId);
      if (input.siteId !== undefined) throw field('unprocessable', 'siteId', 'only meter keys belong to a site');
      if (!(await getOrg(db, orgId))) throw notFound('Org', orgId);
      const now = clock();
      const issued: Principal = { keyId: ids.next('key'), role: 'customer', orgId, orgRole: input.orgRole ?? 'member', siteId: null };
      const key = generateApiKey('customer');
      await putApiKey(db, key, issued, now);
      return { ...issued, id: issued.keyId, key, createdAt: now.toISOString() };
    },

    async setKeyLimit(principal: Principal, keyId: string, limit: Money | null) {
      if (limit !== null && (!Number.isSafeInteger(limit.amount) || limit.amount < 0 || limit.amount > MAX_LIMIT_CENTS)) {
        throw field('validation_failed', 'monthlySpendLimit.amount', `must be a whole number of cents from 0 to ${MAX_LIMIT_CENTS}`);
      }
      const { stored, orgId } = await keyInOrg(principal, keyId);
      const saved = await update(orgId, (s) => {
        const keyLimits = { ...s.keyLimits };
        if (limit === null) delete keyLimits[keyId];
        else keyLimits[keyId] = limit.amount;
        return { next: { ...s, keyLimits } };
      });
      return toApiKeyView(stored, saved, clock());
    },

    async revokeOrgKey(principal: Principal, keyId: string): Promise<void> {
      await keyInOrg(principal, keyId);
      if (!(await revokeApiKeyById(db, keyId))) throw notFound('API key', keyId);
    },

    /**
     * The scheduled pass over orgs with a budget: writes the alert of each threshold that on-demand
     * charges reached since the last booking, and stops running on-demand where the org asked for it
     * and spent + held bookings reached the limit. Returns what it did.
     */
    async sweep(stopAtLimit: (orgId: string, reservationId: string) => Promise<unknown>): Promise<{ alerts: number; stopped: number }> {
      let alertCount = 0;
      let stopped = 0;
      let cursor: string | undefined;
      do {
        const page = await budgetedOrgs(db, cursor);
        for (const orgId of page.orgIds) {
          let fired = 0;
          const s = await update(orgId, (current, now) => {
            fired = alerts(current, now).events.length;
            return fired > 0 ? { next: current } : null;
          });
          alertCount += fired;
          if (mustStopOnDemand(s, clock())) {
            for (const id of Object.keys(s.running)) {
              await stopAtLimit(orgId, id);
              stopped++;
            }
          }
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return { alerts: alertCount, stopped };
    },
  };
}

export type BudgetService = ReturnType<typeof createBudgetService>;
