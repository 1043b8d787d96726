/**
 * Which actions a reservation allows at an instant: the one rule the booking service enforces (its
 * refusals are this rule's messages, answered 409 invalid_state) and the portal shows (which buttons a
 * reservation page offers). Pure: the reservation as read and the instant.
 */
import { DomainError } from './errors.ts';
import { canBecome, type Reservation } from './reservation.ts';

export type ReservationAction = 'confirm' | 'extend' | 'cancel' | 'stop';

/**
 * Why an action is refused: the reservation's state does not allow it (`state`), its hold expired
 * (`hold_expired`), it has started (`started`, for a cancellation) or ended (`ended`, for an extension).
 */
export interface Refusal {
  why: 'state' | 'hold_expired' | 'started' | 'ended';
  message: string;
}

const STATUS_OF: Record<ReservationAction, 'confirmed' | 'cancelled' | 'stopped' | null> = { confirm: 'confirmed', cancel: 'cancelled', stop: 'stopped', extend: null };

const holdExpired = (r: Reservation, now: Date): Refusal | null =>
  r.status === 'held' && r.holdExpiresAt && new Date(r.holdExpiresAt) <= now
    ? { why: 'hold_expired', message: `The hold on ${r.id} expired at ${r.holdExpiresAt}; quote and reserve again` }
    : null;

/** The first reason `action` is refused on `r` at `now`, or null when it is allowed. */
export function refusalOf(r: Reservation, action: ReservationAction, now: Date): Refusal | null {
  if (action === 'extend') {
    if (r.kind !== 'reserved' || !['held', 'confirmed', 'active'].includes(r.status) || !r.end) {
      return { why: 'state', message: `Reservation ${r.id} is ${r.status} (${r.kind}); only held, confirmed or active reserved bookings extend` };
    }
    return holdExpired(r, now) ?? (new Date(r.end) <= now ? { why: 'ended', message: `Reservation ${r.id} already ended` } : null);
  }
  const to = STATUS_OF[action]!;
  if (!canBecome(r, to)) return { why: 'state', message: `Reservation ${r.id} is ${r.status} (${r.kind}); it cannot become ${to}` };
  if (action === 'confirm') return holdExpired(r, now);
  if (action === 'cancel' && r.status === 'confirmed' && new Date(r.start) <= now) {
    return { why: 'started', message: `Reservation ${r.id} has started; it can no longer be cancelled` };
  }
  return null;
}

/** Throws the refusal as a 409 invalid_state (the booking service's check). */
export function throwRefusal(refusal: Refusal | null): void {
  if (refusal) throw new DomainError('invalid_state', refusal.message);
}

/** What may still be done with `r` at `now` (the portal's buttons; the service checks again when asked). */
export function allowedActions(r: Reservation, now: Date): Record<ReservationAction, boolean> {
  return {
    confirm: refusalOf(r, 'confirm', now) === null,
    extend: refusalOf(r, 'extend', now) === null,
    cancel: refusalOf(r, 'cancel', now) === null,
    stop: refusalOf(r, 'stop', now) === null,
  };
}
