/** Hour arithmetic on UTC instants. Capacity and pricing work in whole UTC hours since the epoch. */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export const epochHour = (d: Date): number => Math.floor(d.getTime() / HOUR_MS);
export const fromEpochHour = (h: number): Date => new Date(h * HOUR_MS);
export const isWholeHour = (d: Date): boolean => d.getTime() % HOUR_MS === 0;
export const floorToHour = (d: Date): Date => fromEpochHour(epochHour(d));
export const ceilToHour = (d: Date): Date => fromEpochHour(Math.ceil(d.getTime() / HOUR_MS));
export const floorToDay = (d: Date): Date => new Date(Math.floor(d.getTime() / DAY_MS) * DAY_MS);
export const addMs = (d: Date, ms: number): Date => new Date(d.getTime() + ms);
export const hoursBetween = (start: Date, end: Date): number => (end.getTime() - start.getTime()) / HOUR_MS;
export const iso = (d: Date): string => d.toISOString().replace('.000Z', 'Z');

/** Billing period `YYYY-MM` of an instant (UTC). */
export const periodOf = (d: Date): string => d.toISOString().slice(0, 7);
export const periodStart = (period: string): Date => new Date(`${period}-01T00:00:00Z`);
export const nextPeriod = (period: string): string => {
  const d = periodStart(period);
  return periodOf(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)));
};

/** `period` shifted by `months` (negative: earlier). */
export function shiftPeriod(period: string, months: number): string {
  const start = periodStart(period);
  return periodOf(new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + months, 1)));
}
