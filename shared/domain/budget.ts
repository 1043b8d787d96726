/**
 * Spend controls (pure: no clock, no I/O). An org's spend is one record (`SpendState`): its budget,
 * the monthly spend limits of its keys, and per calendar month (UTC) what was spent and what is
 * committed, kept by every booking transaction. The figures of a month are computed from it at an
 * instant; the rules that refuse a booking, fire an alert or stop on-demand are named here, once.
 * See docs/budgets.md.
 *
 * - spent     = reserved bookings invoiced this month (confirmations, extensions of confirmed
 *               bookings: their invoice subtotals) − credit notes (cancellation refunds) − resale
 *               earnings + on-demand charges so far (GPU-seconds held in the month × rate, rounded once
 *               per pool and rate, as the usage invoice rounds).
 * - committed = prices of held bookings + the part of a running on-demand reservation's first hour
 *               its charges have not reached yet (an on-demand start is priced at one hour).
 * - forecast  = spent + committed + running on-demand projected to the end of the month at its rate.
 * - A booking of price p is allowed iff spent + committed + p ≤ limit (org) and the same for the key
 *   that makes it with that key's own figures.
 */
import { DomainError } from './errors.ts';
import { eur, formatMoney, mulRound, type Money } from './money.ts';
import { onDemandCharge } from './pricing.ts';
import type { Reservation } from './reservation.ts';
import { DAY_MS, nextPeriod, periodOf, periodStart } from './time.ts';

export interface BudgetSettings {
  monthlyLimit: Money;
  /** Sorted, distinct, 1–100. */
  alertThresholdsPct: number[];
  enforce: boolean;
  stopOnDemandAtLimit: boolean;
  updatedAt: string;
}

/** What the bookings of one key count in a month (the key's own limit is checked on these). */
export interface KeySpend {
  reserved: number;
  held: number;
  /** On-demand charges of stopped reservations made with the key (cents, rounded per reservation and month). */
  onDemand: number;
}

export interface PeriodSpend {
  /** Cents: invoice subtotals of confirmations and extensions − credit notes − resale earnings. */
  reserved: number;
  /** Cents: prices of bookings held (counted in the month the hold was made). */
  held: number;
  /** GPU-seconds of stopped on-demand reservations within this month, by `poolId@ratePerGpuHour`. */
  onDemandSeconds: Record<string, number>;
  /** Day of month (`01`…`31`) → reserved cents recorded that day (the chart). */
  reservedByDay: Record<string, number>;
  /** Day of month → `poolId@rate` → GPU-seconds of stopped on-demand that day (the chart). */
  onDemandSecondsByDay: Record<string, Record<string, number>>;
  /** Alert thresholds whose `budget.threshold_reached` event was written this month. */
  thresholdsReached: number[];
  byKey: Record<string, KeySpend>;
}

/** An on-demand reservation that runs: it is charged up to now, and its first hour is committed. */
export interface RunningOnDemand {
  reservationId: string;
  poolId: string;
  gpus: number;
  start: string;
  ratePerGpuHour: number;
  keyId: string | null;
}

export interface SpendState {
  orgId: string;
  budget: BudgetSettings | null;
  /** Key id → monthly spend limit in cents. */
  keyLimits: Record<string, number>;
  periods: Record<string, PeriodSpend>;
  running: Record<string, RunningOnDemand>;
  /** 0 while it was never written. */
  version: number;
}

export const emptySpendState = (orgId: string): SpendState => ({ orgId, budget: null, keyLimits: {}, periods: {}, running: {}, version: 0 });

const emptyPeriod = (): PeriodSpend => ({ reserved: 0, held: 0, onDemandSeconds: {}, reservedByDay: {}, onDemandSecondsByDay: {}, thresholdsReached: [], byKey: {} });

const clone = (s: SpendState): SpendState => structuredClone(s);

const dayOf = (at: Date): string => at.toISOString().slice(8, 10);
const groupOf = (poolId: string, rate: number): string => `${poolId}@${rate}`;
const rateOfGroup = (group: string): number => Number(group.slice(group.lastIndexOf('@') + 1));
const poolOfGroup = (group: string): string => group.slice(0, group.lastIndexOf('@'));
const secondsOf = (iso: string | Date): number => Math.floor(new Date(iso).getTime() / 1000);

