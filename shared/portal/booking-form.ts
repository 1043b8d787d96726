/**
 * The Book form: what a person types (site and GPU type by id or name, a GPU count, UTC times like
 * `2026-12-01T08:00`) turned into the booking service's QuoteRequest, or field errors named by the
 * labels the person sees. Pure.
 */
import { MAX_LEAD_MS, MAX_RESERVED_HOURS } from '#domain/capacity.ts';
import type { Catalog, Pool } from '#domain/catalog.ts';
import { HOUR_MS, isWholeHour } from '#domain/time.ts';
import type { FieldError } from '#domain/errors.ts';
import type { QuoteRequest } from '../services/booking.ts';

export type BookingField = 'site' | 'gpuType' | 'gpus' | 'start' | 'end';
export type BookingFormValues = Record<BookingField, string>;

export const BOOKING_FIELDS: readonly BookingField[] = ['site', 'gpuType', 'gpus', 'start', 'end'];
export const FIELD_LABELS: Record<BookingField, string> = { site: 'Site', gpuType: 'GPU type', gpus: 'GPUs', start: 'Start', end: 'End' };

export const emptyBookingForm = (): BookingFormValues => ({ site: '', gpuType: '', gpus: '', start: '', end: '' });

export const isBookingField = (path: string): path is BookingField => (BOOKING_FIELDS as readonly string[]).includes(path);

const UTC_INPUT = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$/i;

/**
 * `2026-12-01T08:00` (what a datetime-local field sends), with optional seconds, and an optional `Z`,
 * `UTC` or offset. Without an offset the time is UTC. Null when it is not a real date and time.
 */
export function parseUtcInput(raw: string): Date | null {
  const m = UTC_INPUT.exec(raw.trim());
  if (!m) return null;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const millis = Number((m[7] ?? '0').padEnd(3, '0'));
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const check = new Date(utc);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    check.getUTCHours() !== hour ||
    check.getUTCMinutes() !== minute ||
    check.getUTCSeconds() !== second
  ) {
    return null;
  }
  const zone = m[8]?.toUpperCase();
  if (!zone || zone === 'Z' || zone === 'UTC') return check;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
  if (offsetMinutes > 14 * 60) return null;
  return new Date(utc - sign * offsetMinutes * 60_000);
}

/** `Valence–Rovaltain` → `valence-rovaltain`, `H100 SXM 80GB` → `h100-sxm-80gb`. */
export const slugify = (text: string): string =>
  text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');

/** An id, a display name, or an unambiguous beginning of an id (`h100`). */
export function resolve<T extends { id: string; name: string }>(items: readonly T[], typed: string): T | null {
  const wanted = slugify(typed);
  if (!wanted) return null;
  const exact = items.find((i) => i.id === wanted || slugify(i.name) === wanted);
  if (exact) return exact;
  const byPrefix = items.filter((i) => i.id.startsWith(`${wanted}-`) || slugify(i.name).startsWith(`${wanted}-`));
  return byPrefix.length === 1 ? byPrefix[0]! : null;
}

/** The pool of a site and GPU type, or null. */
export const poolOf = (catalog: Catalog, site: string, gpuType: string): Pool | null => catalog.pools.find((p) => p.site === site && p.gpuType === gpuType) ?? null;

/**
 * The form checked as a whole, every error at once: what is missing or unreadable, and, when a pool
 * and a window are known, the pool's rules (whole nodes, opening date) and the booking window's
 * (whole UTC hours, in the future, at most 12 months ahead and 365 days long), the same rules the
 * booking service applies (it checks again).
 */
