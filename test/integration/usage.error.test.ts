import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meteringModule } from '../../shared/http/modules.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { at, event, minuteEvents, postUsage, reservationUsage, reserve, startOnDemand, sweep, uniqueId } from './usage.fixtures.ts';

let t: TestContext;
let running: { id: string; start: string; gpus: number };
beforeAll(async () => {
  t = await createTestContext({ modules: [meteringModule], start: '2026-11-24T10:00:00Z' });
  running = await startOnDemand(t, { gpus: 8 });
  t.clock.set('2026-11-24T12:00:00Z');
});
afterAll(() => t.close());

/** Posts one event and returns its rejection reason (null when accepted). */
async function reasonFor(e: ReturnType<typeof event>): Promise<string | null> {
  const res = await postUsage(t, [e]);
  expect(res.status).toBe(200);
  if (res.body.accepted === 1) return null;
  expect(res.body.rejected).toHaveLength(1);
  expect(res.body.rejected[0].id).toBe(e.id);
  return res.body.rejected[0].reason;
}

describe('rejection reasons', () => {
  it('unknown_reservation', async () => {
    expect(await reasonFor(event(uniqueId('u'), 'res_01doesnotexist', '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z'))).toBe('unknown_reservation');
  });

  it('ends_before_start, including an empty interval', async () => {
    expect(await reasonFor(event(uniqueId('e'), running.id, '2026-11-24T11:01:00Z', '2026-11-24T11:00:00Z'))).toBe('ends_before_start');
    expect(await reasonFor(event(uniqueId('e'), running.id, '2026-11-24T11:00:00Z', '2026-11-24T11:00:00Z'))).toBe('ends_before_start');
    expect(await reasonFor(event(uniqueId('e'), running.id, '2026-11-24T11:00:00.200Z', '2026-11-24T11:00:00.900Z'))).toBe('ends_before_start');
  });

  it('in_future: more than 5 minutes after the server clock (up to 5 minutes is clock skew)', async () => {
    expect(await reasonFor(event(uniqueId('f'), running.id, '2026-11-24T11:59:00Z', '2026-11-24T12:05:01Z'))).toBe('in_future');
    expect(await reasonFor(event(uniqueId('f'), running.id, '2026-11-24T11:59:00Z', '2026-11-24T12:05:00Z'))).toBeNull();
  });

  it('too_old: start more than 35 days ago', async () => {
    const old = await startOnDemand(t, { gpus: 8, gpuType: 'b200-sxm-192gb' });
    t.clock.set('2026-12-29T12:00:00Z');
    try {
      expect(await reasonFor(event(uniqueId('o'), old.id, '2026-11-24T11:59:59Z', '2026-11-24T12:10:00Z'))).toBe('too_old');
      expect(await reasonFor(event(uniqueId('o'), old.id, '2026-11-24T12:00:00Z', '2026-11-24T12:10:00Z'))).toBeNull();
    } finally {
      t.clock.set('2026-11-24T12:00:00Z');
    }
  });

  it('interval_too_long: more than 24 hours in one event', async () => {
    // A reservation of its own: the 24-hour event must not overlap minutes other tests filled.
    t.clock.set('2026-11-24T10:00:00Z');
    const idle = await startOnDemand(t, { gpus: 8 });
    t.clock.set('2026-11-25T12:00:00Z');
    try {
      expect(await reasonFor(event(uniqueId('l'), idle.id, '2026-11-24T10:00:00Z', '2026-11-25T10:00:01Z'))).toBe('interval_too_long');
      expect(await reasonFor(event(uniqueId('l'), idle.id, '2026-11-24T10:30:00Z', '2026-11-25T10:30:00Z'))).toBeNull();
    } finally {
      t.clock.set('2026-11-24T12:00:00Z');
    }
  });

  it('too_many_gpus: more GPUs than reserved', async () => {
    expect(await reasonFor(event(uniqueId('g'), running.id, '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z', 9))).toBe('too_many_gpus');
    expect(await reasonFor(event(uniqueId('g'), running.id, '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z', 8))).toBeNull();
  });

  it('interval_outside_reservation: before it started, after it stopped, or a booking that never ran', async () => {
    expect(await reasonFor(event(uniqueId('i'), running.id, '2026-11-24T09:59:59Z', '2026-11-24T10:01:00Z'))).toBe('interval_outside_reservation');

    const stopped = await startOnDemand(t, { gpus: 8, gpuType: 'h200-sxm-141gb' });
    t.clock.set('2026-11-24T13:00:00Z');
    expect((await t.call('POST', `/v1/reservations/${stopped.id}/stop`)).status).toBe(200);
    t.clock.set('2026-11-24T13:03:00Z');
    expect(await reasonFor(event(uniqueId('i'), stopped.id, '2026-11-24T12:59:00Z', '2026-11-24T13:00:01Z'))).toBe('interval_outside_reservation');
    expect(await reasonFor(event(uniqueId('i'), stopped.id, '2026-11-24T12:59:00Z', '2026-11-24T13:00:00Z'))).toBeNull();

    t.clock.set('2026-11-24T14:00:00Z');
    const held = await reserve(t, { startIn: 1, hours: 2, confirm: false });
    const confirmed = await reserve(t, { startIn: 1, hours: 2 });
    t.clock.set('2026-11-24T15:30:00Z');
    await sweep(t);
    // The hold expired without ever running; the confirmed one ran from 15:00 to 17:00.
    expect(await reasonFor(event(uniqueId('i'), held.id, '2026-11-24T15:00:00Z', '2026-11-24T15:10:00Z'))).toBe('interval_outside_reservation');
    expect(await reasonFor(event(uniqueId('i'), confirmed.id, '2026-11-24T15:00:00Z', '2026-11-24T15:10:00Z'))).toBeNull();
    t.clock.set('2026-11-24T17:30:00Z');
    expect(await reasonFor(event(uniqueId('i'), confirmed.id, '2026-11-24T16:55:00Z', '2026-11-24T17:00:01Z'))).toBe('interval_outside_reservation');
    t.clock.set('2026-11-24T12:00:00Z');
  });

  it('duplicate_in_batch: the same id with other content; the same content again is one duplicate', async () => {
    const id = uniqueId('d');
    const first = event(id, running.id, '2026-11-24T11:10:00Z', '2026-11-24T11:11:00Z');
    const res = await postUsage(t, [first, { ...first }, { ...first, gpus: 4 }, { ...first, end: '2026-11-24T11:12:00Z' }]);
    expect(res.body).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: [
        { id, reason: 'duplicate_in_batch' },
        { id, reason: 'duplicate_in_batch' },
      ],
    });
  });

  it('answers every event of a mixed batch: accepted + duplicates + rejected = sent, and counts only the accepted', async () => {
    const before = (await reservationUsage(t, running.id, '&from=2026-11-24T11:00:00Z&to=2026-11-24T12:00:00Z')).gpuSeconds;
    const good = minuteEvents(running.id, '2026-11-24T11:20:00Z', 5, 8, 'mix');
    const res = await postUsage(t, [
      ...good,
      event(uniqueId('m'), running.id, '2026-11-24T11:30:00Z', '2026-11-24T11:29:00Z'),
      event(uniqueId('m'), running.id, '2026-11-24T11:30:00Z', '2026-11-24T11:31:00Z', 64),
      event(uniqueId('m'), 'res_01nope', '2026-11-24T11:30:00Z', '2026-11-24T11:31:00Z'),
      good[0],
    ]);
    expect(res.body.accepted).toBe(5);
    expect(res.body.duplicates).toBe(1);
    expect(res.body.rejected.map((r: { reason: string }) => r.reason).sort()).toEqual(['ends_before_start', 'too_many_gpus', 'unknown_reservation']);
    const after = (await reservationUsage(t, running.id, '&from=2026-11-24T11:00:00Z&to=2026-11-24T12:00:00Z')).gpuSeconds;
    expect(after - before).toBe(5 * 60 * 8);
  });
});