function periodIn(s: SpendState, period: string): PeriodSpend {
  s.periods[period] ??= emptyPeriod();
  return s.periods[period];
}

function keyIn(p: PeriodSpend, keyId: string | null): KeySpend | null {
  if (!keyId) return null;
  p.byKey[keyId] ??= { reserved: 0, held: 0, onDemand: 0 };
  return p.byKey[keyId];
}

/** GPU-seconds of [fromSec, toSec) that fall in `period`, split by day of month. */
function secondsByDay(fromSec: number, toSec: number, period: string): Map<string, number> {
  const out = new Map<string, number>();
  const pStart = secondsOf(periodStart(period));
  const pEnd = secondsOf(periodStart(nextPeriod(period)));
  let at = Math.max(fromSec, pStart);
  const end = Math.min(toSec, pEnd);
  while (at < end) {
    const dayEnd = Math.min(end, (Math.floor((at * 1000) / DAY_MS) + 1) * (DAY_MS / 1000));
    const day = new Date(at * 1000).toISOString().slice(8, 10);
    out.set(day, (out.get(day) ?? 0) + (dayEnd - at));
    at = dayEnd;
  }
  return out;
}

const sum = (values: Iterable<number>): number => {
  let total = 0;
  for (const v of values) total += v;
  return total;
};

/** Months a [from, to) interval touches, oldest first. */
function periodsBetween(from: Date, to: Date): string[] {
  const out: string[] = [];
  for (let p = periodOf(from); p <= periodOf(new Date(Math.max(from.getTime(), to.getTime() - 1))); p = nextPeriod(p)) out.push(p);
  return out;
}

/** The first hour of an on-demand reservation of `gpus` at `rate` (what a start is priced at). */
export const onDemandFirstHour = (gpus: number, ratePerGpuHour: number): Money => onDemandCharge(gpus * 3600, ratePerGpuHour);

// ---- figures ----

export interface SpendFigures {
  period: string;
  spent: number;
  spentReserved: number;
  spentOnDemand: number;
  /** The held bookings part of `committed` (the rest is running on-demand's unreached first hours). */
  held: number;
  committed: number;
  forecast: number;
  /** Day of month → reserved and on-demand cents. */
  byDay: { day: string; reserved: number; onDemand: number }[];
}

/** Seconds a running reservation held in `period` up to `now` (GPU-seconds = this × gpus). */
const runningSeconds = (r: RunningOnDemand, period: string, now: Date): Map<string, number> => secondsByDay(secondsOf(r.start), secondsOf(now), period);

