import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meteringModule } from '../../shared/http/modules.ts';
import { onDemandUsageByPool, poolUtilizationBps, usageByHour } from '../../shared/store/usage.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { at, event, minuteEvents, postUsage, reservationUsage, reserve, startOnDemand, sweep, uniqueId } from './usage.fixtures.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ modules: [meteringModule], start: '2026-11-24T10:00:00Z' });
});
afterAll(() => t.close());

const HOUR = 3600;
const epochHour = (iso: string) => Math.floor(Date.parse(iso) / 3_600_000);

describe('aggregation', () => {
  it('splits an event spanning hours exactly, by the second, into each hour it covers', async () => {
    t.clock.set('2026-11-24T10:00:00Z');
    const r = await startOnDemand(t, { gpus: 16 });
    t.clock.set('2026-11-24T14:00:00Z');
    const posted = await postUsage(t, [event(uniqueId('span'), r.id, '2026-11-24T10:30:00Z', '2026-11-24T12:15:30Z', 16)]);
    expect(posted.status).toBe(200);
    expect(posted.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });

    const usage = await reservationUsage(t, r.id, '&from=2026-11-24T10:00:00Z&to=2026-11-24T14:00:00Z');
    expect(usage.buckets).toEqual([
      { start: '2026-11-24T10:00:00.000Z', gpuSeconds: 1800 * 16 },
      { start: '2026-11-24T11:00:00.000Z', gpuSeconds: 3600 * 16 },
      { start: '2026-11-24T12:00:00.000Z', gpuSeconds: 930 * 16 },
      { start: '2026-11-24T13:00:00.000Z', gpuSeconds: 0 },
    ]);
    expect(usage.gpuSeconds).toBe((1800 + 3600 + 930) * 16);
    expect(usage.reservedGpuHours).toBeNull();
    expect(usage.usedGpuHours).toBe(Math.round(((1800 + 3600 + 930) * 16) / 3.6) / 1000);

    const pool = await usageByHour(t.db, { kind: 'pool', id: r.poolId }, epochHour('2026-11-24T10:00:00Z'), epochHour('2026-11-24T13:00:00Z'));
    expect([...pool.entries()].sort()).toEqual([
      [epochHour('2026-11-24T10:00:00Z'), 1800 * 16],
      [epochHour('2026-11-24T11:00:00Z'), 3600 * 16],
      [epochHour('2026-11-24T12:00:00Z'), 930 * 16],
    ]);
  });

  it('keeps exact integer totals for the reservation, the org and the pool over many events', async () => {
    t.clock.set('2026-11-25T00:00:00Z');
    const r = await startOnDemand(t, { gpus: 8, gpuType: 'b200-sxm-192gb' });
    const orgBefore = await t.call('GET', '/v1/usage?from=2026-11-25T00:00:00Z&to=2026-11-25T06:00:00Z');
    t.clock.set('2026-11-25T06:00:00Z');
    // 300 events of 7 s × 1..8 GPUs, spread over six hours, crossing hour boundaries.
    const events = Array.from({ length: 300 }, (_, i) => event(uniqueId('many'), r.id, at('2026-11-25T00:00:00Z', i * 71), at('2026-11-25T00:00:00Z', i * 71 + 7), (i % 8) + 1));
    const expected = events.reduce((s, e) => s + 7 * e.gpus, 0);
    const posted = await postUsage(t, events);
    expect(posted.body).toEqual({ accepted: 300, duplicates: 0, rejected: [] });

    const usage = await reservationUsage(t, r.id);
    expect(usage.from).toBe('2026-11-25T00:00:00.000Z');
    expect(usage.to).toBe('2026-11-25T06:00:00.000Z');
    expect(usage.gpuSeconds).toBe(expected);
    expect(usage.buckets.reduce((s, b) => s + b.gpuSeconds, 0)).toBe(expected);

    const orgAfter = await t.call('GET', '/v1/usage?from=2026-11-25T00:00:00Z&to=2026-11-25T06:00:00Z');
    expect(orgAfter.status).toBe(200);
    expect(orgAfter.body.reservationId).toBeNull();
    expect(orgAfter.body.orgId).toBe('org_lumiere');
    expect(orgAfter.body.gpuSeconds - orgBefore.body.gpuSeconds).toBe(expected);

    const util = await poolUtilizationBps(t.db, r.poolId, 256, epochHour('2026-11-25T00:00:00Z'), epochHour('2026-11-25T06:00:00Z'));
    expect(util).toBe(Math.round((expected * 10_000) / (256 * HOUR * 6)));
  });

  it('lands a late event in the hour it happened, days after', async () => {
    t.clock.set('2026-11-26T08:00:00Z');
    const r = await startOnDemand(t, { gpus: 8 });
    t.clock.set('2026-11-26T09:00:00Z');
    await postUsage(t, minuteEvents(r.id, '2026-11-26T08:00:00Z', 59));
    t.clock.set('2026-11-29T12:00:00Z');
    const late = await postUsage(t, [event(uniqueId('late'), r.id, '2026-11-26T08:59:30Z', '2026-11-26T09:00:30Z', 8)]);
    expect(late.body.accepted).toBe(1);

    const hourly = await reservationUsage(t, r.id, '&from=2026-11-26T08:00:00Z&to=2026-11-26T10:00:00Z');
    expect(hourly.buckets.map((b) => b.gpuSeconds)).toEqual([59 * 60 * 8 + 30 * 8, 30 * 8]);
    const daily = await reservationUsage(t, r.id, '&granularity=day');
    expect(daily.from).toBe('2026-11-26T00:00:00.000Z');
    expect(daily.to).toBe('2026-11-30T00:00:00.000Z');
    expect(daily.buckets.map((b) => b.gpuSeconds)).toEqual([3600 * 8, 0, 0, 0]);
  });

  it('reports reserved vs used GPU-hours of a reserved booking once it runs', async () => {
    t.clock.set('2026-11-27T10:00:00Z');
    const r = await reserve(t, { gpus: 16, startIn: 2, hours: 3 });
    expect(r.start).toBe('2026-11-27T12:00:00.000Z');
    t.clock.set('2026-11-27T12:00:30Z');
    await sweep(t);
    expect((await t.call('GET', `/v1/reservations/${r.id}`)).body.status).toBe('active');
    t.clock.set('2026-11-27T15:30:00Z');
    await sweep(t);
    // The first two hours fully used by 16 GPUs, the third by 8.
    const events = [...minuteEvents(r.id, '2026-11-27T12:00:00Z', 120, 16), ...minuteEvents(r.id, '2026-11-27T14:00:00Z', 60, 8)];
    expect((await postUsage(t, events)).body).toEqual({ accepted: 180, duplicates: 0, rejected: [] });

    const usage = await reservationUsage(t, r.id);
    expect(usage.from).toBe('2026-11-27T12:00:00.000Z');
    expect(usage.to).toBe('2026-11-27T15:00:00.000Z');
    expect(usage.reservedGpuHours).toBe(48);
    expect(usage.usedGpuHours).toBe(40);
    expect(usage.gpuSeconds).toBe(40 * HOUR);

    const finance = await reservationUsage(t, r.id, '&granularity=day', t.keys.finance);
    expect(finance.gpuSeconds).toBe(40 * HOUR);
    expect(finance.reservedGpuHours).toBe(48);
  });

  it('keeps on-demand usage per org, billing period and pool for billing, split at the month boundary', async () => {
    t.clock.set('2026-11-30T23:00:00Z');
    const r = await startOnDemand(t, { gpus: 8, gpuType: 'h200-sxm-141gb' });
    const novemberBefore = (await onDemandUsageByPool(t.db, 'org_lumiere', '2026-11')).get(r.poolId) ?? 0;
    t.clock.set('2026-12-01T02:00:00Z');
    const posted = await postUsage(t, [event(uniqueId('month'), r.id, '2026-11-30T23:30:00Z', '2026-12-01T00:45:00Z', 8)]);
    expect(posted.body.accepted).toBe(1);
    const november = await onDemandUsageByPool(t.db, 'org_lumiere', '2026-11');
    const december = await onDemandUsageByPool(t.db, 'org_lumiere', '2026-12');
    expect((november.get(r.poolId) ?? 0) - novemberBefore).toBe(1800 * 8);
    expect(december.get(r.poolId)).toBe(2700 * 8);
    expect((await onDemandUsageByPool(t.db, 'org_rheinwerk', '2026-12')).size).toBe(0);
  });

  it('does not count reserved bookings as on-demand usage', async () => {
    t.clock.set('2026-12-02T10:00:00Z');
    const r = await reserve(t, { gpus: 8, startIn: 1, hours: 2, gpuType: 'b200-sxm-192gb' });
    t.clock.set('2026-12-02T11:30:00Z');
    await sweep(t);
    const before = await onDemandUsageByPool(t.db, 'org_lumiere', '2026-12');
    expect((await postUsage(t, minuteEvents(r.id, '2026-12-02T11:00:00Z', 30))).body.accepted).toBe(30);
    expect(await onDemandUsageByPool(t.db, 'org_lumiere', '2026-12')).toEqual(before);
    expect((await reservationUsage(t, r.id)).gpuSeconds).toBe(30 * 60 * 8);
  });

  it('documents both operations in the OpenAPI document, with the rejection reasons', async () => {
    const doc = await t.call('GET', '/openapi.json', { key: null });
    expect(doc.body.paths['/v1/usage'].post.operationId).toBe('postUsage');
    expect(doc.body.paths['/v1/usage'].get.operationId).toBe('getUsage');
    const reasons = doc.body.components.schemas.UsageIngestResult.properties.rejected.items.properties.reason.enum;
    expect(reasons).not.toContain('wrong_site');
    expect(reasons).toEqual(expect.arrayContaining(['unknown_reservation', 'exceeds_reservation', 'ends_before_start', 'interval_outside_reservation', 'too_many_gpus', 'in_future', 'too_old', 'duplicate_in_batch']));
  });

  it('replays the first answer for a repeated Idempotency-Key', async () => {
    t.clock.set('2026-12-03T10:00:00Z');
    const r = await startOnDemand(t, { gpus: 8 });
    t.clock.set('2026-12-03T11:00:00Z');
    const events = minuteEvents(r.id, '2026-12-03T10:00:00Z', 3);
    const headers = { 'idempotency-key': uniqueId('idem') };
    const first = await t.call('POST', '/v1/usage', { key: t.keys.meter, body: { events }, headers });
    const again = await t.call('POST', '/v1/usage', { key: t.keys.meter, body: { events }, headers });
    expect(first.body).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await reservationUsage(t, r.id)).gpuSeconds).toBe(3 * 60 * 8);
  });
});
