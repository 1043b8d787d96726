import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sweepDueReservations } from '../../shared/services/sweeper.ts';
import { listEvents } from '../../shared/store/events.ts';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { getDelivery, type WebhookDelivery } from '../../shared/store/webhook-deliveries.ts';
import { DUE_MARK_GRACE_MS, dueShardOf, listDueEndpoints, webhookKeys } from '../../shared/store/webhooks.ts';
import { deliveryIdFor } from '../../shared/webhooks/deliveries.ts';
import { LEASE_MS } from '../../shared/webhooks/delivery-attempt.ts';
import { RETRY_DELAYS_MS } from '../../shared/webhooks/schedule.ts';
import { sendWebhook } from '../../shared/webhooks/send.ts';
import type { SendWebhook } from '../../shared/webhooks/delivery-attempt.ts';
import { DAY, HOUR, MINUTE, ORG, hold, verifyAsPartner, webhookTest, type WebhookTest } from './webhooks.fixtures.ts';

let w: WebhookTest;
let current: WebhookTest | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

/** A fresh table, clock and webhooks for one test (replacing the one beforeEach made, if any). */
async function fresh(options: Parameters<typeof webhookTest>[0] = {}): Promise<WebhookTest> {
  await current?.close();
  current = w = await webhookTest(options);
  return w;
}

const deliveriesOf = async (endpointId: string) => {
  const res = await w.t.call('GET', `/v1/webhook-endpoints/${endpointId}/deliveries?limit=200`);
  expect(res.status).toBe(200);
  return res.body.data as { id: string; status: string; attemptCount: number; eventType: string; responseStatus: number | null; latencyMs: number | null; nextAttemptAt: string | null; attempts: { at: string; responseStatus: number | null; latencyMs: number | null; error: string | null }[] }[];
};

