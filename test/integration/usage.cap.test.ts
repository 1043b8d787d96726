/**
 * A reservation's metered usage can never exceed what its GPUs can do: for every minute, at most
 * gpus × 60 GPU-seconds are counted, whatever the ids, the batches or the concurrency (issue 15,
 * finding 5: 10 events with different ids for one minute of an 8-GPU reservation counted 4 800).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meteringModule } from '../../shared/http/modules.ts';
import { getClaim } from '../../shared/store/usage-claims.ts';
import { usageByHour } from '../../shared/store/usage.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { seededRandom } from '../support/faults.ts';
import { at, event, minuteEvents, postUsage, startOnDemand, uniqueId, type UsageEvent } from './usage.fixtures.ts';

const DAY_START = '2026-11-24T00:00:00Z';
const hourOf = (iso: string) => Math.floor(Date.parse(iso) / 3_600_000);

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ modules: [meteringModule], start: DAY_START });
});
afterAll(() => t.close());

/** A running 8-GPU on-demand reservation (whole 8-GPU nodes are the pools' booking step). */
async function freshReservation() {
  t.clock.set(DAY_START);
  const r = await startOnDemand(t, { gpus: 8 });
  t.clock.set('2026-11-24T23:00:00Z');
  return r;
}

async function totalOf(reservationId: string): Promise<number> {
  const byHour = await usageByHour(t.db, { kind: 'reservation', id: reservationId }, hourOf(DAY_START), hourOf(DAY_START) + 24);
  return [...byHour.values()].reduce((a, b) => a + b, 0);
}

const rejectedIds = (body: { rejected: { id: string; reason: string }[] }, reason = 'exceeds_reservation') => body.rejected.filter((r) => r.reason === reason).map((r) => r.id);

describe('the finding, reproduced', () => {
  it('10 events with different ids for the same minute of an 8-GPU reservation count 480 GPU-seconds, not 4 800', async () => {
    const r = await freshReservation();
    const events = Array.from({ length: 10 }, (_, i) => event(uniqueId(`same-minute-${i}`), r.id, '2026-11-24T10:00:00Z', '2026-11-24T10:01:00Z', 8));
    const res = await postUsage(t, events);
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.duplicates).toBe(0);
    expect(res.body.rejected).toHaveLength(9);
    expect(new Set(res.body.rejected.map((x: { reason: string }) => x.reason))).toEqual(new Set(['exceeds_reservation']));
    expect(await totalOf(r.id)).toBe(480);
    const seen = await t.call('GET', `/v1/usage?reservationId=${r.id}&from=2026-11-24T10:00:00Z&to=2026-11-24T11:00:00Z`);
    expect(seen.body.gpuSeconds).toBe(480);
  });

  it('…also sent as 10 concurrent requests: one is counted, nine are refused', async () => {
    const r = await freshReservation();
    const events = Array.from({ length: 10 }, (_, i) => event(uniqueId(`race-${i}`), r.id, '2026-11-24T10:00:00Z', '2026-11-24T10:01:00Z', 8));
    const results = await Promise.all(events.map((e) => postUsage(t, [e])));
    expect(results.map((x) => x.status)).toEqual(Array(10).fill(200));
    expect(results.reduce((s, x) => s + x.body.accepted, 0)).toBe(1);
    expect(results.flatMap((x) => rejectedIds(x.body))).toHaveLength(9);
    expect(await totalOf(r.id)).toBe(480);
    // Refused events took no id: only the counted one is claimed.
    const claims = await Promise.all(events.map((e) => getClaim(t.db, e.id)));
    expect(claims.filter((c) => c !== null)).toHaveLength(1);
  });
});

describe('what the cap allows and refuses', () => {
  it('several meters sharing a minute up to the GPUs of the reservation are all counted; one GPU more is refused', async () => {
    const r = await freshReservation();
    const minute = ['2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z'] as const;
    const halves = [event(uniqueId('half-a'), r.id, ...minute, 4), event(uniqueId('half-b'), r.id, ...minute, 4)];
    expect((await postUsage(t, halves)).body).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    const extra = event(uniqueId('extra'), r.id, ...minute, 1);
    expect((await postUsage(t, [extra])).body).toEqual({ accepted: 0, duplicates: 0, rejected: [{ id: extra.id, reason: 'exceeds_reservation' }] });
    // The next minute is free.
    const next = event(uniqueId('next'), r.id, '2026-11-24T11:01:00Z', '2026-11-24T11:02:00Z', 8);
    expect((await postUsage(t, [next])).body.accepted).toBe(1);
    expect(await totalOf(r.id)).toBe(2 * 480);
  });

  it('a resend of a counted event is a duplicate, not a refusal; a new event over the same minute is refused', async () => {
    const r = await freshReservation();
    const [counted] = minuteEvents(r.id, '2026-11-24T12:00:00Z', 1, 8, 'counted');
    expect((await postUsage(t, [counted!])).body.accepted).toBe(1);
    const rival = event(uniqueId('rival'), r.id, '2026-11-24T12:00:00Z', '2026-11-24T12:01:00Z', 8);
    // Either order in one request: the resend is a duplicate, the rival is refused.
    for (const batch of [[rival, counted!], [counted!, rival]]) {
      expect((await postUsage(t, batch)).body).toEqual({ accepted: 0, duplicates: 1, rejected: [{ id: rival.id, reason: 'exceeds_reservation' }] });
    }
    expect(await totalOf(r.id)).toBe(480);
  });

  it('an hour-long event fills every minute of the hour; a later minute event inside it is refused, one straddling its end is refused whole', async () => {
    const r = await freshReservation();
    const hour = event(uniqueId('hour'), r.id, '2026-11-24T13:00:00Z', '2026-11-24T14:00:00Z', 8);
    expect((await postUsage(t, [hour])).body.accepted).toBe(1);
    const inside = event(uniqueId('inside'), r.id, '2026-11-24T13:30:00Z', '2026-11-24T13:30:10Z', 1);
    const straddling = event(uniqueId('straddle'), r.id, '2026-11-24T13:59:30Z', '2026-11-24T14:00:30Z', 2);
    const after = event(uniqueId('after'), r.id, '2026-11-24T14:00:00Z', '2026-11-24T14:01:00Z', 8);
    const res = await postUsage(t, [inside, straddling, after]);
    expect(res.body.accepted).toBe(1);
    expect(rejectedIds(res.body).sort()).toEqual([inside.id, straddling.id].sort());
    expect(await totalOf(r.id)).toBe(8 * 3600 + 8 * 60);
  });

  it('sub-minute events of one minute add up to at most gpus × 60', async () => {
    const r = await freshReservation();
    // Six 10-second, 8-GPU events fill the minute (480); a seventh of 1 second is refused.
    const slices = Array.from({ length: 6 }, (_, i) => event(uniqueId(`slice-${i}`), r.id, at('2026-11-24T15:00:00Z', i * 10), at('2026-11-24T15:00:00Z', (i + 1) * 10), 8));
    expect((await postUsage(t, slices)).body.accepted).toBe(6);
    const seventh = event(uniqueId('seventh'), r.id, '2026-11-24T15:00:30Z', '2026-11-24T15:00:31Z', 1);
    expect(rejectedIds((await postUsage(t, [seventh])).body)).toEqual([seventh.id]);
    expect(await totalOf(r.id)).toBe(480);
  });
});

