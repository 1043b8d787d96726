/**
 * The outbox rule under injected transaction failures: conflicts, throttling, timeouts before the
 * write and timeouts after it committed. Whatever the API answered, the table never holds a change
 * without its event or an event without its change, and the partner gets each event exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toApiReservation } from '../../shared/domain/reservation.ts';
import { listEvents, type DomainEvent } from '../../shared/store/events.ts';
import { listReservations } from '../../shared/store/reservations.ts';
import { deliveryIdFor } from '../../shared/webhooks/deliveries.ts';
import { seededRandom, withFaults, type FaultKind } from '../support/faults.ts';
import { HOUR, ORG, verifyAsPartner, webhookTest, type WebhookTest } from './webhooks.fixtures.ts';

const KINDS: FaultKind[] = ['conflict', 'canceled_conflict', 'throttle', 'timeout_before', 'timeout_after_commit'];
const random = seededRandom(20261124);
const injected: Record<string, number> = {};

let w: WebhookTest;
beforeAll(async () => {
  w = await webhookTest({
    // Few retries, so that some changes give up (503) while others commit on a retry or commit and then time out.
    retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5, maxRetryTimeMs: 2_000 },
    wrapDoc: (doc) => {
      const faulty = withFaults(doc, { commands: ['TransactWriteCommand'], pick: () => (random() < 0.5 ? KINDS[Math.floor(random() * KINDS.length)]! : null) });
      Object.assign(injected, { stats: faulty.stats });
      return faulty.doc;
    },
  });
});
afterAll(() => w.close());

describe('the outbox under injected transaction failures', () => {
  it('never has a change without its event nor an event without its change, and delivers each event once', async () => {
    const { t } = w;
    let secret = '';
    const partner = await w.receiver({ respond: (r) => (verifyAsPartner(secret, r, t.clock()), { status: 204 }) });
    const endpoint = await w.endpoint(partner.url);
    secret = endpoint.secret;

    const answers: Record<string, number> = {};
    const count = (status: number) => (answers[status] = (answers[status] ?? 0) + 1);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      t.clock.advance(1000); // every change gets its own updatedAt
      const start = new Date(Math.ceil((t.clock().getTime() + (10 + i) * 24 * HOUR) / HOUR) * HOUR).toISOString();
      const end = new Date(Date.parse(start) + 24 * HOUR).toISOString();
      const quote = await t.call('POST', '/v1/quotes', { body: { site: 'marseille', gpuType: 'h100-sxm-80gb', gpus: 8, start, end } });
      expect(quote.status).toBe(201);
      const held = await t.call('POST', '/v1/reservations', { body: { quoteId: quote.body.id } });
      count(held.status);
      if (held.status === 201) ids.push(held.body.id);
    }
    for (const [i, id] of ids.entries()) {
      t.clock.advance(1000);
      count((await t.call('POST', `/v1/reservations/${id}/confirm`)).status);
      t.clock.advance(1000);
      if (i % 3 === 0) count((await t.call('POST', `/v1/reservations/${id}/cancel`)).status);
      if (i % 3 === 1) {
        const r = (await t.call('GET', `/v1/reservations/${id}`)).body;
        count((await t.call('POST', `/v1/reservations/${id}/extend`, { body: { end: new Date(Date.parse(r.end) + 24 * HOUR).toISOString() } })).status);
      }
    }
    // The run must have exercised both outcomes, and the nastiest fault.
    const stats = (injected as { stats?: { injected: Record<string, number> } }).stats!;
    expect(stats.injected.timeout_after_commit ?? 0).toBeGreaterThan(0);
    expect(Object.keys(answers).map(Number)).toEqual(expect.arrayContaining([200, 201, 503]));

    const reservations = (await listReservations(t.db, ORG, { limit: 200 })).data;
    const events = (await listEvents(t.db, ORG, 0, 1000)).data;
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1)); // gapless

    const eventsOf = new Map<string, DomainEvent[]>();
    for (const e of events) {
      const id = String(e.data.id);
      eventsOf.set(id, [...(eventsOf.get(id) ?? []), e]);
    }
    // No event without its change: every event's reservation exists.
    expect([...eventsOf.keys()].every((id) => reservations.some((r) => r.id === id))).toBe(true);
    for (const r of reservations) {
      const mine = eventsOf.get(r.id) ?? [];
      // No change without its event: the latest event carries the reservation exactly as it is now.
      const { extension: _extension, ...lastData } = mine.at(-1)!.data as Record<string, unknown>;
      expect(lastData).toEqual(JSON.parse(JSON.stringify(toApiReservation(r))));
      // One event per change: held once, then one per later update.
      expect(mine.map((e) => e.type)[0]).toBe('reservation.held');
      expect(new Set(mine.map((e) => e.data.updatedAt)).size).toBe(mine.length);
      expect(mine.filter((e) => e.type === 'reservation.confirmed')).toHaveLength(r.confirmedAt ? 1 : 0);
      expect(mine.filter((e) => e.type === 'reservation.cancelled')).toHaveLength(r.status === 'cancelled' ? 1 : 0);
    }

    await w.pump();
    const delivered = partner.received.filter((r) => r.status === 204);
    expect(delivered.map((r) => r.headers['webhook-id']).sort()).toEqual(events.map((e) => deliveryIdFor(e.id, endpoint.id)).sort());
  });
});
