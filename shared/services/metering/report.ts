/** The usage report: GPU-seconds of a reservation or an org per hour or day, read from the metering aggregates. */
import { DomainError, invalidField, notFound } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import type { Reservation } from '#domain/reservation.ts';
import { DAY_MS, HOUR_MS } from '#domain/time.ts';
import type { Db } from '#store/db.ts';
import { findReservation, getReservation } from '#store/reservations.ts';
import { usageByHour, type UsageScope } from '#store/usage.ts';
import type { Clock } from '../../ids.ts';

export interface UsageQuery {
  reservationId?: string | undefined;
  orgId?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  granularity: 'hour' | 'day';
}

export interface UsageReport {
  reservationId: string | null;
  orgId: string;
  granularity: 'hour' | 'day';
  from: string;
  to: string;
  gpuSeconds: number;
  buckets: { start: string; gpuSeconds: number }[];
  reservedGpuHours: number | null;
  usedGpuHours: number;
}

/** Most buckets one read returns: 92 days of hours, or 400 days. */
export const MAX_BUCKETS = { hour: 92 * 24, day: 400 } as const;
const UNIT_MS = { hour: HOUR_MS, day: DAY_MS } as const;
/** Range of an org-wide read without `from`: the last day of hours, or the last 30 days. */
const DEFAULT_ORG_BUCKETS = { hour: 24, day: 30 } as const;
const RESERVING: ReadonlySet<Reservation['status']> = new Set(['confirmed', 'active', 'completed']);

export function createUsageReport(deps: { db: Db; clock: Clock; shards: number }) {
  const { db, clock, shards } = deps;

  /** Where a reader may look: its own org (customer) or any org (finance). */
  async function resolveTarget(principal: Principal, q: UsageQuery): Promise<{ orgId: string; reservation: Reservation | null }> {
    if (principal.role === 'customer') {
      const own = principal.orgId;
      if (!own) throw new DomainError('forbidden', 'This customer key has no org');
      if (q.orgId !== undefined && q.orgId !== own) throw notFound('Org', q.orgId);
      if (q.reservationId === undefined) return { orgId: own, reservation: null };
      const r = await getReservation(db, own, q.reservationId);
      if (!r) throw notFound('Reservation', q.reservationId);
      return { orgId: own, reservation: r };
    }
    if (principal.role !== 'finance') throw new DomainError('forbidden', `Usage is read by customer or finance keys; this key is a ${principal.role} key`);
    if (q.reservationId === undefined) {
      if (q.orgId === undefined) throw invalidField('orgId', 'required for finance keys when reservationId is not given');
      return { orgId: q.orgId, reservation: null };
    }
    const r = await findReservation(db, q.reservationId);
    if (!r || (q.orgId !== undefined && r.orgId !== q.orgId)) throw notFound('Reservation', q.reservationId);
    return { orgId: r.orgId, reservation: r };
  }

  /** GPU-seconds of a reservation or an org per hour or day, with reserved vs used GPU-hours. */
  async function usage(principal: Principal, q: UsageQuery): Promise<UsageReport> {
    const { orgId, reservation: r } = await resolveTarget(principal, q);
    const now = clock();
    const unit = UNIT_MS[q.granularity];
    const floorTo = (ms: number) => Math.floor(ms / unit) * unit;
    const ceilTo = (ms: number) => Math.ceil(ms / unit) * unit;

    let toMs: number;
    if (q.to !== undefined) toMs = ceilTo(Date.parse(q.to));
    else if (r) toMs = ceilTo(Math.max(Date.parse(r.start), Math.min(r.end ? Date.parse(r.end) : now.getTime(), now.getTime())));
    else toMs = ceilTo(now.getTime());

    let fromMs: number;
    if (q.from !== undefined) fromMs = floorTo(Date.parse(q.from));
    else if (r) fromMs = Math.max(floorTo(Date.parse(r.start)), toMs - MAX_BUCKETS[q.granularity] * unit);
    else fromMs = toMs - DEFAULT_ORG_BUCKETS[q.granularity] * unit;

    if (toMs < fromMs) throw invalidField('to', 'must not be before from');
    const count = (toMs - fromMs) / unit;
    if (count > MAX_BUCKETS[q.granularity]) {
      throw invalidField('from', `at most ${MAX_BUCKETS[q.granularity]} ${q.granularity} buckets per read${q.granularity === 'hour' ? '; use granularity=day or a shorter range' : ''}`);
    }

    const scope: UsageScope = r ? { kind: 'reservation', id: r.id } : { kind: 'org', id: orgId };
    const byHour = await usageByHour(db, scope, fromMs / HOUR_MS, toMs / HOUR_MS, shards);
    const buckets = Array.from({ length: count }, (_, i) => ({ start: new Date(fromMs + i * unit).toISOString(), gpuSeconds: 0 }));
    let gpuSeconds = 0;
    for (const [hour, seconds] of byHour) {
      buckets[Math.floor((hour * HOUR_MS - fromMs) / unit)]!.gpuSeconds += seconds;
      gpuSeconds += seconds;
    }

    let reservedGpuHours: number | null = null;
    if (r && r.kind === 'reserved') {
      const overlapMs = Math.max(0, Math.min(toMs, Date.parse(r.end!)) - Math.max(fromMs, Date.parse(r.start)));
      reservedGpuHours = RESERVING.has(r.status) ? (overlapMs / HOUR_MS) * r.gpus : 0;
    }
    return {
      reservationId: r?.id ?? null,
      orgId,
      granularity: q.granularity,
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      gpuSeconds,
      buckets,
      reservedGpuHours,
      usedGpuHours: Math.round(gpuSeconds / 3.6) / 1000,
    };
  }

  return { usage };
}
