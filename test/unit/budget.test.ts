import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applySpend,
  assertWithinBudget,
  emptySpendState,
  markThresholds,
  onDemandFirstHour,
  spendChangesOf,
  spendFigures,
  thresholdsDue,
  type SpendState,
} from '../../shared/domain/budget.ts';
import { DomainError } from '../../shared/domain/errors.ts';
import { eur } from '../../shared/domain/money.ts';
import type { Reservation } from '../../shared/domain/reservation.ts';

const at = (iso: string) => new Date(iso);
const withBudget = (limit: number, enforce = true): SpendState => ({
  ...emptySpendState('org_a'),
  budget: { monthlyLimit: eur(limit), alertThresholdsPct: [50, 100], enforce, stopOnDemandAtLimit: false, updatedAt: '2026-11-01T00:00:00Z' },
});

const reservation = (over: Partial<Reservation>): Reservation => ({
  id: 'res_1',
  orgId: 'org_a',
  kind: 'reserved',
  status: 'held',
  poolId: 'p',
  site: 's',
  gpuType: 'g',
  gpus: 8,
  start: '2026-11-20T00:00:00Z',
  end: '2026-11-20T03:00:00Z',
  holdExpiresAt: null,
  quoteId: 'q',
  price: eur(1000),
  lines: [],
  invoiceId: null,
  invoiceIds: [],
  refund: null,
  endingSoonNotified: false,
  createdAt: '2026-11-10T10:00:00Z',
  updatedAt: '2026-11-10T10:00:00Z',
  confirmedAt: null,
  cancelledAt: null,
  stoppedAt: null,
  keyId: 'key_1',
  lastChangeId: 'c',
  version: 1,
  ...over,
});

describe('budget check', () => {
  it('allows exactly what remains and refuses one cent more, for any sequence of holds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.integer({ min: 1, max: 300_000 }), { maxLength: 30 }), (limit, prices) => {
        let s = withBudget(limit);
        const now = at('2026-11-10T10:00:00Z');
        for (const [i, p] of prices.entries()) {
          const f = spendFigures(s, '2026-11', now);
          const fits = f.spent + f.committed + p <= limit;
          let refused = false;
          try {
            assertWithinBudget(s, eur(p), null, now);
          } catch (e) {
            refused = e instanceof DomainError && e.code === 'budget_exceeded';
          }
          expect(refused).toBe(!fits);
          if (!refused) s = applySpend(s, { kind: 'hold', reservationId: `r${i}`, price: eur(p), keyId: null, heldAt: now.toISOString() }, now);
        }
        const f = spendFigures(s, '2026-11', now);
        expect(f.spent + f.committed).toBeLessThanOrEqual(limit);
      }),
    );
  });

  it('moves a hold from committed to spent on confirm, and back out on cancel with a refund', () => {
    const now = at('2026-11-10T10:00:00Z');
    let s = applySpend(withBudget(10_000), { kind: 'hold', reservationId: 'r', price: eur(4000), keyId: 'k', heldAt: now.toISOString() }, now);
    expect(spendFigures(s, '2026-11', now)).toMatchObject({ spent: 0, committed: 4000 });
    s = applySpend(s, { kind: 'confirm', price: eur(4000), invoiced: eur(4000), keyId: 'k', heldAt: now.toISOString() }, now);
    expect(spendFigures(s, '2026-11', now)).toMatchObject({ spent: 4000, committed: 0 });
    expect(spendFigures(s, '2026-11', now, 'k')).toMatchObject({ spent: 4000, committed: 0 });
    s = applySpend(s, { kind: 'credit', amount: eur(2000), keyId: 'k' }, now);
    expect(spendFigures(s, '2026-11', now).spent).toBe(2000);
    expect(thresholdsDue(s, '2026-11', 2000)).toEqual([]);
    expect(thresholdsDue(s, '2026-11', 5000)).toEqual([50]);
    expect(thresholdsDue(markThresholds(s, '2026-11', [50]), '2026-11', 10_000)).toEqual([100]);
  });
});

describe('on-demand', () => {
  it('commits its first hour, charges per second held, and splits a run over months and days at stop', () => {
    const rate = 250;
    const start = at('2026-11-30T23:30:00Z');
    let s = applySpend(withBudget(1_000_000), { kind: 'start', running: { reservationId: 'od', poolId: 'p', gpus: 8, start: start.toISOString(), ratePerGpuHour: rate, keyId: null } }, start);
    expect(spendFigures(s, '2026-11', start)).toMatchObject({ spent: 0, committed: onDemandFirstHour(8, rate).amount });
    const later = at('2026-11-30T23:45:00Z');
    expect(spendFigures(s, '2026-11', later)).toMatchObject({ spent: 500, committed: 1500 });
    const stop = at('2026-12-01T01:00:00Z');
    s = applySpend(s, { kind: 'stop', reservationId: 'od', stoppedAt: stop.toISOString() }, stop);
    expect(spendFigures(s, '2026-11', stop)).toMatchObject({ spent: 1000, committed: 0 });
    expect(spendFigures(s, '2026-12', stop)).toMatchObject({ spent: 2000, committed: 0 });
    expect(spendFigures(s, '2026-12', stop).byDay).toEqual([{ day: '01', reserved: 0, onDemand: 2000 }]);
  });
});

describe('spendChangesOf', () => {
  it('derives each booking change from the states before and after', () => {
    const held = reservation({});
    expect(spendChangesOf(null, held, null)).toEqual({ changes: [{ kind: 'hold', reservationId: 'res_1', price: eur(1000), keyId: 'key_1', heldAt: held.createdAt }], check: eur(1000) });
    const confirmed = reservation({ status: 'confirmed' });
    expect(spendChangesOf(held, confirmed, null).changes[0]).toMatchObject({ kind: 'confirm', invoiced: eur(1000) });
    expect(spendChangesOf(held, reservation({ status: 'expired' }), null).changes[0]).toMatchObject({ kind: 'release_hold', price: eur(1000) });
    expect(spendChangesOf(confirmed, reservation({ status: 'confirmed', price: eur(1500) }), null)).toEqual({ changes: [{ kind: 'invoice', amount: eur(500), keyId: 'key_1' }], check: eur(500) });
    expect(spendChangesOf(held, reservation({ price: eur(1300) }), null)).toMatchObject({ changes: [{ kind: 'extend_held', price: eur(300) }], check: eur(300) });
    const refund = { percent: 50, amount: eur(500), rule: '50 %' };
    expect(spendChangesOf(confirmed, reservation({ status: 'cancelled', refund }), null).changes).toEqual([{ kind: 'credit', amount: eur(500), keyId: 'key_1' }]);
    const od = reservation({ kind: 'on_demand', status: 'active', price: null, end: null });
    expect(spendChangesOf(null, od, 300)).toMatchObject({ changes: [{ kind: 'start', running: { ratePerGpuHour: 300 } }], check: eur(2400) });
    expect(spendChangesOf(od, reservation({ kind: 'on_demand', status: 'stopped', stoppedAt: '2026-11-10T11:00:00Z' }), null).changes[0]).toMatchObject({ kind: 'stop' });
    expect(spendChangesOf(confirmed, reservation({ status: 'active' }), null)).toEqual({ changes: [], check: null });
  });
});