describe('a partner endpoint on loopback', () => {
  beforeEach(async () => {
    await fresh();
  });

  it('receives every event of its reservations’ lives, verified, although it failed the first 3 attempts of each', async () => {
    const { t } = w;
    let secret = '';
    const attemptsById = new Map<string, number>();
    const partner = await w.receiver({
      respond: (request) => {
        const id = String(request.headers['webhook-id']);
        const n = (attemptsById.get(id) ?? 0) + 1;
        attemptsById.set(id, n);
        if (n <= 3) return { status: 500, body: 'down for maintenance' };
        verifyAsPartner(secret, request, t.clock()); // throws → the receiver answers 500
        return { status: 204 };
      },
    });
    const endpoint = await w.endpoint(partner.url);
    secret = endpoint.secret;

    // A reserved booking: held, confirmed, extended, cancelled.
    const booked = await hold(t);
    expect((await t.call('POST', `/v1/reservations/${booked.id}/confirm`)).status).toBe(200);
    const newEnd = new Date(Date.parse(booked.end) + 24 * HOUR).toISOString();
    expect((await t.call('POST', `/v1/reservations/${booked.id}/extend`, { body: { end: newEnd } })).status).toBe(200);
    expect((await t.call('POST', `/v1/reservations/${booked.id}/cancel`)).status).toBe(200);
    // An on-demand run: started, stopped. A hold nobody confirms: held, expired.
    const run = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8 } });
    expect(run.status).toBe(201);
    expect((await t.call('POST', `/v1/reservations/${run.body.id}/stop`)).status).toBe(200);
    const forgotten = await hold(t, { startInHours: 24 * 20 });
    // Another org's booking never reaches this endpoint.
    await hold(t, { key: t.keys.customer2, startInHours: 24 * 30 });

    await w.pump();
    t.clock.advance(16 * MINUTE);
    await sweepDueReservations({ db: t.db, clock: t.clock, booking: t.deps.booking });
    await w.pump();
    for (let i = 0; i < 20 && [...attemptsById.values()].some((n) => n < 4); i++) await w.advance(10 * MINUTE);

    const events = (await listEvents(t.db, ORG, 0, 100)).data;
    expect(events.map((e) => e.type)).toEqual([
      'reservation.held',
      'reservation.confirmed',
      'reservation.extended',
      'reservation.cancelled',
      'reservation.started',
      'reservation.stopped',
      'reservation.held',
      'reservation.expired',
    ]);
    expect(events.at(-1)!.data.id).toBe(forgotten.id);

    const delivered = partner.received.filter((r) => r.status === 204);
    expect(delivered).toHaveLength(events.length);
    for (const event of events) {
      const msgId = deliveryIdFor(event.id, endpoint.id);
      const attempts = partner.received.filter((r) => r.headers['webhook-id'] === msgId);
      expect(attempts.map((r) => r.status)).toEqual([500, 500, 500, 204]);
      const last = attempts.at(-1)!;
      expect(verifyAsPartner(secret, last, new Date(Number(last.headers['webhook-timestamp']) * 1000))).toEqual({
        type: event.type,
        timestamp: event.createdAt,
        data: event,
      });
    }
    const deliveries = await deliveriesOf(endpoint.id);
    expect(deliveries).toHaveLength(events.length);
    expect(deliveries.every((d) => d.status === 'succeeded' && d.attemptCount === 4 && d.responseStatus === 204)).toBe(true);
  });

  it('follows the retry schedule and keeps a delivery log with response codes and latency', async () => {
    await fresh({ random: () => 0 });
    const { t } = w;
    const partner = await w.receiver({ failFirst: 3, failStatus: 500 });
    const endpoint = await w.endpoint(partner.url, ['reservation.held']);
    await hold(t);
    await w.pump();
    const start = t.clock().getTime();

    const [first] = await deliveriesOf(endpoint.id);
    expect(first).toMatchObject({ status: 'pending', attemptCount: 1, responseStatus: 500, nextAttemptAt: new Date(start + 5_000).toISOString() });

    expect(await w.advance(4_999)).toBe(0);
    expect(await w.advance(1)).toBe(1); // attempt 2, 5 s after the first
    expect(await w.advance(5 * MINUTE - 1)).toBe(0);
    expect(await w.advance(1)).toBe(1); // attempt 3, 5 min later
    expect(await w.advance(30 * MINUTE - 1)).toBe(0);
    expect(await w.advance(1)).toBe(1); // attempt 4, 30 min later: succeeds

    const [done] = await deliveriesOf(endpoint.id);
    expect(done).toMatchObject({ status: 'succeeded', attemptCount: 4, responseStatus: 204, nextAttemptAt: null, error: null });
    expect(done!.attempts.map((a) => a.responseStatus)).toEqual([500, 500, 500, 204]);
    expect(done!.attempts.every((a) => typeof a.latencyMs === 'number' && a.latencyMs >= 0)).toBe(true);
    expect(done!.attempts[0]!.error).toBe('HTTP 500');
    expect(new Set(partner.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([done!.id]));
    expect(await w.advance(DAY)).toBe(0);
    expect(partner.received).toHaveLength(4);
  });

  it('marks a delivery failed after the tenth attempt, more than three days after the first', async () => {
    await fresh({ random: () => 0 });
    const partner = await w.receiver({ respond: () => ({ status: 500 }) });
    const endpoint = await w.endpoint(partner.url);
    await hold(w.t);
    await w.pump();
    const start = w.t.clock().getTime();
    for (const wait of RETRY_DELAYS_MS.slice(1)) expect(await w.advance(wait)).toBe(1);
    const [d] = await deliveriesOf(endpoint.id);
    expect(d).toMatchObject({ status: 'failed', attemptCount: 10, nextAttemptAt: null });
    expect(partner.received).toHaveLength(10);
    expect(Date.parse(d!.attempts.at(-1)!.at) - start).toBeGreaterThanOrEqual(75 * HOUR);
    expect(await w.advance(7 * DAY)).toBe(0);
    expect((await w.t.call('GET', `/v1/webhook-endpoints/${endpoint.id}`)).body.status).toBe('enabled');
  });
});

