/**
 * Booking rules: what a request must satisfy before it may take capacity. Pure checks, plus the
 * catalog lookups they need. The capacity decision itself is `assertFree` in shared/domain/capacity.ts.
 */
import { createHash } from 'node:crypto';
import { MAX_LEAD_MS, MAX_RESERVED_HOURS } from '#domain/capacity.ts';
import { peakCapacity, poolLabel, siteClosed, type Pool, type Site } from '#domain/catalog.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import { refundFor } from '#domain/cancellation.ts';
import { eur, type Money } from '#domain/money.ts';
import { shareOf, unsoldGpuHours } from '#domain/resale.ts';
import type { Refund, Reservation } from '#domain/reservation.ts';
import { refusalOf, throwRefusal } from '#domain/reservation-actions.ts';
import { HOUR_MS, isWholeHour } from '#domain/time.ts';
import type { CatalogCache } from '#store/catalog.ts';
import type { Quote } from '#store/quotes.ts';

export const QUOTE_TTL_MS = 15 * 60_000;
export const HOLD_TTL_MS = 15 * 60_000;
export const ENDING_SOON_MS = HOUR_MS;

export const semantic = (path: string, message: string) => new DomainError('unprocessable', `${path}: ${message}`, { errors: [{ path, message }] });

export function orgOf(principal: Principal): string {
  if (principal.role !== 'customer' || !principal.orgId) throw new DomainError('forbidden', 'Only customer keys act on reservations');
  return principal.orgId;
}

/** What a client's create request is remembered by: its Idempotency-Key and what it asked for. */
export const createRequestHash = (key: string | undefined, ...request: (string | number)[]): string | null =>
  key === undefined ? null : createHash('sha256').update([key, ...request].join('\n')).digest('hex');

export async function poolFor(catalog: CatalogCache, site: string, gpuType: string): Promise<{ pool: Pool; label: string }> {
  const c = await catalog.get();
  if (!c.sites.some((s) => s.id === site)) throw semantic('site', `unknown site "${site}"`);
  if (!c.gpuTypes.some((g) => g.id === gpuType)) throw semantic('gpuType', `unknown GPU type "${gpuType}"`);
  const pool = c.pools.find((p) => p.site === site && p.gpuType === gpuType);
  if (!pool) throw semantic('gpuType', `site "${site}" has no ${gpuType} pool`);
  return { pool, label: poolLabel(pool, c) };
}

export async function poolById(catalog: CatalogCache, poolId: string): Promise<Pool> {
  const pool = (await catalog.get()).pools.find((p) => p.id === poolId);
  if (!pool) throw new Error(`pool ${poolId} vanished from the catalog`);
  return pool;
}

export async function siteOf(catalog: CatalogCache, siteId: string): Promise<Site | undefined> {
  return (await catalog.get()).sites.find((s) => s.id === siteId);
}

/**
 * The site takes a new booking (shared/domain/catalog.ts, `siteClosed`): not under maintenance (409
 * site-closed), and open by the booking's first hour (`start`, or now for an on-demand start: 422
 * naming the field).
 */
export function checkSiteOpen(site: Site | undefined, start: Date | null, now: Date): void {
  if (!site) return;
  const closed = siteClosed(site);
  if (closed) throw closed;
  if ((start ?? now) < new Date(site.opensAt)) throw semantic(start ? 'start' : 'site', `site ${site.id} opens at ${site.opensAt}`);
}

export function checkGpus(pool: Pool, gpus: number): void {
  if (gpus < pool.minGpus) throw semantic('gpus', `at least ${pool.minGpus} GPUs per booking in pool ${pool.id}`);
  if (gpus % pool.stepGpus !== 0) throw semantic('gpus', `must be a multiple of ${pool.stepGpus} (whole nodes)`);
  const most = peakCapacity(pool);
  if (gpus > most) throw semantic('gpus', `pool ${pool.id} has ${most} GPUs at most (capacity schedule included)`);
}

