import { describe, expect, it } from 'vitest';
import { DomainError } from '../../shared/domain/errors.ts';
import { allowedActions, refusalOf, throwRefusal } from '../../shared/domain/reservation-actions.ts';
import type { Reservation } from '../../shared/domain/reservation.ts';

const now = new Date('2026-12-10T12:00:00Z');
const reservation = (over: Partial<Reservation>): Reservation => ({
  id: 'res_1',
  orgId: 'org_1',
  kind: 'reserved',
  status: 'held',
  poolId: 'pool',
  site: 'site',
  gpuType: 'h100',
  gpus: 8,
  start: '2026-12-11T00:00:00Z',
  end: '2026-12-12T00:00:00Z',
  holdExpiresAt: '2026-12-10T12:15:00Z',
  quoteId: 'q_1',
  price: null,
  lines: [],
  invoiceId: null,
  invoiceIds: [],
  refund: null,
  endingSoonNotified: false,
  createdAt: '2026-12-10T11:00:00Z',
  updatedAt: '2026-12-10T11:00:00Z',
  confirmedAt: null,
  cancelledAt: null,
  stoppedAt: null,
  lastChangeId: 'c',
  version: 1,
  ...over,
});

describe('allowed actions (the rule the booking service enforces and the portal shows)', () => {
  it.each([
    ['a live hold', {}, { confirm: true, extend: true, cancel: true, stop: false }],
    ['an expired hold not yet swept', { holdExpiresAt: '2026-12-10T11:59:59Z' }, { confirm: false, extend: false, cancel: true, stop: false }],
    ['a confirmed booking before its start', { status: 'confirmed', holdExpiresAt: null }, { confirm: false, extend: true, cancel: true, stop: false }],
    ['a confirmed booking after its start', { status: 'confirmed', holdExpiresAt: null, start: '2026-12-10T10:00:00Z' }, { confirm: false, extend: true, cancel: false, stop: false }],
    ['an active reserved booking', { status: 'active', holdExpiresAt: null, start: '2026-12-10T10:00:00Z' }, { confirm: false, extend: true, cancel: false, stop: false }],
    ['an active booking past its end (not yet completed)', { status: 'active', holdExpiresAt: null, start: '2026-12-09T00:00:00Z', end: '2026-12-10T12:00:00Z' }, { confirm: false, extend: false, cancel: false, stop: false }],
    ['a running on-demand reservation', { kind: 'on_demand', status: 'active', holdExpiresAt: null, end: null }, { confirm: false, extend: false, cancel: false, stop: true }],
    ['a completed booking', { status: 'completed', holdExpiresAt: null }, { confirm: false, extend: false, cancel: false, stop: false }],
    ['a cancelled hold', { status: 'cancelled', holdExpiresAt: null }, { confirm: false, extend: false, cancel: false, stop: false }],
  ] as const)('%s', (_name, over, expected) => {
    expect(allowedActions(reservation(over as Partial<Reservation>), now)).toEqual(expected);
  });

  it('names why an action is refused, as the API answers it (409 invalid_state)', () => {
    expect(refusalOf(reservation({ holdExpiresAt: '2026-12-10T11:00:00Z' }), 'confirm', now)).toEqual({ why: 'hold_expired', message: 'The hold on res_1 expired at 2026-12-10T11:00:00Z; quote and reserve again' });
    expect(refusalOf(reservation({ status: 'confirmed', start: '2026-12-10T11:00:00Z' }), 'cancel', now)?.why).toBe('started');
    expect(refusalOf(reservation({ status: 'active', end: '2026-12-10T11:00:00Z' }), 'extend', now)?.why).toBe('ended');
    expect(refusalOf(reservation({ kind: 'on_demand', status: 'active', end: null }), 'cancel', now)).toEqual({ why: 'state', message: 'Reservation res_1 is active (on_demand); it cannot become cancelled' });
    expect(() => throwRefusal(refusalOf(reservation({ status: 'completed' }), 'stop', now))).toThrow(DomainError);
    expect(() => throwRefusal(refusalOf(reservation({}), 'confirm', now))).not.toThrow();
  });
});