describe('the endpoint’s answers', () => {
  beforeEach(async () => {
    await fresh();
  });

  it('410 Gone disables the endpoint at once, with a webhook_endpoint.disabled event', async () => {
    const { t } = w;
    const gone = await w.receiver({ respond: () => ({ status: 410, body: 'we moved' }) });
    const observer = await w.receiver();
    const goneEndpoint = await w.endpoint(gone.url);
    const observerEndpoint = await w.endpoint(observer.url, ['webhook_endpoint.disabled']);

    await hold(t);
    await w.pump();
    const got = await t.call('GET', `/v1/webhook-endpoints/${goneEndpoint.id}`);
    expect(got.body).toMatchObject({ status: 'disabled', disabledReason: 'the endpoint answered 410 Gone' });
    const [failed] = await deliveriesOf(goneEndpoint.id);
    expect(failed).toMatchObject({ status: 'failed', attemptCount: 1, responseStatus: 410 });

    const events = (await t.call('GET', '/v1/events')).body.data as { type: string; data: { id: string; status: string } }[];
    expect(events.map((e) => e.type)).toEqual(['reservation.held', 'webhook_endpoint.disabled']);
    expect(events[1]!.data).toMatchObject({ id: goneEndpoint.id, status: 'disabled' });
    expect(JSON.stringify(events[1]!.data)).not.toContain('whsec_');

    await w.pump();
    expect(observer.received).toHaveLength(1);
    expect(JSON.parse(observer.received[0]!.body)).toMatchObject({ type: 'webhook_endpoint.disabled', data: { data: { id: goneEndpoint.id } } });

    await hold(t, { startInHours: 24 * 40 });
    await w.pump();
    expect(gone.received).toHaveLength(1);
    expect((await deliveriesOf(observerEndpoint.id)).map((d) => d.eventType)).toEqual(['webhook_endpoint.disabled']);
    expect((await t.call('POST', `/v1/webhook-endpoints/${goneEndpoint.id}/deliveries/${failed!.id}/retry`)).status).toBe(409);
  });

  it('honours Retry-After on 429 and 503 when it asks for longer than the schedule', async () => {
    let calls = 0;
    const partner = await w.receiver({
      respond: () => {
        calls += 1;
        if (calls === 1) return { status: 429, headers: { 'retry-after': '3600' } };
        if (calls === 2) return { status: 503, headers: { 'retry-after': new Date(w.t.clock().getTime() + 2 * HOUR).toUTCString() } };
        return { status: 204 };
      },
    });
    const endpoint = await w.endpoint(partner.url);
    await hold(w.t);
    await w.pump();
    const [afterFirst] = await deliveriesOf(endpoint.id);
    expect(Date.parse(afterFirst!.nextAttemptAt!) - w.t.clock().getTime()).toBeGreaterThanOrEqual(HOUR);

    expect(await w.advance(59 * MINUTE)).toBe(0);
    expect(await w.advance(HOUR * 0.25)).toBe(1); // 429's hour, not the schedule's 5 s
    const [afterSecond] = await deliveriesOf(endpoint.id);
    expect(afterSecond!.responseStatus).toBe(503);
    expect(Date.parse(afterSecond!.nextAttemptAt!) - w.t.clock().getTime()).toBeGreaterThanOrEqual(2 * HOUR - 1000);
    expect(await w.advance(HOUR)).toBe(0);
    expect(await w.advance(HOUR + MINUTE)).toBe(1);
    expect((await deliveriesOf(endpoint.id))[0]).toMatchObject({ status: 'succeeded', attemptCount: 3 });
  });

  it('disables an endpoint that has failed for 5 days without a success, with an event; a success in between resets the count', async () => {
    const { t } = w;
    let healthy = false;
    const partner = await w.receiver({ respond: () => ({ status: healthy ? 204 : 500 }) });
    const endpoint = await w.endpoint(partner.url);
    const start = t.clock().getTime();

    await hold(t);
    await w.pump();
    expect((await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}`)).body.failingSince).toBe(new Date(start).toISOString());
    healthy = true;
    await w.advance(10 * MINUTE); // retries succeed: the endpoint is healthy again
    expect((await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}`)).body.failingSince).toBeNull();

    healthy = false;
    await hold(t, { startInHours: 24 * 30 });
    await w.pump();
    const failingSince = t.clock().toISOString();
    for (let day = 1; day <= 4; day++) {
      await w.advance(DAY);
      await hold(t, { startInHours: 24 * (30 + day * 10) });
      await w.pump();
    }
    expect((await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}`)).body).toMatchObject({ status: 'enabled', failingSince });

    await w.advance(DAY); // day 5: the next failed attempt disables it
    const disabled = (await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}`)).body;
    expect(disabled).toMatchObject({ status: 'disabled' });
    expect(disabled.disabledReason).toContain('5 days');
    const events = (await t.call('GET', '/v1/events?limit=500')).body.data as { type: string; data: { id: string } }[];
    expect(events.filter((e) => e.type === 'webhook_endpoint.disabled').map((e) => e.data.id)).toEqual([endpoint.id]);

    const before = partner.received.length;
    await w.advance(2 * DAY);
    expect(partner.received).toHaveLength(before);
    const deliveries = await deliveriesOf(endpoint.id);
    expect(deliveries.every((d) => d.status !== 'pending')).toBe(true);
  });
});

