/**
 * Invariant audits that recompute, from every item in the table (a Scan: tests only), what the
 * booking core keeps incrementally, and compare. They catch overbooking (more GPUs than capacity in
 * some pool-hour) and leaks (capacity buckets that disagree with the reservations behind them), and
 * events that are missing, duplicated or out of sequence.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { BUCKET_HOURS, capacityAt, leastCapacityFrom, type CapacitySchedule } from '../../shared/domain/capacity.ts';
import type { Pool } from '../../shared/domain/catalog.ts';
import { OCCUPYING, type Reservation } from '../../shared/domain/reservation.ts';
import { remainingGpusAt } from '../../shared/domain/resale.ts';
import { epochHour } from '../../shared/domain/time.ts';
import type { Db } from '../../shared/store/db.ts';
import type { DomainEvent } from '../../shared/store/events.ts';
import { generateApiKey, putApiKey, putOrg } from '../../shared/store/orgs.ts';

type Item = Record<string, unknown>;

export async function scanAll(db: Db): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await db.doc.send(new ScanCommand({ TableName: db.table, ConsistentRead: true, ExclusiveStartKey: cursor }));
    items.push(...(page.Items ?? []));
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return items;
}

export const reservationsIn = (items: Item[]): Reservation[] =>
  items.filter((i) => i.entity === 'reservation').map((i) => i.reservation as Reservation);

export interface CapacityAudit {
  poolId: string;
  capacity: number;
  /** Pool-hours looked at: every hour any bucket, reservation or maintenance window touches. */
  hoursChecked: number;
  /** Hours in which held/confirmed/active reserved GPUs + maintenance + running on-demand exceed capacity. */
  overbookedHours: number;
  /** Hours whose bucket `used` differs from the reservations recomputed (a leak either way). */
  leakedHours: number;
  /** Hours whose bucket `maint` differs from the maintenance windows. */
  maintenanceMismatchHours: number;
  onDemandCounter: number;
  onDemandRecomputed: number;
  /** Most GPUs occupied in any hour (reserved + maintenance + running on-demand). */
  peakOccupied: number;
  problems: string[];
}

/**
 * Recomputes a pool's load hour by hour from all reservations of all orgs and all maintenance
 * windows, and checks it against capacity and against the pool's capacity buckets and on-demand counter.
 */
