/**
 * SPEC invariant 3: every POST takes an Idempotency-Key. Same key and body → the first response
 * replayed (status, body, `Idempotent-Replayed: true`) and nothing created twice; same key, other
 * body → 422; same key while the first is in flight → 409; keys are per API key and kept ≥ 24 h.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { scanAll } from '../support/invariants.ts';

/** Holds the next transaction open until released, to keep a request in flight. */
function transactionGate() {
  let arrive = () => {};
  let release = () => {};
  const state = {
    armed: false,
    arrived: Promise.resolve(),
    released: Promise.resolve(),
    arm() {
      state.armed = true;
      state.arrived = new Promise<void>((r) => (arrive = r));
      state.released = new Promise<void>((r) => (release = r));
    },
    open: () => release(),
  };
  const wrap = (doc: DynamoDBDocumentClient): DynamoDBDocumentClient =>
    new Proxy(doc, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: { constructor: { name: string } }, ...rest: unknown[]) => {
          if (state.armed && command.constructor.name === 'TransactWriteCommand') {
            state.armed = false;
            arrive();
            await state.released;
          }
          return (target.send as (...a: unknown[]) => Promise<unknown>).call(target, command, ...rest);
        };
      },
    });
  return { state, wrap };
}

const gate = transactionGate();
let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ wrapDoc: gate.wrap });
});
afterAll(() => t.close());

let n = 0;
const quoteBody = (gpus = 8, site = 'valence-rovaltain') => {
  n++;
  return { site, gpuType: 'h100-sxm-80gb', gpus, start: hoursFrom(t.clock, 24 * 9 + n * 3), end: hoursFrom(t.clock, 24 * 9 + n * 3 + 2) };
};
const withKey = (key: string, extra: { key?: string; body?: unknown } = {}) => ({ ...extra, headers: { 'idempotency-key': key } });

async function countOf(entity: string, where: (item: Record<string, unknown>) => boolean = () => true): Promise<number> {
  return (await scanAll(t.db)).filter((i) => i.entity === entity && where(i)).length;
}