export function parseBookingForm(
  values: BookingFormValues,
  catalog: Catalog,
  now?: Date,
): { ok: true; request: QuoteRequest } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const site = values.site.trim() ? resolve(catalog.sites, values.site) : null;
  if (!values.site.trim()) errors.push({ path: 'site', message: 'choose a site' });
  else if (!site) errors.push({ path: 'site', message: `unknown site "${values.site.trim()}"; choose one of ${catalog.sites.map((s) => s.id).join(', ')}` });

  const gpuType = values.gpuType.trim() ? resolve(catalog.gpuTypes, values.gpuType) : null;
  if (!values.gpuType.trim()) errors.push({ path: 'gpuType', message: 'choose a GPU type' });
  else if (!gpuType) {
    errors.push({ path: 'gpuType', message: `unknown GPU type "${values.gpuType.trim()}"; choose one of ${catalog.gpuTypes.map((g) => g.id).join(', ')}` });
  }
  const pool = site && gpuType ? poolOf(catalog, site.id, gpuType.id) : null;
  if (site && gpuType && !pool) {
    const here = catalog.pools.filter((p) => p.site === site.id).map((p) => catalog.gpuTypes.find((g) => g.id === p.gpuType)?.name ?? p.gpuType);
    errors.push({ path: 'gpuType', message: `${site.name} has no ${gpuType.name} pool${here.length ? `; it has ${here.join(', ')}` : ''}` });
  }

  const gpusText = values.gpus.trim();
  const gpus = /^\d{1,6}$/.test(gpusText) ? Number(gpusText) : NaN;
  if (!gpusText) errors.push({ path: 'gpus', message: 'enter how many GPUs, e.g. 8' });
  else if (!Number.isInteger(gpus) || gpus <= 0) errors.push({ path: 'gpus', message: 'enter a whole number of GPUs greater than 0, e.g. 8' });
  else if (pool && gpus < pool.minGpus) errors.push({ path: 'gpus', message: `at least ${pool.minGpus} GPUs per booking in this pool` });
  else if (pool && gpus % pool.stepGpus !== 0) errors.push({ path: 'gpus', message: `must be a multiple of ${pool.stepGpus} (whole nodes of ${pool.gpusPerNode} GPUs)` });
  else if (pool && gpus > pool.totalGpus) errors.push({ path: 'gpus', message: `this pool has ${pool.totalGpus} GPUs` });

  const times: Partial<Record<'start' | 'end', Date>> = {};
  for (const field of ['start', 'end'] as const) {
    const text = values[field].trim();
    const parsed = text ? parseUtcInput(text) : null;
    if (!text) errors.push({ path: field, message: 'enter a UTC date and time, e.g. 2026-12-01T08:00' });
    else if (!parsed) errors.push({ path: field, message: `"${text}" is not a UTC date and time like 2026-12-01T08:00` });
    else if (!isWholeHour(parsed)) errors.push({ path: field, message: 'must be a whole UTC hour, e.g. 08:00' });
    else times[field] = parsed;
  }
  if (times.start && now) {
    if (times.start <= now) errors.push({ path: 'start', message: `must be in the future (now is ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC)` });
    else if (times.start.getTime() - now.getTime() > MAX_LEAD_MS) errors.push({ path: 'start', message: 'bookings start at most 12 months ahead' });
    else if (pool && times.start < new Date(pool.bookableFrom)) {
      errors.push({ path: 'start', message: `${site?.name ?? pool.site} opens ${pool.bookableFrom.slice(0, 10)}; start on or after that day` });
    }
  }
  if (times.start && times.end && times.end <= times.start) errors.push({ path: 'end', message: 'must be after Start' });
  else if (times.start && times.end && (times.end.getTime() - times.start.getTime()) / HOUR_MS > MAX_RESERVED_HOURS) errors.push({ path: 'end', message: 'a reservation lasts at most 365 days' });

  if (errors.length > 0 || !site || !gpuType || !times.start || !times.end) return { ok: false, errors };
  return { ok: true, request: { site: site.id, gpuType: gpuType.id, gpus, start: times.start.toISOString(), end: times.end.toISOString() } };
}

/** A field error as the person reads it: the label they see, then what is wrong. */
export const describeFieldError = (e: FieldError): string => `${isBookingField(e.path) ? FIELD_LABELS[e.path] : e.path}: ${e.message}`;