export async function auditCapacity(db: Db, poolId: string, items?: Item[]): Promise<CapacityAudit> {
  const all = items ?? (await scanAll(db));
  const poolItem = all.find((i) => i.entity === 'pool' && i.id === poolId) as unknown as Pool | undefined;
  if (!poolItem) throw new Error(`pool ${poolId} is not in the table`);
  const capacity = poolItem.totalGpus;

  const bucketUsed = new Map<number, number>();
  const bucketMaint = new Map<number, number>();
  const problems: string[] = [];
  for (const item of all.filter((i) => i.entity === 'capacity' && i.poolId === poolId)) {
    const bucket = Number(item.bucket);
    const used = item.used as number[];
    const maint = item.maint as number[];
    if (used.length !== BUCKET_HOURS || maint.length !== BUCKET_HOURS) problems.push(`bucket ${bucket} has ${used.length}/${maint.length} hours`);
    for (let i = 0; i < BUCKET_HOURS; i++) {
      const h = bucket * BUCKET_HOURS + i;
      if ((used[i] ?? 0) !== 0) bucketUsed.set(h, used[i]!);
      if ((maint[i] ?? 0) !== 0) bucketMaint.set(h, maint[i]!);
      if ((used[i] ?? 0) < 0 || (maint[i] ?? 0) < 0) problems.push(`bucket ${bucket} hour ${h} is negative`);
    }
  }

  const reservations = reservationsIn(all).filter((r) => r.poolId === poolId);
  /** What the buckets must hold: every reserved booking that took its hours and never gave them back. */
  const recordedUsed = new Map<number, number>();
  /** What the invariant is about: held, confirmed and active reserved bookings. */
  const occupyingReserved = new Map<number, number>();
  const add = (m: Map<number, number>, h: number, n: number) => m.set(h, (m.get(h) ?? 0) + n);
  let onDemandRecomputed = 0;
  const onDemandFrom: { hour: number; gpus: number }[] = [];
  for (const r of reservations) {
    if (r.kind === 'on_demand') {
      if (r.status === 'active') {
        onDemandRecomputed += r.gpus;
        onDemandFrom.push({ hour: epochHour(new Date(r.start)), gpus: r.gpus });
      }
      continue;
    }
    const sH = epochHour(new Date(r.start));
    const eH = epochHour(new Date(r.end!));
    for (let h = sH; h < eH; h++) {
      // Hours sold to another org's booking are that booking's (resale): the seller holds the rest.
      const holds = remainingGpusAt(r, h);
      if (OCCUPYING.has(r.status) || r.status === 'completed') add(recordedUsed, h, holds);
      if (OCCUPYING.has(r.status)) add(occupyingReserved, h, holds);
    }
  }
  const recordedMaint = new Map<number, number>();
  for (const item of all.filter((i) => i.entity === 'maintenance' && (i.window as { poolId: string }).poolId === poolId)) {
    const w = item.window as { start: string; end: string; gpus: number };
    for (let h = epochHour(new Date(w.start)); h < epochHour(new Date(w.end)); h++) add(recordedMaint, h, w.gpus);
  }

  const odpItem = all.find((i) => i.entity === 'onDemandTotal' && i.poolId === poolId);
  // The capacity in force hour by hour: the pool's first capacity, then its schedule (kept on the capacity item).
  const schedule: CapacitySchedule = { totalGpus: capacity, steps: (odpItem?.capacitySteps as { fromHour: number; totalGpus: number }[] | undefined) ?? [] };
  const onDemandCounter = Number(odpItem?.gpus ?? 0);
  if (onDemandCounter !== onDemandRecomputed) problems.push(`on-demand counter ${onDemandCounter} but running on-demand reservations hold ${onDemandRecomputed}`);

  const hours = new Set<number>([...bucketUsed.keys(), ...bucketMaint.keys(), ...recordedUsed.keys(), ...recordedMaint.keys()]);
  for (const od of onDemandFrom) hours.add(od.hour);
  for (const s of schedule.steps ?? []) hours.add(s.fromHour);
  let overbookedHours = 0;
  let leakedHours = 0;
  let maintenanceMismatchHours = 0;
  let peakOccupied = 0;
  for (const h of hours) {
    const used = bucketUsed.get(h) ?? 0;
    const expected = recordedUsed.get(h) ?? 0;
    if (used !== expected) {
      leakedHours++;
      if (problems.length < 20) problems.push(`hour ${new Date(h * 3_600_000).toISOString()}: bucket says ${used} GPUs, reservations say ${expected}`);
    }
    const maint = bucketMaint.get(h) ?? 0;
    if (maint !== (recordedMaint.get(h) ?? 0)) {
      maintenanceMismatchHours++;
      if (problems.length < 20) problems.push(`hour ${h}: bucket maint ${maint}, windows ${recordedMaint.get(h) ?? 0}`);
    }
    const onDemandThen = onDemandFrom.filter((o) => o.hour <= h).reduce((s, o) => s + o.gpus, 0);
    const occupied = (occupyingReserved.get(h) ?? 0) + (recordedMaint.get(h) ?? 0) + onDemandThen;
    peakOccupied = Math.max(peakOccupied, occupied);
    const capacityThen = capacityAt(schedule, h);
    if (occupied > capacityThen) {
      overbookedHours++;
      if (problems.length < 20) problems.push(`hour ${new Date(h * 3_600_000).toISOString()} overbooked: ${occupied} > ${capacityThen}`);
    }
  }
  // Running on-demand GPUs also occupy every hour no booking touches.
  const leastForOnDemand = onDemandFrom.length > 0 ? leastCapacityFrom(schedule, Math.min(...onDemandFrom.map((o) => o.hour))) : capacity;
  if (onDemandRecomputed > leastForOnDemand) {
    overbookedHours++;
    problems.push(`running on-demand alone holds ${onDemandRecomputed} > ${leastForOnDemand} GPUs`);
  }
  return {
    poolId,
    capacity,
    hoursChecked: hours.size,
    overbookedHours,
    leakedHours,
    maintenanceMismatchHours,
    onDemandCounter,
    onDemandRecomputed,
    peakOccupied: Math.max(peakOccupied, onDemandRecomputed),
    problems,
  };
}

/** Fails the test when a pool is overbooked in any hour or its buckets disagree with its reservations. */
export async function assertNeverOverbooked(db: Db, poolId: string, items?: Item[]): Promise<CapacityAudit> {
  const audit = await auditCapacity(db, poolId, items);
  expect(audit.problems, `capacity audit of ${poolId}`).toEqual([]);
  expect(audit.overbookedHours).toBe(0);
  expect(audit.leakedHours).toBe(0);
  expect(audit.maintenanceMismatchHours).toBe(0);
  expect(audit.onDemandCounter).toBe(audit.onDemandRecomputed);
  return audit;
}

