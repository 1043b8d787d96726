/**
 * Issue 15, finding 7: one org's dead endpoints must not delay another org's deliveries or retries.
 * Org A has five endpoints whose receivers are gone (three accept the connection and never answer,
 * two refuse it) with 1,000 deliveries pending and overdue; org B's live endpoint must still get its
 * first delivery within ~3 s and its retry (due 5 s after the failed first attempt) in the first
 * due-retry pass after it is due. Before the due index was per endpoint, the pass took the 500 oldest
 * due deliveries from one index key: all of them A's, so B's retry was not taken at all.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../shared/store/events.ts';
import { listDueEndpoints } from '../../shared/store/webhooks.ts';
import { DUE_BATCH, MIN_DUE_SHARE } from '../../shared/webhooks/due-pass.ts';
import { ORG, OTHER_ORG, webhookTest, type WebhookTest } from './webhooks.fixtures.ts';

/** A receiver that accepts connections and never answers (each attempt runs into the send timeout). */
async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL nothing listens on (connections are refused). */
async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/webhook`;
}

const event = (orgId: string, n: number, at: Date): DomainEvent => ({
  id: `evt_fair${orgId.slice(4, 8)}${String(n).padStart(6, '0')}`,
  type: 'reservation.held',
  createdAt: at.toISOString(),
  orgId,
  sequence: n,
  data: { id: `res_fair${n}`, status: 'held' },
});

async function waitFor(check: () => boolean, limitMs: number): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > limitMs) throw new Error(`not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

let w: WebhookTest | undefined;
const silent: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of silent.splice(0)) await s.close();
  await w?.webhooks.idle();
  await w?.close();
  w = undefined;
});

describe('webhook fairness (issue 15, finding 7)', () => {
  it('a live partner gets its first delivery within 3 s and its retry in the first pass after it is due, beside 1,000 failing deliveries of another org', async () => {
    w = await webhookTest({ fetchTimeoutMs: 2_000, random: () => 0 });
    const { t } = w;

    // Org A: five dead endpoints.
    const deadUrls: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await startSilentServer();
      silent.push(s);
      deadUrls.push(s.url);
    }
    deadUrls.push(await refusedUrl(), await refusedUrl());
    const dead = [];
    for (const url of deadUrls) dead.push(await w.endpoint(url));
    // Org B: a live partner that fails its first attempt (500) and then answers 204.
    const partner = await w.receiver({ failFirst: 1 });
    const live = await w.endpoint(partner.url, ['*'], t.keys.customer2);

    // 200 events of org A → 1,000 deliveries to its dead endpoints, all handed to the queue at once.
    t.clock.advance(1_000);
    const backlog = Array.from({ length: 200 }, (_, n) => event(ORG, n + 1, t.clock()));
    const dispatched = await w.webhooks.dispatchEvents(backlog);
    expect(dispatched.created).toBe(1_000);

    // Org B's event arrives while A's attempts occupy the sender: its first delivery is not behind them.
    t.clock.advance(1_000);
    await w.webhooks.dispatchEvents([event(OTHER_ORG, 1, t.clock())]);
    const firstMs = await waitFor(() => partner.received.length >= 1, 3_000);
    expect(partner.received[0]!.status).toBe(500);
    // The failed attempt is recorded (its retry scheduled) just after the partner answered.
    let scheduled = false;
    while (!scheduled) {
      const log = await t.call('GET', `/v1/webhook-endpoints/${live.id}/deliveries`, { key: t.keys.customer2 });
      const d = (log.body.data as { attemptCount: number; nextAttemptAt: string | null; responseStatus: number | null }[])[0];
      scheduled = d?.responseStatus === 500 && d.nextAttemptAt !== null;
    }

    // Its retry is due 5 s after that attempt (no jitter here). Meanwhile A's 1,000 deliveries are overdue.
    t.clock.advance(5_000);
    const passStarted = Date.now();
    const taken = await w.webhooks.retryDueDeliveries(t.clock());
    const retryMs = await waitFor(() => partner.received.length >= 2, 3_000);
    const passMs = Date.now() - passStarted;
    expect(partner.received[1]!.status).toBe(204);
    expect(partner.received[1]!.headers['webhook-id']).toBe(partner.received[0]!.headers['webhook-id']);

    // Each endpoint's share of the pass is bounded: six endpoints have pending deliveries.
    const marked = await listDueEndpoints(t.db);
    expect(marked.map((m) => m.endpointId).sort()).toEqual(expect.arrayContaining(dead.map((d) => d.id).sort()));
    const share = Math.max(MIN_DUE_SHARE, Math.floor(DUE_BATCH / marked.length));
    expect(taken).toBeLessThanOrEqual(share * marked.length);
    expect(taken).toBeGreaterThan(0);

    console.info(`webhook fairness: first delivery ${firstMs} ms, retry ${retryMs} ms after the pass returned (pass and attempt ${passMs} ms), pass took ${taken} due deliveries (share ${share} per endpoint)`);

    // Drop A's endpoints and stop the silent receivers so the remaining attempts end fast and the queue drains.
    for (const d of dead) expect((await t.call('DELETE', `/v1/webhook-endpoints/${d.id}`)).status).toBe(204);
    for (const s of silent.splice(0)) await s.close();
  });
});
