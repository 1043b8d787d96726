/**
 * SPEC invariant 1 with a capacity schedule: an operator retiring GPUs races a rush of holds and
 * on-demand starts on the same pool, through the HTTP API of two processes (two runtimes sharing the
 * table, as two Lambda instances would: neither's in-process group commit orders the other's). A
 * reduction either commits, and then no booking decided under the old capacity commits after it, or
 * is refused with 409 capacity-conflict; the recomputation from every reservation and maintenance
 * window stays within the capacity in force in every hour.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../shared/compose/services.ts';
import { createApp } from '../../shared/http/app.ts';
import { scaledRateLimits } from '../../shared/http/rate-limit.ts';
import { createIdGenerator } from '../../shared/ids.ts';
import { silentLogger } from '../../shared/log.ts';
import { UNLIMITED_HOLDS, createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { seededRandom } from '../support/faults.ts';
import { addCustomerOrgs, assertEventsExactlyOnce, assertNeverOverbooked, scanAll } from '../support/invariants.ts';
import { CONFLICT_MODES } from '../support/transaction-conflicts.ts';

const POOL = 'marseille-b200';
const CAPACITY = 128;
const ROUNDS = 8;
const STORM_RETRY = { retries: 1000, minTimeoutMs: 50, maxTimeoutMs: 2000, maxRetryTimeMs: 120_000 };
/** How long a capacity change's transaction is held back once it has read: the window in which bookings commit. */
const CHANGE_DELAY_MS = 250;

/** Which side of the race is held back in the current round. */
const race = { late: 'change' as 'change' | 'booking' };

/**
 * Holds back, for `CHANGE_DELAY_MS` once they have read, either every transaction that writes a pool's
 * capacity schedule (`race.late = 'change'`: the bookings racing a reduction commit first, which
 * overbooks if a reduction does not condition on the buckets it read) or every booking's transaction
 * (`'booking'`: the reduction commits first, which overbooks if a booking does not condition on the
 * schedule it decided with); the other side waits a random few ms.
 */
function delayingScheduleWrites(doc: DynamoDBDocumentClient, random: () => number): DynamoDBDocumentClient {
  return new Proxy(doc, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return async (command: { constructor: { name: string }; input?: unknown }, ...rest: unknown[]) => {
        if (command.constructor.name === 'TransactWriteCommand') {
          const items = (command.input as { TransactItems?: { Put?: { Item?: Record<string, unknown> } }[] }).TransactItems ?? [];
          const booking = items.some((j) => j.Put?.Item?.entity === 'reservation');
          const schedule = !booking && items.some((i) => i.Put?.Item?.capacitySteps !== undefined && i.Put.Item.entity === 'onDemandTotal');
          // Booking-late rounds: the reduction still waits a little, for the bookings to have read first.
          const wait = race.late === 'change' ? (schedule ? CHANGE_DELAY_MS : random() * 30) : booking ? CHANGE_DELAY_MS + 350 : schedule ? 250 + random() * 30 : 0;
          await new Promise((r) => setTimeout(r, wait));
        }
        return (target.send as (...a: unknown[]) => Promise<unknown>).call(target, command, ...rest);
      };
    },
  }) as DynamoDBDocumentClient;
}

type Call = (method: string, path: string, key: string, body?: unknown) => Promise<{ status: number; body: any }>;