const FIRST_EVENT: Record<Reservation['kind'], string> = { reserved: 'reservation.held', on_demand: 'reservation.started' };
const TERMINAL_EVENT: Partial<Record<Reservation['status'], string>> = {
  confirmed: 'reservation.confirmed',
  expired: 'reservation.expired',
  cancelled: 'reservation.cancelled',
  completed: 'reservation.completed',
  stopped: 'reservation.stopped',
};

export interface EventAudit {
  orgs: number;
  events: number;
  reservations: number;
  problems: string[];
}

/**
 * Every org's events are numbered 1..n without gaps or duplicates and its sequence counter says n;
 * every reservation has exactly one event per change it went through (its `version`), the first
 * being its creation, and the event of its current state exactly once.
 */
export async function auditEvents(db: Db, items?: Item[]): Promise<EventAudit> {
  const all = items ?? (await scanAll(db));
  const problems: string[] = [];
  const events = all.filter((i) => i.entity === 'event').map((i) => i.event as DomainEvent);
  const byOrg = new Map<string, DomainEvent[]>();
  for (const e of events) byOrg.set(e.orgId, [...(byOrg.get(e.orgId) ?? []), e]);
  for (const [orgId, list] of byOrg) {
    const seqs = list.map((e) => e.sequence).sort((a, b) => a - b);
    seqs.forEach((s, i) => {
      if (s !== i + 1 && problems.length < 20) problems.push(`org ${orgId}: event #${i + 1} has sequence ${s}`);
    });
    const counter = all.find((i) => i.entity === 'sequence' && i.pk === `ORG#${orgId}`);
    if (Number(counter?.sequence ?? 0) !== seqs.length) problems.push(`org ${orgId}: counter ${String(counter?.sequence)} but ${seqs.length} events`);
  }
  const ids = new Set(events.map((e) => e.id));
  if (ids.size !== events.length) problems.push(`${events.length - ids.size} duplicate event ids`);

  const byReservation = new Map<string, DomainEvent[]>();
  for (const e of events) {
    const id = (e.data as { id?: unknown }).id;
    if (typeof id === 'string' && e.type.startsWith('reservation.')) byReservation.set(id, [...(byReservation.get(id) ?? []), e]);
  }
  const reservations = reservationsIn(all);
  for (const r of reservations) {
    const mine = (byReservation.get(r.id) ?? []).sort((a, b) => a.sequence - b.sequence);
    // Resale's own changes of a reservation carry listing events (or none) instead: counted apart.
    if (mine.length !== r.version - (r.resale?.changes ?? 0)) problems.push(`${r.id} (${r.status}, version ${r.version}) has ${mine.length} events: ${mine.map((e) => e.type).join(', ')}`);
    if (mine[0]?.type !== FIRST_EVENT[r.kind]) problems.push(`${r.id} starts with ${mine[0]?.type}`);
    if (mine.some((e) => e.orgId !== r.orgId)) problems.push(`${r.id} has an event in another org`);
    const terminal = TERMINAL_EVENT[r.status];
    if (terminal && mine.filter((e) => e.type === terminal).length !== 1) problems.push(`${r.id} is ${r.status} with ${mine.filter((e) => e.type === terminal).length} ${terminal} events`);
  }
  const known = new Set(reservations.map((r) => r.id));
  for (const id of byReservation.keys()) if (!known.has(id)) problems.push(`events for ${id}, which does not exist`);
  return { orgs: byOrg.size, events: events.length, reservations: reservations.length, problems: problems.slice(0, 30) };
}

export async function assertEventsExactlyOnce(db: Db, items?: Item[]): Promise<EventAudit> {
  const audit = await auditEvents(db, items);
  expect(audit.problems, 'event audit').toEqual([]);
  return audit;
}

/** Extra customer orgs (one admin key each), for races between many tenants. */
export async function addCustomerOrgs(db: Db, count: number, now: Date): Promise<{ orgId: string; key: string }[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const orgId = `org_storm_${String(i).padStart(3, '0')}`;
      await putOrg(db, {
        id: orgId,
        name: `Storm Lab ${i}`,
        country: i % 2 === 0 ? 'FR' : 'NL',
        vatNumber: null,
        billingEmail: `billing+${i}@storm.example`,
        stripeCustomerId: null,
        createdAt: now.toISOString(),
      });
      const key = generateApiKey('customer');
      await putApiKey(db, key, { keyId: `key_storm_${i}`, role: 'customer', orgId, orgRole: 'admin', siteId: null }, now);
      return { orgId, key };
    }),
  );
}
