/**
 * Metering's event rules, pure: the limits of a batch, what makes an event refused on its own or
 * against its reservation, and how an event's GPU-seconds split by hour and by minute.
 */
import { remainingGpusAt } from '#domain/resale.ts';
import type { Reservation } from '#domain/reservation.ts';
import { DAY_MS, HOUR_MS } from '#domain/time.ts';

export const MAX_EVENTS_PER_REQUEST = 1000;
export const DEFAULT_TRANSACTION_CONCURRENCY = 4;
/** Meters' clocks may run ahead: an event may end up to 5 minutes after our now. */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;
/** Events starting more than 35 days ago are refused (claims are kept 40 days, so never re-counted). */
export const MAX_EVENT_AGE_MS = 35 * DAY_MS;
/** One event covers at most 24 hours: its claim and hourly counts (≤ 25 hours × 3 + 2) fit one transaction. */
export const MAX_EVENT_DURATION_MS = 24 * HOUR_MS;

/** Why an event was refused. Stable strings: meters may switch on them. */
export const USAGE_REJECTION_REASONS = {
  duplicate_in_batch: 'the same id appears earlier in this request with other content',
  ends_before_start: 'end is not after start (after truncating both to whole seconds)',
  interval_too_long: 'the interval is longer than 24 hours; split it',
  in_future: 'end is more than 5 minutes after the server clock',
  too_old: 'start is more than 35 days before the server clock',
  unknown_reservation: 'no reservation with this id runs at this meter key’s site (the same answer whether the id exists elsewhere or not)',
  too_many_gpus: 'gpus exceeds the GPUs of the reservation',
  resold_hours: 'gpus exceeds the GPUs the reservation still has in an hour whose GPUs it resold to another org (resale)',
  interval_outside_reservation: 'the reservation never ran, or the interval is not within [start, end] of the reservation (end = stop time for on-demand, now while it runs)',
  exceeds_reservation:
    'with the usage already counted, some minute of the interval would hold more than the reservation’s GPUs × 60 GPU-seconds (a reservation cannot use more than its GPUs × the seconds of any minute)',
} as const;
export type UsageRejectionReason = keyof typeof USAGE_REJECTION_REASONS;

export interface UsageEventInput {
  id: string;
  reservationId: string;
  start: string;
  end: string;
  gpus: number;
  /** Measured IT energy of the interval, Wh; when sent it is the footprint's figure for these GPU-seconds. */
  energyWh?: number | undefined;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: { id: string; reason: UsageRejectionReason }[];
}

/** An event with its instants truncated to whole seconds (epoch seconds). */
export interface MeteredEvent {
  id: string;
  reservationId: string;
  startSec: number;
  endSec: number;
  gpus: number;
  energyWh: number | null;
}

export const toEvent = (e: UsageEventInput): MeteredEvent => ({
  id: e.id,
  reservationId: e.reservationId,
  startSec: Math.floor(Date.parse(e.start) / 1000),
  endSec: Math.floor(Date.parse(e.end) / 1000),
  gpus: e.gpus,
  energyWh: e.energyWh ?? null,
});

export const sameContent = (a: MeteredEvent, b: MeteredEvent): boolean =>
  a.reservationId === b.reservationId && a.startSec === b.startSec && a.endSec === b.endSec && a.gpus === b.gpus && a.energyWh === b.energyWh;

/**
 * GPU-seconds of [startSec, endSec) × gpus in each UTC hour it touches. Exact: the pieces' seconds
 * add up to endSec − startSec, and each piece lands in the hour it happened.
 */
export function splitByHour(startSec: number, endSec: number, gpus: number): { epochHour: number; gpuSeconds: number }[] {
  const out: { epochHour: number; gpuSeconds: number }[] = [];
  for (let hour = Math.floor(startSec / 3600); hour * 3600 < endSec; hour++) {
    const seconds = Math.min(endSec, (hour + 1) * 3600) - Math.max(startSec, hour * 3600);
    if (seconds > 0) out.push({ epochHour: hour, gpuSeconds: seconds * gpus });
  }
  return out;
}

/** Checks that need only the event and the clock. */
export function checkEventAlone(e: MeteredEvent, now: Date): UsageRejectionReason | null {
  if (!(e.endSec > e.startSec)) return 'ends_before_start';
  if ((e.endSec - e.startSec) * 1000 > MAX_EVENT_DURATION_MS) return 'interval_too_long';
  if (e.endSec * 1000 > now.getTime() + FUTURE_TOLERANCE_MS) return 'in_future';
  if (e.startSec * 1000 < now.getTime() - MAX_EVENT_AGE_MS) return 'too_old';
  return null;
}

const NEVER_RAN: ReadonlySet<Reservation['status']> = new Set(['held', 'expired', 'cancelled']);

/** Checks against the reservation, for a meter of `meterSite`. */
export function checkEventAgainst(e: MeteredEvent, r: Reservation | null, meterSite: string | null): UsageRejectionReason | null {
  // A reservation at another site is answered exactly like an id that does not exist: a meter learns nothing about other sites.
  if (!r || r.site !== meterSite) return 'unknown_reservation';
  if (e.gpus > r.gpus) return 'too_many_gpus';
  if (NEVER_RAN.has(r.status)) return 'interval_outside_reservation';
  const startSec = Date.parse(r.start) / 1000;
  const endSec = r.end ? Date.parse(r.end) / 1000 : Number.POSITIVE_INFINITY;
  if (e.startSec < startSec || e.endSec > endSec) return 'interval_outside_reservation';
  // Hours sold to another org are the buyer's: the seller may use only what it still has in them.
  if (r.resale?.sold.length) {
    for (let h = Math.floor(e.startSec / 3600); h * 3600 < e.endSec; h++) if (e.gpus > remainingGpusAt(r, h)) return 'resold_hours';
  }
  return null;
}

/**
 * GPU-seconds of [startSec, endSec) × gpus in each minute of UTC hour `epochHour` it touches, as
 * [minute of the hour (0–59), GPU-seconds]. Exact: they add up to the event's piece of that hour.
 */
export function splitByMinute(startSec: number, endSec: number, gpus: number, epochHour: number): [number, number][] {
  const hourStart = epochHour * 3600;
  const from = Math.max(startSec, hourStart);
  const to = Math.min(endSec, hourStart + 3600);
  const out: [number, number][] = [];
  for (let minute = Math.floor((from - hourStart) / 60); hourStart + minute * 60 < to; minute++) {
    const seconds = Math.min(to, hourStart + (minute + 1) * 60) - Math.max(from, hourStart + minute * 60);
    if (seconds > 0) out.push([minute, seconds * gpus]);
  }
  return out;
}