const caller =
  (app: { request(path: string, init: RequestInit): Response | Promise<Response> }): Call =>
  async (method, path, key, body) => {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

describe.each(CONFLICT_MODES)('$name', ({ wrap }) => {
  let t: TestContext;
  let callA: Call;
  let callB: Call;
  let keys: string[];

  beforeAll(async () => {
    const random = seededRandom(16);
    const wrapDoc = (doc: DynamoDBDocumentClient) => delayingScheduleWrites(wrap ? wrap(doc) : doc, random);
    t = await createTestContext({ retry: STORM_RETRY, wrapDoc });
    // A second process: its own services (catalog cache, group commit queues) over the same table.
    const services = createServices(
      { db: { ...t.db, doc: wrapDoc(t.db.doc) }, clock: t.clock, ids: createIdGenerator(t.clock), logger: silentLogger },
      { retry: STORM_RETRY, holdLimits: UNLIMITED_HOLDS },
    );
    callA = caller(t.app);
    callB = caller(createApp(services, { modules: [], rateLimits: scaledRateLimits(1000) }));
    const extra = await addCustomerOrgs(t.db, 10, t.clock());
    keys = [t.keys.customer, t.keys.customer2, ...extra.map((o) => o.key)];
  });
  afterAll(() => t.close());

  it(`${ROUNDS} rounds: a reduction to one node above what is sold races two holds and an on-demand start; never overbooked in any hour`, { timeout: 240_000 }, async () => {
    const start = hoursFrom(t.clock, 30);
    const end = hoursFrom(t.clock, 36);
    const from = hoursFrom(t.clock, 0);
    const outcomes: { what: string; status: number; type: string }[] = [];
    const changed: { status: number; target: number }[] = [];
    const note = (what: string) => (r: { status: number; body: any }) => {
      outcomes.push({ what, status: r.status, type: String(r.body?.type ?? '') });
      return r;
    };
    let k = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const a = await callA('GET', `/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=${start}&end=${end}`, t.keys.operator);
      const sold = CAPACITY - a.body.pools[0].minAvailable;
      if (sold + 8 > CAPACITY) break;
      const target = sold + 8;
      race.late = round % 2 === 0 ? 'change' : 'booking';
      // Quotes first (priced at full capacity), so the holds race the reduction at commit time.
      const quotes = [];
      for (let i = 0; i < 2; i++) {
        const key = keys[k++ % keys.length]!;
        const q = await callA('POST', '/v1/quotes', key, { site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: 8, start, end });
        expect(q.status).toBe(201);
        quotes.push({ key, id: q.body.id as string });
      }
      const reduction = callB('POST', `/v1/pools/${POOL}/capacity-changes`, t.keys.operator, { effectiveFrom: from, totalGpus: target }).then(note('change'));
      const bookings = [
        // Change-late rounds: the holds come through both processes; booking-late rounds: through one, so they commit as one group.
        ...quotes.map(({ key, id }, i) => (i === 0 || race.late === 'booking' ? callA : callB)('POST', '/v1/reservations', key, { quoteId: id }).then(note('hold'))),
        ...(round % 2 === 1
          ? [callA('POST', '/v1/reservations', keys[k++ % keys.length]!, { kind: 'on_demand', site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: 8 }).then(note('start'))]
          : []),
      ];
      const [r] = await Promise.all([reduction, ...bookings]);
      changed.push({ status: r.status, target });
      await assertNeverOverbooked(t.db, POOL);
      // Back to full capacity for the next round (a raise never conflicts).
      expect((await callA('POST', `/v1/pools/${POOL}/capacity-changes`, t.keys.operator, { effectiveFrom: from, totalGpus: CAPACITY })).status).toBe(201);
    }

    // Only the refusals the rules name: no 5xx, no 503 contention left over.
    const unexpected = outcomes.filter(
      (o) => !(o.status === 201 || (o.status === 409 && (o.type.endsWith('/capacity-unavailable') || o.type.endsWith('/capacity-conflict')))),
    );
    expect(unexpected).toEqual([]);
    // The rounds really raced: reductions both committed and were refused, bookings both won and lost.
    expect(changed.length).toBeGreaterThanOrEqual(4);
    const booked = outcomes.filter((o) => o.what !== 'change' && o.status === 201).length;
    expect(booked).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.what !== 'change' && o.status === 409).length + changed.filter((c) => c.status === 409).length).toBeGreaterThan(0);

    const items = await scanAll(t.db);
    const audit = await assertNeverOverbooked(t.db, POOL, items);
    expect(audit.peakOccupied).toBeLessThanOrEqual(CAPACITY);
    // The catalog's copy of the schedule agrees with the one bookings decide with.
    const capacityItem = items.find((i) => i.entity === 'onDemandTotal' && i.poolId === POOL)!;
    const listed = await callA('GET', `/v1/pools/${POOL}/capacity-changes`, t.keys.operator);
    expect(listed.body.data.map((c: { totalGpus: number }) => c.totalGpus)).toEqual((capacityItem.capacitySteps as { totalGpus: number }[]).map((s) => s.totalGpus));
    await assertEventsExactlyOnce(t.db, items);
  });
});