describe('under concurrency', () => {
  it('random overlapping events from 8 concurrent meters never put a minute over the cap, and what is counted is exactly what was accepted', async () => {
    const gpus = 8;
    const r = await freshReservation();
    const random = seededRandom(7);
    const base = Date.parse('2026-11-24T16:00:00Z') / 1000;
    // Events of 1 s to 3 min, 1 to 8 GPUs, over two hours: far more than the reservation can use.
    const events: UsageEvent[] = Array.from({ length: 320 }, (_, i) => {
      const start = base + Math.floor(random() * 7200);
      const length = 1 + Math.floor(random() * 180);
      return event(`rnd-${i}-${uniqueId('c')}`, r.id, new Date(start * 1000).toISOString(), new Date(Math.min(start + length, base + 7200) * 1000).toISOString(), 1 + Math.floor(random() * gpus));
    }).filter((e) => Date.parse(e.end) > Date.parse(e.start));
    const batches = Array.from({ length: 8 }, (_, k) => events.filter((_, i) => i % 8 === k));
    const results = await Promise.all(batches.map((b) => postUsage(t, b)));
    expect(results.map((x) => x.status)).toEqual(Array(8).fill(200));
    const refused = new Set(results.flatMap((x) => rejectedIds(x.body)));
    expect(results.reduce((s, x) => s + x.body.rejected.length, 0)).toBe(refused.size);
    expect(results.reduce((s, x) => s + x.body.duplicates, 0)).toBe(0);
    const accepted = events.filter((e) => !refused.has(e.id));
    expect(results.reduce((s, x) => s + x.body.accepted, 0)).toBe(accepted.length);
    expect(refused.size).toBeGreaterThan(0);

    // Per second, then per minute, from the accepted events: never over gpus × 60 in a minute.
    const perMinute = new Map<number, number>();
    let acceptedSeconds = 0;
    for (const e of accepted) {
      for (let s = Date.parse(e.start) / 1000; s < Date.parse(e.end) / 1000; s++) {
        const minute = Math.floor(s / 60);
        perMinute.set(minute, (perMinute.get(minute) ?? 0) + e.gpus);
        acceptedSeconds += e.gpus;
      }
    }
    expect(Math.max(...perMinute.values())).toBeLessThanOrEqual(gpus * 60);
    // Counted = accepted = claimed, to the GPU-second.
    expect(await totalOf(r.id)).toBe(acceptedSeconds);
    const claims = await Promise.all(events.map((e) => getClaim(t.db, e.id)));
    expect(claims.filter((c) => c !== null).map((c) => c!.eventId).sort()).toEqual(accepted.map((e) => e.id).sort());
  });

  it('a full hour of per-minute events for every pair of GPUs, sent 3 times over under other ids by 6 concurrent requests, counts exactly gpus × 3600', async () => {
    const gpus = 8;
    const r = await freshReservation();
    // Three meters each report every minute of the hour for each pair of GPUs under their own ids.
    const events = [0, 1, 2].flatMap((copy) =>
      Array.from({ length: 60 * 4 }, (_, i) => {
        const minute = Math.floor(i / 4);
        return event(`copy${copy}-${i}-${uniqueId('m')}`, r.id, at('2026-11-24T19:00:00Z', minute * 60), at('2026-11-24T19:00:00Z', (minute + 1) * 60), 2);
      }),
    );
    const random = seededRandom(11);
    const shuffled = [...events].sort(() => random() - 0.5);
    const batches = Array.from({ length: 6 }, (_, k) => shuffled.filter((_, i) => i % 6 === k));
    const results = await Promise.all(batches.map((b) => postUsage(t, b)));
    expect(results.reduce((s, x) => s + x.body.accepted, 0)).toBe(60 * 4);
    expect(results.reduce((s, x) => s + x.body.rejected.length, 0)).toBe(2 * 60 * 4);
    expect(await totalOf(r.id)).toBe(gpus * 3600);
  });
});