/** The org's (or, with `keyId`, one key's) figures of `period` at `now`. */
export function spendFigures(s: SpendState, period: string, now: Date, keyId: string | null = null): SpendFigures {
  const p = s.periods[period] ?? emptyPeriod();
  const running = Object.values(s.running).filter((r) => keyId === null || r.keyId === keyId);
  const byDayOd = new Map<string, Map<string, number>>();
  const addDay = (day: string, group: string, seconds: number) => {
    const m = byDayOd.get(day) ?? new Map<string, number>();
    m.set(group, (m.get(group) ?? 0) + seconds);
    byDayOd.set(day, m);
  };
  const held = keyId === null ? p.held : (p.byKey[keyId]?.held ?? 0);
  let committed = held;
  const spentReserved = keyId === null ? p.reserved : (p.byKey[keyId]?.reserved ?? 0);
  let spentOnDemand: number;
  let runningRate = 0;
  const pEnd = periodStart(nextPeriod(period));
  if (keyId === null) {
    const seconds = new Map<string, number>(Object.entries(p.onDemandSeconds));
    for (const [day, groups] of Object.entries(p.onDemandSecondsByDay)) for (const [g, sec] of Object.entries(groups)) addDay(day, g, sec);
    for (const r of running) {
      const g = groupOf(r.poolId, r.ratePerGpuHour);
      const held = runningSeconds(r, period, now);
      for (const [day, sec] of held) addDay(day, g, sec * r.gpus);
      seconds.set(g, (seconds.get(g) ?? 0) + sum(held.values()) * r.gpus);
    }
    spentOnDemand = sum([...seconds].map(([g, sec]) => onDemandCharge(sec, rateOfGroup(g)).amount));
  } else {
    spentOnDemand = p.byKey[keyId]?.onDemand ?? 0;
    for (const r of running) spentOnDemand += onDemandCharge(sum(runningSeconds(r, period, now).values()) * r.gpus, r.ratePerGpuHour).amount;
  }
  for (const r of running) {
    if (periodOf(new Date(r.start)) === period) {
      const charged = onDemandCharge(sum(runningSeconds(r, period, now).values()) * r.gpus, r.ratePerGpuHour).amount;
      committed += Math.max(0, onDemandFirstHour(r.gpus, r.ratePerGpuHour).amount - charged);
    }
    if (now < pEnd && now >= periodStart(period)) runningRate += r.gpus * r.ratePerGpuHour;
  }
  const spent = spentReserved + spentOnDemand;
  const rest = now < pEnd && now >= periodStart(period) ? Math.floor((pEnd.getTime() - now.getTime()) / 1000) : 0;
  const projected = running.length === 0 ? 0 : mulRound(rest, runningRate, 3600);
  const days = new Set([...Object.keys(p.reservedByDay), ...byDayOd.keys()]);
  const byDay =
    keyId === null
      ? [...days].sort().map((day) => ({
          day,
          reserved: p.reservedByDay[day] ?? 0,
          onDemand: sum([...(byDayOd.get(day) ?? new Map<string, number>())].map(([g, sec]) => onDemandCharge(sec, rateOfGroup(g)).amount)),
        }))
      : [];
  return { period, spent, spentReserved, spentOnDemand, held, committed, forecast: spent + committed + projected, byDay };
}

/** Thresholds of the budget that `spent` has reached in `period` and whose event is not written yet. */
export function thresholdsDue(s: SpendState, period: string, spent: number): number[] {
  if (!s.budget) return [];
  const limit = s.budget.monthlyLimit.amount;
  const reached = new Set(s.periods[period]?.thresholdsReached ?? []);
  return s.budget.alertThresholdsPct.filter((pct) => !reached.has(pct) && spent * 100 >= limit * pct);
}

/**
 * Whether running on-demand must be stopped: asked for, and what the month costs (spent) plus the
 * held bookings reached the limit. (A running reservation's own unreached first hour does not count
 * here: it is what its start reserved for it.)
 */
export function mustStopOnDemand(s: SpendState, now: Date): boolean {
  if (!s.budget?.stopOnDemandAtLimit || Object.keys(s.running).length === 0) return false;
  const f = spendFigures(s, periodOf(now), now);
  return f.spent + f.held >= s.budget.monthlyLimit.amount;
}

// ---- the check ----

/**
 * Refuses a booking of `amount` that would take the org's (when its budget is enforced) or the
 * key's (when the key has a limit) spent + committed over the limit: 402 budget_exceeded.
 */
export function assertWithinBudget(s: SpendState, amount: Money, keyId: string | null, now: Date): void {
  const period = periodOf(now);
  const check = (limit: number, figures: SpendFigures, what: string, path: string) => {
    const remaining = limit - figures.spent - figures.committed;
    if (amount.amount > remaining) {
      throw new DomainError(
        'budget_exceeded',
        `${what} allows ${formatMoney(eur(limit))} in ${period}: ${formatMoney(eur(figures.spent))} spent and ${formatMoney(eur(figures.committed))} committed leave ${formatMoney(eur(Math.max(0, remaining)))}, and this booking costs ${formatMoney(amount)}`,
        {
          errors: [{ path, message: 'this booking would exceed it' }],
          extensions: { limit: eur(limit), amount, remaining: eur(Math.max(0, remaining)), period },
        },
      );
    }
  };
  if (s.budget?.enforce) check(s.budget.monthlyLimit.amount, spendFigures(s, period, now), "The org's budget", 'budget.monthlyLimit');
  const keyLimit = keyId === null ? undefined : s.keyLimits[keyId];
  if (keyId !== null && keyLimit !== undefined) check(keyLimit, spendFigures(s, period, now, keyId), 'This API key', 'apiKey.monthlySpendLimit');
}