describe('batch limits and malformed input', () => {
  it('accepts a 1000-event batch and refuses 1001 events with a 400 naming the field', async () => {
    t.clock.set('2026-11-26T12:00:00Z');
    const day = '&from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z&granularity=day';
    const before = (await reservationUsage(t, running.id, day)).gpuSeconds;
    const events = Array.from({ length: 1000 }, (_, i) => event(`${uniqueId('k')}-${i}`, running.id, at('2026-11-25T00:00:00Z', i * 60), at('2026-11-25T00:00:00Z', i * 60 + 30)));
    const ok = await postUsage(t, events);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ accepted: 1000, duplicates: 0, rejected: [] });
    expect((await reservationUsage(t, running.id, day)).gpuSeconds - before).toBe(1000 * 30 * 8);

    const tooMany = await postUsage(t, [...events, event(uniqueId('k'), running.id, '2026-11-25T20:00:00Z', '2026-11-25T20:01:00Z')]);
    expect(tooMany.status).toBe(400);
    expect(tooMany.headers.get('content-type')).toContain('application/problem+json');
    expect(tooMany.body.errors.map((e: { path: string }) => e.path)).toContain('events');
    t.clock.set('2026-11-24T12:00:00Z');
  });

  it.each([
    ['an empty batch', { events: [] }, 'events'],
    ['an id over 128 characters', { events: [event('x'.repeat(129), 'res_1', '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z')] }, 'events[0].id'],
    ['an empty id', { events: [event('', 'res_1', '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z')] }, 'events[0].id'],
    ['a start that is not RFC 3339', { events: [event('a', 'res_1', 'yesterday', '2026-11-24T11:01:00Z')] }, 'events[0].start'],
    ['zero GPUs', { events: [event('a', 'res_1', '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z', 0)] }, 'events[0].gpus'],
    ['fractional GPUs', { events: [event('a', 'res_1', '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z', 1.5)] }, 'events[0].gpus'],
    ['an unknown field', { events: [{ ...event('a', 'res_1', '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z'), gpuSeconds: 60 }] }, 'events[0].gpuSeconds'],
    ['no events field', { usage: [] }, 'events'],
  ])('refuses %s with a 400 naming the field, counting nothing', async (_label, body, path) => {
    const res = await t.call('POST', '/v1/usage', { key: t.keys.meter, body });
    expect(res.status).toBe(400);
    const paths: string[] = res.body.errors.map((e: { path: string }) => e.path);
    // An unknown key is named either by itself or by the object holding it.
    expect(paths.some((p) => p === path || path.startsWith(`${p}.`))).toBe(true);
  });

  it('refuses malformed JSON with a 400', async () => {
    const res = await t.call('POST', '/v1/usage', { key: t.keys.meter, rawBody: '{"events": [' });
    expect(res.status).toBe(400);
    expect(res.body.type).toContain('malformed-json');
  });

  it('validates the read query', async () => {
    const bad = await t.call('GET', `/v1/usage?reservationId=${running.id}&granularity=week`);
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('granularity');
    const backwards = await t.call('GET', `/v1/usage?reservationId=${running.id}&from=2026-11-24T12:00:00Z&to=2026-11-24T10:00:00Z`);
    expect(backwards.status).toBe(400);
    expect(backwards.body.errors[0].path).toBe('to');
    const tooLong = await t.call('GET', `/v1/usage?reservationId=${running.id}&from=2026-01-01T00:00:00Z&to=2026-11-24T10:00:00Z`);
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.errors[0].path).toBe('from');
    const daily = await t.call('GET', `/v1/usage?reservationId=${running.id}&from=2026-01-01T00:00:00Z&to=2026-11-24T10:00:00Z&granularity=day`);
    expect(daily.status).toBe(200);
    expect(daily.body.buckets).toHaveLength(328);
  });
});
