/** Reservation model and its state machine (pure). */
import type { Money } from './money.ts';
import type { PriceLine } from './pricing.ts';
import { DomainError } from './errors.ts';
import type { ResaleState } from './resale.ts';

export type ReservationKind = 'reserved' | 'on_demand';
export type ReservationStatus = 'held' | 'confirmed' | 'active' | 'completed' | 'expired' | 'cancelled' | 'stopped';

export interface Refund {
  percent: number;
  amount: Money;
  rule: string;
}

export interface Reservation {
  id: string;
  orgId: string;
  kind: ReservationKind;
  status: ReservationStatus;
  poolId: string;
  site: string;
  gpuType: string;
  gpus: number;
  start: string;
  /** null for a running on-demand reservation. */
  end: string | null;
  holdExpiresAt: string | null;
  quoteId: string | null;
  /** Total price of a reserved booking (quote total plus extensions); null for on-demand. */
  price: Money | null;
  lines: PriceLine[];
  invoiceId: string | null;
  invoiceIds: string[];
  refund: Refund | null;
  endingSoonNotified: boolean;
  createdAt: string;
  updatedAt: string;
  confirmedAt: string | null;
  cancelledAt: string | null;
  stoppedAt: string | null;
  /** The API key that made the booking (its monthly spend limit applies); absent on bookings made before keys were recorded. */
  keyId?: string | null;
  /** Id of the service call that made the last change: a retry of a call that did commit recognises itself. */
  lastChangeId: string;
  /** Resale (shared/domain/resale.ts): the seller's open listings and sold hours, the buyer's purchased hours; absent when none. */
  resale?: ResaleState | undefined;
  version: number;
}

/** The reservation as the API returns it (and as events carry it). */
export function toApiReservation(r: Reservation) {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    site: r.site,
    gpuType: r.gpuType,
    poolId: r.poolId,
    gpus: r.gpus,
    start: r.start,
    end: r.end,
    holdExpiresAt: r.holdExpiresAt,
    quoteId: r.quoteId,
    price: r.price,
    lines: r.lines.map((l) => ({ description: l.description, amount: l.amount })),
    invoiceId: r.invoiceId,
    refund: r.refund,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    confirmedAt: r.confirmedAt,
    cancelledAt: r.cancelledAt,
    stoppedAt: r.stoppedAt,
  };
}
export type ApiReservation = ReturnType<typeof toApiReservation>;

/** GPUs of these states occupy capacity. */
export const OCCUPYING: ReadonlySet<ReservationStatus> = new Set(['held', 'confirmed', 'active']);

const TRANSITIONS: Record<ReservationStatus, ReservationStatus[]> = {
  held: ['confirmed', 'expired', 'cancelled'],
  confirmed: ['active', 'cancelled'],
  active: ['completed', 'stopped'],
  completed: [],
  expired: [],
  cancelled: [],
  stopped: [],
};

/** Whether `r` may move to `to`: the state machine, stops only on demand, cancellations only reserved. */
export const canBecome = (r: Pick<Reservation, 'status' | 'kind'>, to: ReservationStatus): boolean =>
  TRANSITIONS[r.status].includes(to) && (to !== 'stopped' || r.kind === 'on_demand') && (to !== 'cancelled' || r.kind === 'reserved');

export function assertTransition(r: Reservation, to: ReservationStatus): void {
  if (!canBecome(r, to)) {
    throw new DomainError('invalid_state', `Reservation ${r.id} is ${r.status} (${r.kind}); it cannot become ${to}`);
  }
}

/**
 * The next instant at which time alone changes this reservation (hold expiry, start, ending soon,
 * end), or null when nothing is pending. Drives the sweeper's index.
 */
export function nextDueAt(r: Reservation): string | null {
  if (r.kind !== 'reserved') return null;
  switch (r.status) {
    case 'held':
      return r.holdExpiresAt;
    case 'confirmed':
      return r.start;
    case 'active': {
      if (!r.end) return null;
      if (!r.endingSoonNotified) {
        const soon = new Date(Date.parse(r.end) - 3_600_000);
        return new Date(Math.max(soon.getTime(), Date.parse(r.start))).toISOString();
      }
      return r.end;
    }
    default:
      return null;
  }
}