// ---- changes (each returns a new state) ----

export type SpendChange =
  | { kind: 'hold'; reservationId: string; price: Money; keyId: string | null; heldAt: string }
  | { kind: 'extend_held'; price: Money; keyId: string | null; heldAt: string }
  | { kind: 'invoice'; amount: Money; keyId: string | null }
  | { kind: 'confirm'; price: Money; invoiced: Money; keyId: string | null; heldAt: string }
  | { kind: 'release_hold'; price: Money; keyId: string | null; heldAt: string }
  | { kind: 'credit'; amount: Money; keyId: string | null }
  | { kind: 'resale_earnings'; amount: Money; keyId: string | null }
  | { kind: 'start'; running: RunningOnDemand }
  | { kind: 'stop'; reservationId: string; stoppedAt: string };

/** Applies a change recorded at `now` (the month and day it counts in are `now`'s, a hold's are its own). */
export function applySpend(state: SpendState, change: SpendChange, now: Date): SpendState {
  const s = clone(state);
  const here = periodIn(s, periodOf(now));
  const day = dayOf(now);
  const addReserved = (p: PeriodSpend, amount: number, keyId: string | null) => {
    p.reserved += amount;
    p.reservedByDay[day] = (p.reservedByDay[day] ?? 0) + amount;
    const k = keyIn(p, keyId);
    if (k) k.reserved += amount;
  };
  const addHeld = (period: string, amount: number, keyId: string | null) => {
    const p = periodIn(s, period);
    p.held += amount;
    const k = keyIn(p, keyId);
    if (k) k.held += amount;
  };
  switch (change.kind) {
    case 'hold':
    case 'extend_held':
      addHeld(periodOf(new Date(change.heldAt)), change.price.amount, change.keyId);
      break;
    case 'confirm':
      addHeld(periodOf(new Date(change.heldAt)), -change.price.amount, change.keyId);
      addReserved(here, change.invoiced.amount, change.keyId);
      break;
    case 'release_hold':
      addHeld(periodOf(new Date(change.heldAt)), -change.price.amount, change.keyId);
      break;
    case 'invoice':
      addReserved(here, change.amount.amount, change.keyId);
      break;
    case 'credit':
    case 'resale_earnings':
      addReserved(here, -change.amount.amount, change.keyId);
      break;
    case 'start':
      s.running[change.running.reservationId] = change.running;
      break;
    case 'stop': {
      const r = s.running[change.reservationId];
      if (!r) break;
      delete s.running[change.reservationId];
      const g = groupOf(r.poolId, r.ratePerGpuHour);
      for (const period of periodsBetween(new Date(r.start), new Date(change.stoppedAt))) {
        const p = periodIn(s, period);
        const held = secondsByDay(secondsOf(r.start), secondsOf(change.stoppedAt), period);
        const gpuSeconds = sum(held.values()) * r.gpus;
        p.onDemandSeconds[g] = (p.onDemandSeconds[g] ?? 0) + gpuSeconds;
        for (const [d, sec] of held) {
          p.onDemandSecondsByDay[d] ??= {};
          p.onDemandSecondsByDay[d][g] = (p.onDemandSecondsByDay[d][g] ?? 0) + sec * r.gpus;
        }
        const k = keyIn(p, r.keyId);
        if (k) k.onDemand += onDemandCharge(gpuSeconds, r.ratePerGpuHour).amount;
      }
      break;
    }
  }
  return s;
}

/** Records thresholds whose event is being written. */
export function markThresholds(state: SpendState, period: string, pcts: number[]): SpendState {
  if (pcts.length === 0) return state;
  const s = clone(state);
  const p = periodIn(s, period);
  p.thresholdsReached = [...new Set([...p.thresholdsReached, ...pcts])].sort((a, b) => a - b);
  return s;
}