describe('Idempotency-Key', () => {
  it('replays the first response for the same key and body, with the header, and creates nothing twice', async () => {
    const body = quoteBody();
    const first = await t.call('POST', '/v1/quotes', withKey('quote-once', { body }));
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await t.call('POST', '/v1/quotes', withKey('quote-once', { body }));
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(await countOf('quote', (i) => (i.quote as { id: string }).id === first.body.id)).toBe(1);
    expect(await countOf('quote', (i) => (i.quote as { start: string }).start === new Date(body.start).toISOString())).toBe(1);

    const events = async () => (await t.call('GET', '/v1/events?limit=500')).body.data.length as number;
    const held = await t.call('POST', '/v1/reservations', withKey('hold-once', { body: { quoteId: first.body.id } }));
    expect(held.status).toBe(201);
    const eventsAfterHold = await events();
    const heldAgain = await t.call('POST', '/v1/reservations', withKey('hold-once', { body: { quoteId: first.body.id } }));
    expect(heldAgain.status).toBe(201);
    expect(heldAgain.text).toBe(held.text);
    expect(heldAgain.headers.get('idempotent-replayed')).toBe('true');
    expect(await countOf('reservation', (i) => (i.reservation as { quoteId: string }).quoteId === first.body.id)).toBe(1);

    const confirmed = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`, withKey('confirm-once'));
    expect(confirmed.status).toBe(200);
    const confirmedAgain = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`, withKey('confirm-once'));
    expect(confirmedAgain.status).toBe(200);
    expect(confirmedAgain.text).toBe(confirmed.text);
    expect(await events()).toBe(eventsAfterHold + 1);
    // Without the key, a second confirm is a new request: the state machine refuses it.
    expect((await t.call('POST', `/v1/reservations/${held.body.id}/confirm`)).status).toBe(409);
  });

  it('replays an error answer too: a 409 stays a 409 for that key even after capacity frees up', async () => {
    const body = { ...quoteBody(512, 'marseille') };
    const blocker = await t.call('POST', '/v1/quotes', { body: { ...body, gpus: 8 } });
    const held = await t.call('POST', '/v1/reservations', { body: { quoteId: blocker.body.id } });
    expect(held.status).toBe(201);
    const refused = await t.call('POST', '/v1/quotes', withKey('refused-once', { body }));
    expect(refused.status).toBe(409);
    expect((await t.call('POST', `/v1/reservations/${held.body.id}/cancel`)).status).toBe(200);
    const replay = await t.call('POST', '/v1/quotes', withKey('refused-once', { body }));
    expect(replay.status).toBe(409);
    expect(replay.text).toBe(refused.text);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.headers.get('content-type')).toBe('application/problem+json');
    expect((await t.call('POST', '/v1/quotes', withKey('refused-then-new-key', { body }))).status).toBe(201);
  });

  it('answers 422 for the same key with another body or another route, and leaves the first answer intact', async () => {
    const body = quoteBody();
    const first = await t.call('POST', '/v1/quotes', withKey('reused', { body }));
    expect(first.status).toBe(201);
    const other = await t.call('POST', '/v1/quotes', withKey('reused', { body: { ...body, gpus: 16 } }));
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toBe('application/problem+json');
    expect(other.body).toMatchObject({ status: 422, type: expect.stringMatching(/idempotency-key-reused$/) });
    const reordered = await t.call('POST', '/v1/quotes', { rawBody: JSON.stringify(body, Object.keys(body).reverse()), headers: { 'idempotency-key': 'reused' } });
    expect(reordered.status, 'a different byte sequence is a different body').toBe(422);
    const otherRoute = await t.call('POST', '/v1/reservations', withKey('reused', { body: { quoteId: first.body.id } }));
    expect(otherRoute.status).toBe(422);
    expect(await countOf('reservation', (i) => (i.reservation as { quoteId: string }).quoteId === first.body.id)).toBe(0);
    const replay = await t.call('POST', '/v1/quotes', withKey('reused', { body }));
    expect(replay.text).toBe(first.text);
  });

  it('answers 409 while the first request with the key is still in flight, then replays its answer', async () => {
    const q = await t.call('POST', '/v1/quotes', { body: quoteBody() });
    const body = { quoteId: q.body.id };
    gate.state.arm();
    const firstPromise = t.call('POST', '/v1/reservations', withKey('slow', { body }));
    await gate.state.arrived;
    const during = await t.call('POST', '/v1/reservations', withKey('slow', { body }));
    expect(during.status).toBe(409);
    expect(during.body).toMatchObject({ status: 409, type: expect.stringMatching(/idempotency-in-flight$/) });
    expect(during.headers.get('retry-after')).toBe('1');
    expect(during.headers.get('content-type')).toBe('application/problem+json');
    const otherBody = await t.call('POST', '/v1/reservations', withKey('slow', { body: { quoteId: 'qt_other' } }));
    expect(otherBody.status).toBe(422);
    gate.state.open();
    const first = await firstPromise;
    expect(first.status).toBe(201);
    const after = await t.call('POST', '/v1/reservations', withKey('slow', { body }));
    expect(after.status).toBe(201);
    expect(after.text).toBe(first.text);
    expect(await countOf('reservation', (i) => (i.reservation as { quoteId: string }).quoteId === q.body.id)).toBe(1);
  });

  it('takes over a key whose request looks crashed (lease over) without ever starting the same on-demand twice', async () => {
    const body = { kind: 'on_demand', site: 'valence-rovaltain', gpuType: 'h200-sxm-141gb', gpus: 16 };
    gate.state.arm();
    const stuck = t.call('POST', '/v1/reservations', withKey('crashed', { body }));
    await gate.state.arrived;
    expect((await t.call('POST', '/v1/reservations', withKey('crashed', { body }))).status).toBe(409);
    t.clock.advance(61_000);
    const takeover = await t.call('POST', '/v1/reservations', withKey('crashed', { body }));
    expect(takeover.status).toBe(201);
    gate.state.open();
    const late = await stuck;
    expect(late.status).toBe(201);
    expect(late.body.id, 'the stuck request finds the reservation its key already made').toBe(takeover.body.id);
    expect(await countOf('reservation', (i) => (i.reservation as { poolId: string; kind: string }).poolId === 'valence-rovaltain-h200')).toBe(1);
    expect((await t.call('POST', `/v1/reservations/${takeover.body.id}/stop`)).status).toBe(200);
  });

  it('lets 20 simultaneous requests with one key create exactly one reservation', async () => {
    const q = await t.call('POST', '/v1/quotes', { body: quoteBody() });
    const body = { quoteId: q.body.id };
    const answers = await Promise.all(Array.from({ length: 20 }, () => t.call('POST', '/v1/reservations', withKey('burst', { body }))));
    const created = answers.filter((a) => a.status === 201 && a.headers.get('idempotent-replayed') === null);
    expect(created).toHaveLength(1);
    for (const a of answers) {
      if (a.status === 201) expect(a.body.id).toBe(created[0]!.body.id);
      else expect(a.body.type).toMatch(/idempotency-in-flight$/);
    }
    expect(await countOf('reservation', (i) => (i.reservation as { quoteId: string }).quoteId === q.body.id)).toBe(1);
  });

  it('keeps keys per API key: another org may use the same key string for its own request', async () => {
    const myBody = quoteBody();
    const mine = await t.call('POST', '/v1/quotes', withKey('shared-string', { body: myBody }));
    const theirs = await t.call('POST', '/v1/quotes', withKey('shared-string', { key: t.keys.customer2, body: quoteBody(16) }));
    expect(mine.status).toBe(201);
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(theirs.body.gpus).toBe(16);
    const theirsAgain = await t.call('POST', '/v1/quotes', withKey('shared-string', { key: t.keys.customer2, body: quoteBody(24) }));
    expect(theirsAgain.status).toBe(422);
    const mineAgain = await t.call('POST', '/v1/quotes', withKey('shared-string', { body: myBody }));
    expect(mineAgain.text, 'the other org did not overwrite this org’s key').toBe(mine.text);
  });

  it('keeps a key at least 24 hours (TTL attribute) and still replays a day later', async () => {
    const body = quoteBody();
    const first = await t.call('POST', '/v1/quotes', withKey('kept', { body }));
    const now = Math.floor(t.clock().getTime() / 1000);
    const record = (await scanAll(t.db)).find((i) => i.entity === 'idempotency' && String(i.pk).endsWith('#kept'));
    const item = await t.db.doc.send(new GetCommand({ TableName: t.db.table, Key: { pk: record!.pk, sk: 'IDEM' }, ConsistentRead: true }));
    expect(item.Item!.pk).toMatch(/^IDEM#key:/);
    expect(item.Item).toMatchObject({ state: 'done', ttl: expect.any(Number) });
    expect(Number(item.Item!.ttl) - now).toBeGreaterThanOrEqual(24 * 3600);
    t.clock.advance(24 * 3_600_000);
    const dayLater = await t.call('POST', '/v1/quotes', withKey('kept', { body }));
    expect(dayLater.status).toBe(201);
    expect(dayLater.text).toBe(first.text);
  });

  it('rejects a malformed key with 400 naming the header, before doing anything', async () => {
    const body = quoteBody();
    for (const bad of ['', 'has space', 'x'.repeat(256), 'tab\tkey']) {
      const res = await t.call('POST', '/v1/quotes', withKey(bad, { body }));
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('Idempotency-Key');
    }
    expect(await countOf('quote', (i) => (i.quote as { start: string }).start === new Date(body.start).toISOString())).toBe(0);
  });
});
