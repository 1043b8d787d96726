/** Reservations and events for the usage tests. */
import { expect } from 'vitest';
import { sweepDueReservations } from '../../shared/services/sweeper.ts';
import { generateApiKey, putApiKey } from '../../shared/store/orgs.ts';
import { hoursFrom, type TestContext } from '../support/app.ts';

export const VALENCE = 'valence-rovaltain';
export const H100 = 'h100-sxm-80gb';

export interface UsageEvent {
  id: string;
  reservationId: string;
  start: string;
  end: string;
  gpus: number;
}

export const at = (iso: string, plusSeconds = 0): string => new Date(Date.parse(iso) + plusSeconds * 1000).toISOString();

export const event = (id: string, reservationId: string, start: string, end: string, gpus = 8): UsageEvent => ({ id, reservationId, start, end, gpus });

let counter = 0;
/** Ids unique across the file's tests (the table is shared by a file). */
export const uniqueId = (label: string): string => `${label}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;

/** `count` back-to-back one-minute events of `gpus` from `start`. */
export function minuteEvents(reservationId: string, start: string, count: number, gpus = 8, label = 'ev'): UsageEvent[] {
  const prefix = uniqueId(label);
  return Array.from({ length: count }, (_, i) => event(`${prefix}-${i}`, reservationId, at(start, i * 60), at(start, (i + 1) * 60), gpus));
}

export async function postUsage(t: TestContext, events: unknown[], key: string = t.keys.meter) {
  return t.call('POST', '/v1/usage', { key, body: { events } });
}

export async function startOnDemand(t: TestContext, options: { gpus?: number; site?: string; gpuType?: string; key?: string } = {}) {
  const res = await t.call('POST', '/v1/reservations', {
    key: options.key ?? t.keys.customer,
    body: { kind: 'on_demand', site: options.site ?? VALENCE, gpuType: options.gpuType ?? H100, gpus: options.gpus ?? 8 },
  });
  expect(res.status).toBe(201);
  return res.body as { id: string; start: string; gpus: number; poolId: string };
}

/** Quote, hold and (unless `confirm: false`) confirm a reserved booking `startIn` hours from now. */
export async function reserve(t: TestContext, options: { gpus?: number; startIn?: number; hours?: number; site?: string; gpuType?: string; key?: string; confirm?: boolean } = {}) {
  const key = options.key ?? t.keys.customer;
  const startIn = options.startIn ?? 2;
  const quote = await t.call('POST', '/v1/quotes', {
    key,
    body: {
      site: options.site ?? VALENCE,
      gpuType: options.gpuType ?? H100,
      gpus: options.gpus ?? 8,
      start: hoursFrom(t.clock, startIn),
      end: hoursFrom(t.clock, startIn + (options.hours ?? 3)),
    },
  });
  expect(quote.status).toBe(201);
  const held = await t.call('POST', '/v1/reservations', { key, body: { quoteId: quote.body.id } });
  expect(held.status).toBe(201);
  if (options.confirm === false) return held.body as { id: string; start: string; end: string; gpus: number; poolId: string };
  const confirmed = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`, { key });
  expect(confirmed.status).toBe(200);
  return confirmed.body as { id: string; start: string; end: string; gpus: number; poolId: string };
}

export const sweep = (t: TestContext) => sweepDueReservations({ db: t.deps.db, clock: t.clock, booking: t.deps.booking });

/** A meter key for another site. */
export async function meterKeyFor(t: TestContext, siteId: string): Promise<string> {
  const key = generateApiKey('meter');
  await putApiKey(t.db, key, { keyId: `key_meter_${siteId}`, role: 'meter', orgId: null, orgRole: null, siteId }, t.clock());
  return key;
}

export async function reservationUsage(t: TestContext, reservationId: string, query = '', key: string = t.keys.customer) {
  const res = await t.call('GET', `/v1/usage?reservationId=${encodeURIComponent(reservationId)}${query}`, { key });
  expect(res.status).toBe(200);
  return res.body as { gpuSeconds: number; buckets: { start: string; gpuSeconds: number }[]; reservedGpuHours: number | null; usedGpuHours: number; from: string; to: string };
}