describe('a sender that crashes mid-delivery', () => {
  it('leaves the delivery leased; it is attempted again once the lease runs out', async () => {
    let crashes = 1;
    const crashingOnce: SendWebhook = async (input) => {
      if (crashes-- > 0) throw new Error('sender process died');
      return sendWebhook(input);
    };
    await fresh({ send: crashingOnce });
    let secret = '';
    const partner = await w.receiver({
      respond: (request) => {
        verifyAsPartner(secret, request, w.t.clock());
        return { status: 200 };
      },
    });
    const endpoint = await w.endpoint(partner.url);
    secret = endpoint.secret;
    await hold(w.t);
    await w.pump();

    expect(partner.received).toHaveLength(0);
    const [leased] = await deliveriesOf(endpoint.id);
    expect(leased).toMatchObject({ status: 'pending', attemptCount: 1 });
    expect(Date.parse(leased!.nextAttemptAt!)).toBe(w.t.clock().getTime() + LEASE_MS);

    expect(await w.advance(LEASE_MS / 2)).toBe(0);
    expect(await w.advance(LEASE_MS / 2)).toBe(1);
    expect(partner.received.map((r) => r.status)).toEqual([200]);
    const [done] = await deliveriesOf(endpoint.id);
    expect(done).toMatchObject({ status: 'succeeded', attemptCount: 2, responseStatus: 200 });
    expect(done!.attempts[0]).toMatchObject({ responseStatus: null, error: expect.stringContaining('did not complete') });
  });
});

describe('the due index (issue 15, finding 7)', () => {
  it('keeps an endpoint marked while it has pending deliveries and unmarks it once none is left and the mark is old', async () => {
    await fresh({ random: () => 0 });
    const partner = await w.receiver({ failFirst: 1 });
    const endpoint = await w.endpoint(partner.url, ['reservation.held']);
    await hold(w.t);
    await w.pump();
    const marks = await listDueEndpoints(w.t.db);
    expect(marks).toEqual([{ orgId: ORG, endpointId: endpoint.id, markedAt: expect.any(String) }]);
    expect(dueShardOf(endpoint.id)).toBe(Number(webhookKeys.endpointDue(endpoint.id).gsi2pk.split('#')[1]));

    // The retry is pending: the pass takes it from the endpoint's own key; the mark stays (it is young).
    expect(await w.advance(5_000)).toBe(1);
    expect((await deliveriesOf(endpoint.id))[0]).toMatchObject({ status: 'succeeded' });
    expect(await listDueEndpoints(w.t.db)).toHaveLength(1);
    // Nothing pending and the mark older than the grace: the next pass removes it.
    expect(await w.advance(DUE_MARK_GRACE_MS)).toBe(0);
    expect(await listDueEndpoints(w.t.db)).toEqual([]);

    // A new delivery marks it again.
    await hold(w.t, { startInHours: 24 * 20 });
    await w.pump();
    expect(partner.received.map((r) => r.status)).toEqual([500, 204, 204]);
    expect(await listDueEndpoints(w.t.db)).toHaveLength(1);
  });

  it('still attempts a delivery left under the single due key of before', async () => {
    await fresh();
    const partner = await w.receiver();
    const endpoint = await w.endpoint(partner.url);
    const now = w.t.clock().toISOString();
    const id = deliveryIdFor('evt_legacy0000000000000000000', endpoint.id);
    const delivery: WebhookDelivery = {
      id,
      endpointId: endpoint.id,
      orgId: ORG,
      eventId: 'evt_legacy0000000000000000000',
      eventType: 'reservation.held',
      payload: JSON.stringify({ type: 'reservation.held', timestamp: now, data: {} }),
      status: 'pending',
      attemptCount: 1,
      nextAttemptAt: now,
      leasedAt: null,
      attempts: [{ at: now, responseStatus: 500, latencyMs: 3, error: 'HTTP 500' }],
      createdAt: now,
      updatedAt: now,
      version: 2,
    };
    await w.t.db.doc.send(
      new PutCommand({
        TableName: w.t.db.table,
        Item: { ...webhookKeys.delivery(endpoint.id, id), ...webhookKeys.deliveryIndex(id), gsi2pk: 'DLVDUE', gsi2sk: `${now}#${id}`, entity: 'webhookDelivery', delivery },
      }),
    );
    expect(await w.advance(1)).toBe(1);
    expect(partner.received).toHaveLength(1);
    expect(await getDelivery(w.t.db, endpoint.id, id)).toMatchObject({ status: 'succeeded', attemptCount: 2 });
    expect(await w.advance(DAY)).toBe(0);
  });
});