export function checkWindow(pool: Pool, start: Date, end: Date, now: Date): void {
  if (!isWholeHour(start)) throw semantic('start', 'must be a whole UTC hour (e.g. 2026-12-01T08:00:00Z)');
  if (!isWholeHour(end)) throw semantic('end', 'must be a whole UTC hour');
  if (end <= start) throw semantic('end', 'must be after start');
  const hours = (end.getTime() - start.getTime()) / HOUR_MS;
  if (hours > MAX_RESERVED_HOURS) throw semantic('end', 'a reservation lasts at most 365 days');
  if (start <= now) throw semantic('start', 'must be in the future');
  if (start.getTime() - now.getTime() > MAX_LEAD_MS) throw semantic('start', 'bookings start at most 12 months ahead');
  if (start < new Date(pool.bookableFrom)) throw semantic('start', `pool ${pool.id} is bookable from ${pool.bookableFrom}`);
}

/** A quote may become a hold: the org's own, unused, unexpired, and its window not started. */
export function checkQuoteHoldable(found: { quote: Quote; usedBy: string | null } | null, quoteId: string, orgId: string, now: Date): Quote {
  if (!found || found.quote.orgId !== orgId) throw notFound('Quote', quoteId);
  const q = found.quote;
  if (found.usedBy) throw new DomainError('invalid_state', `Quote ${quoteId} was already used by reservation ${found.usedBy}`);
  if (new Date(q.expiresAt) <= now) throw new DomainError('quote_expired', `Quote ${quoteId} expired at ${q.expiresAt}; request a new quote`);
  if (new Date(q.start) <= now) throw new DomainError('invalid_state', `The quoted window started at ${q.start}; request a new quote`);
  return q;
}

/** A held reservation may be confirmed now (domain/reservation-actions.ts). */
export const checkConfirmable = (r: Reservation, now: Date): void => throwRefusal(refusalOf(r, 'confirm', now));

/** An extension's new end: a later whole hour, of a held, confirmed or active reserved booking not yet ended, 365 days in total at most. */
export function checkExtendable(r: Reservation, newEnd: Date, now: Date): { oldEnd: Date; totalHours: number } {
  // The state refusals first, then what is wrong with the new end, then a booking that already ended.
  const refused = refusalOf(r, 'extend', now);
  if (refused?.why !== 'ended') throwRefusal(refused);
  if (!isWholeHour(newEnd)) throw semantic('end', 'must be a whole UTC hour');
  const oldEnd = new Date(r.end!);
  if (newEnd <= oldEnd) throw semantic('end', `must be after the current end ${r.end}`);
  throwRefusal(refused);
  const totalHours = (newEnd.getTime() - Date.parse(r.start)) / HOUR_MS;
  if (totalHours > MAX_RESERVED_HOURS) throw semantic('end', 'a reservation lasts at most 365 days in total');
  return { oldEnd, totalHours };
}

/** A new reservation's fields common to holds and on-demand starts. */
export function newReservation(fields: Pick<Reservation, 'id' | 'orgId' | 'kind' | 'status' | 'poolId' | 'site' | 'gpuType' | 'gpus' | 'start' | 'end' | 'holdExpiresAt' | 'quoteId' | 'price' | 'lines' | 'lastChangeId' | 'keyId'>, now: Date): Reservation {
  return {
    ...fields,
    invoiceId: null,
    invoiceIds: [],
    refund: null,
    endingSoonNotified: false,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    confirmedAt: null,
    cancelledAt: null,
    stoppedAt: null,
    version: 1,
  };
}

/** The refund of cancelling `r` at `now`: a hold costs nothing; a confirmed booking by the policy (shared/domain/cancellation.ts). */
export const cancellationRefund = (r: Reservation, now: Date): Refund =>
  r.status === 'held'
    ? { percent: 100, amount: eur(0), rule: 'Hold released before confirmation: nothing was charged' }
    : refundFor({ paid: unsoldPart(r), start: new Date(r.start), now });

/** What the booking paid for the GPU-hours it still has: the whole price, less the share of hours sold to other orgs (rounded down to the cent). */
export function unsoldPart(r: Reservation): Money {
  const price = r.price ?? eur(0);
  if (!r.resale || r.resale.sold.length === 0 || !r.end) return price;
  const total = r.gpus * ((Date.parse(r.end) - Date.parse(r.start)) / HOUR_MS);
  return shareOf(price, unsoldGpuHours(r), total);
}

/** A reservation may be cancelled now: reserved, and held or confirmed and not started (domain/reservation-actions.ts). */
export const checkCancellable = (r: Reservation, now: Date): void => throwRefusal(refusalOf(r, 'cancel', now));