/** The pools and GPU-seconds of on-demand a month's figures count (for reconciliation with usage invoices). */
export function onDemandSecondsByPool(s: SpendState, period: string, now: Date): Map<string, number> {
  const out = new Map<string, number>();
  for (const [g, sec] of Object.entries(s.periods[period]?.onDemandSeconds ?? {})) out.set(poolOfGroup(g), (out.get(poolOfGroup(g)) ?? 0) + sec);
  for (const r of Object.values(s.running)) out.set(r.poolId, (out.get(r.poolId) ?? 0) + sum(runningSeconds(r, period, now).values()) * r.gpus);
  return out;
}

// ---- settings ----

export const MAX_LIMIT_CENTS = 1_000_000_000_00;

/** Checks thresholds (1–100, integers, strictly increasing); throws naming the field. */
export function validateThresholds(pcts: number[]): void {
  const bad = (i: number, message: string) =>
    new DomainError('validation_failed', `alertThresholdsPct[${i}]: ${message}`, { errors: [{ path: `alertThresholdsPct[${i}]`, message }] });
  pcts.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 1 || p > 100) throw bad(i, 'must be an integer percent from 1 to 100');
    if (i > 0 && p <= pcts[i - 1]!) throw bad(i, 'thresholds must be sorted in increasing order, without repeats');
  });
}

/**
 * What a reservation's change does to its org's spend, from its state before (null: it is new) and
 * after, and the amount a budget must check (null: never refused). For booking hooks that see states
 * rather than commands (`onCreate(r)` / `onChange(previous, next)`); `ratePerGpuHour` is the pool's
 * on-demand rate, needed for an on-demand start only.
 */
export function spendChangesOf(
  previous: Reservation | null,
  next: Reservation,
  ratePerGpuHour: number | null,
): { changes: SpendChange[]; check: Money | null } {
  const keyId = next.keyId ?? null;
  const price = (r: Reservation | null) => r?.price?.amount ?? 0;
  if (previous === null) {
    if (next.kind === 'on_demand' && next.status === 'active') {
      if (ratePerGpuHour === null) throw new RangeError('an on-demand start needs the pool’s on-demand rate');
      return {
        changes: [{ kind: 'start', running: { reservationId: next.id, poolId: next.poolId, gpus: next.gpus, start: next.start, ratePerGpuHour, keyId } }],
        check: onDemandFirstHour(next.gpus, ratePerGpuHour),
      };
    }
    if (next.status === 'held') return { changes: [{ kind: 'hold', reservationId: next.id, price: eur(price(next)), keyId, heldAt: next.createdAt }], check: eur(price(next)) };
    return { changes: [], check: null };
  }
  const heldAt = next.createdAt;
  if (previous.status === 'held' && next.status === 'confirmed') {
    return { changes: [{ kind: 'confirm', price: eur(price(previous)), invoiced: eur(price(next)), keyId, heldAt }], check: null };
  }
  if (previous.status === 'held' && (next.status === 'cancelled' || next.status === 'expired')) {
    return { changes: [{ kind: 'release_hold', price: eur(price(previous)), keyId, heldAt }], check: null };
  }
  if (previous.status === 'confirmed' && next.status === 'cancelled') {
    const refund = next.refund?.amount.amount ?? 0;
    return { changes: refund > 0 ? [{ kind: 'credit', amount: eur(refund), keyId }] : [], check: null };
  }
  if (previous.kind === 'on_demand' && previous.status === 'active' && next.status === 'stopped') {
    return { changes: [{ kind: 'stop', reservationId: next.id, stoppedAt: next.stoppedAt ?? next.end ?? next.updatedAt }], check: null };
  }
  const added = price(next) - price(previous);
  if (added > 0 && previous.status === next.status) {
    const change: SpendChange = next.status === 'held' ? { kind: 'extend_held', price: eur(added), keyId, heldAt } : { kind: 'invoice', amount: eur(added), keyId };
    return { changes: [change], check: eur(added) };
  }
  return { changes: [], check: null };
}
