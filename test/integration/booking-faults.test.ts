/**
 * SPEC invariant 1 (and 3) under injected DynamoDB faults. DynamoDB Local never raises
 * TransactionConflictException, never throttles and never times out, so the document client is
 * wrapped: about 30 % of transactions fail (conflict, cancelled-for-conflict, throttling, a timeout
 * before the call, or a timeout AFTER the write committed) and about 5 % of the booking core's reads
 * time out or throttle. Many bookings, confirmations, extensions, cancellations, on-demand starts
 * and stops and a sweeper run concurrently; afterwards nothing is double-booked, no capacity leaked,
 * every change has its event exactly once with gapless sequences, and client retries with the same
 * Idempotency-Key never book twice.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBookingService } from '../../shared/services/booking.ts';
import { sweepDueReservations } from '../../shared/services/sweeper.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { seededRandom, withFaults, type FaultKind } from '../support/faults.ts';
import { addCustomerOrgs, assertEventsExactlyOnce, assertNeverOverbooked, reservationsIn, scanAll } from '../support/invariants.ts';
import { CONFLICT_MODES } from '../support/transaction-conflicts.ts';

/**
 * A commit that times out is drawn twice as often as the others: group commit makes fewer, larger
 * transactions (one per pool and group), and that fault, a whole group committed behind a timeout, is
 * the one that would double-book if anything did.
 */
const TRANSACTION_FAULTS: FaultKind[] = ['conflict', 'canceled_conflict', 'throttle', 'timeout_before', 'timeout_after_commit', 'timeout_after_commit'];
const READ_FAULTS: FaultKind[] = ['throttle', 'timeout_before'];
/** Generous in attempts: with 30 % of transactions failing, 503 should only mean a budget truly exhausted. */
const FAULT_RETRY = { retries: 200, minTimeoutMs: 5, maxTimeoutMs: 200, maxRetryTimeMs: 60_000 };

/** Reads the booking core makes inside its retry loops: capacity, on-demand total, quotes, reservations, sequences. */
function isBookingRead(command: { constructor: { name: string }; input?: unknown }): boolean {
  if (command.constructor.name === 'BatchGetCommand') return true;
  if (command.constructor.name !== 'GetCommand') return false;
  const key = (command.input as { Key?: { pk?: string; sk?: string } }).Key;
  const pk = String(key?.pk);
  return pk.startsWith('CAP#') || pk.startsWith('ODP#') || pk.startsWith('QUOTE#') || (pk.startsWith('ORG#') && (key?.sk === 'SEQ' || String(key?.sk).startsWith('RES#')));
}

type Command = { constructor: { name: string }; input?: unknown };
type Send = (...a: unknown[]) => Promise<unknown>;

/** Sends the booking core's reads through `faulty` and everything else (auth, idempotency records, catalog) through `plain`. */
function bookingReadsThrough(plain: DynamoDBDocumentClient, faulty: DynamoDBDocumentClient): DynamoDBDocumentClient {
  return new Proxy(plain, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return (command: Command, ...rest: unknown[]) => (isBookingRead(command) ? (faulty.send as Send)(command, ...rest) : (target.send as Send).call(target, command, ...rest));
    },
  });
}

/** A switchable, seeded fault injector: transactions at `writeRate`, booking reads at `readRate`. */
function faultInjector(seed: number, writeRate: number, readRate: number) {
  const random = seededRandom(seed);
  const state = { enabled: false };
  const choose = (rate: number, kinds: FaultKind[]) => (): FaultKind | null =>
    state.enabled && random() < rate ? kinds[Math.floor(random() * kinds.length)]! : null;
  let writeStats: ReturnType<typeof withFaults>['stats'] | undefined;
  let readStats: ReturnType<typeof withFaults>['stats'] | undefined;
  const wrap = (doc: DynamoDBDocumentClient): DynamoDBDocumentClient => {
    const writes = withFaults(doc, { commands: ['TransactWriteCommand'], pick: choose(writeRate, TRANSACTION_FAULTS) });
    const reads = withFaults(writes.doc, { commands: ['GetCommand', 'BatchGetCommand'], pick: choose(readRate, READ_FAULTS) });
    writeStats = writes.stats;
    readStats = reads.stats;
    return bookingReadsThrough(writes.doc, reads.doc);
  };
  return {
    wrap,
    state,
    counts: () => ({ transactions: { ...(writeStats?.injected ?? {}) }, reads: { ...(readStats?.injected ?? {}) } }),
  };
}

describe.each(CONFLICT_MODES)('$name', ({ wrap }) => {
  const conflicts = (doc: DynamoDBDocumentClient): DynamoDBDocumentClient => (wrap ? wrap(doc) : doc);

  type Reply = { status: number; body: any; attempts: number };

  describe('booking under injected faults', () => {
    const faults = faultInjector(7_2026, 0.3, 0.05);
    const unhandled: unknown[] = [];
    let t: TestContext;
    let keys: string[];
    beforeAll(async () => {
      t = await createTestContext({ wrapDoc: (doc) => faults.wrap(conflicts(doc)), retry: FAULT_RETRY, logger: { info() {}, warn() {}, error: (message, fields) => unhandled.push({ message, ...fields }) } });
      keys = [t.keys.customer, t.keys.customer2, ...(await addCustomerOrgs(t.db, 2, t.clock())).map((o) => o.key)];
    });
    afterAll(() => t.close());

    /** A client that retries a 503 (contention) with the same Idempotency-Key, as the API asks it to. */
    let nextKey = 0;
    async function post(key: string, path: string, body?: unknown): Promise<Reply> {
      const idempotencyKey = `chaos-${nextKey++}`;
      for (let attempt = 1; ; attempt++) {
        const res = await t.call('POST', path, { key, headers: { 'idempotency-key': idempotencyKey }, ...(body === undefined ? {} : { body }) });
        if (res.status !== 503 || attempt === 5) return { status: res.status, body: res.body, attempts: attempt };
      }
    }

    it('books, confirms, extends, cancels, starts and stops concurrently with 30 % of transactions failing: no double booking, no leak, events exactly once', async () => {
      const site = 'marseille';
      const gpuType = 'b200-sxm-192gb';
      const random = seededRandom(99);
      const replies: Reply[] = [];
      const record = (r: Reply) => {
        replies.push(r);
        return r;
      };
      faults.state.enabled = true;
      const began = performance.now();

      // 42 bookers (8-32 GPUs over overlapping windows of a 128-GPU pool) and 6 on-demand starts, all at once.
      const bookings = await Promise.all(
        Array.from({ length: 48 }, async (_, i) => {
          const key = keys[i % keys.length]!;
          if (i % 8 === 7) return { key, reply: record(await post(key, '/v1/reservations', { kind: 'on_demand', site, gpuType, gpus: 8 })) };
          const startIn = 24 * 5 + Math.floor(random() * 48);
          const gpus = 8 * (1 + Math.floor(random() * 4));
          const quote = record(await post(key, '/v1/quotes', { site, gpuType, gpus, start: hoursFrom(t.clock, startIn), end: hoursFrom(t.clock, startIn + 1 + Math.floor(random() * 24)) }));
          if (quote.status !== 201) return { key, reply: quote };
          return { key, reply: record(await post(key, '/v1/reservations', { quoteId: quote.body.id })) };
        }),
      );
      const made = bookings.filter((b) => b.reply.status === 201);
      const madeIds = new Set(made.map((b) => b.reply.body.id as string));
      expect(madeIds.size, 'every successful booking answered a distinct reservation').toBe(made.length);

      // Then every change at once: confirm, extend, cancel (held), stop (on-demand), while a sweeper runs.
      // Holds take their part by their rank among the holds (not among all that were made), so every
      // fifth hold is left to expire however many on-demand starts got in between.
      const holdRank = new Map(made.filter((b) => b.reply.body.kind !== 'on_demand').map((b, rank) => [b.reply.body.id as string, rank]));
      await Promise.all([
        ...made.map(async ({ key, reply }, n) => {
          const id = reply.body.id as string;
          if (reply.body.kind === 'on_demand') return n % 2 === 0 ? record(await post(key, `/v1/reservations/${id}/stop`)) : undefined;
          const i = holdRank.get(id)!;
          if (i % 5 === 0) return record(await post(key, `/v1/reservations/${id}/cancel`));
          if (i % 5 === 4) return undefined; // left for the sweeper to expire
          const confirmed = record(await post(key, `/v1/reservations/${id}/confirm`));
          if (confirmed.status === 200 && i % 5 === 1) record(await post(key, `/v1/reservations/${id}/extend`, { end: new Date(Date.parse(reply.body.end) + 6 * 3_600_000).toISOString() }));
          if (confirmed.status === 200 && i % 5 === 2) record(await post(key, `/v1/reservations/${id}/cancel`));
          return confirmed;
        }),
        sweepDueReservations({ db: t.deps.db, clock: t.clock, booking: t.deps.booking }),
      ]);
      // Holds left unconfirmed expire through the sweeper, still under faults.
      t.clock.advance(16 * 60_000);
      for (let round = 0; round < 5; round++) await sweepDueReservations({ db: t.deps.db, clock: t.clock, booking: t.deps.booking });
      faults.state.enabled = false;
      const ms = Math.round(performance.now() - began);

      const fiveHundreds = replies.filter((r) => r.status >= 500);
      expect(fiveHundreds.map((r) => r.body), 'no 5xx after client retries').toEqual([]);
      expect(unhandled, 'no unhandled errors logged').toEqual([]);
      const statuses = new Map<number, number>();
      for (const r of replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      expect([...statuses.keys()].every((s) => [200, 201, 409, 422].includes(s)), `statuses ${JSON.stringify([...statuses])}`).toBe(true);

      const items = await scanAll(t.db);
      const reservations = reservationsIn(items).filter((r) => r.poolId === 'marseille-b200');
      // Never booked twice: one reservation per successful request, none created behind a failed one.
      expect(reservations.map((r) => r.id).sort()).toEqual([...madeIds].sort());
      const quotesUsed = reservations.filter((r) => r.quoteId).map((r) => r.quoteId);
      expect(new Set(quotesUsed).size).toBe(quotesUsed.length);
      expect(reservations.filter((r) => r.status === 'held'), 'every hold was confirmed, cancelled or expired').toEqual([]);
      expect(reservations.some((r) => r.status === 'expired')).toBe(true);
      const audit = await assertNeverOverbooked(t.db, 'marseille-b200', items);
      const events = await assertEventsExactlyOnce(t.db, items);

      const counts = faults.counts();
      const injected = (o: Partial<Record<FaultKind, number>>) => Object.values(o).reduce((s, n) => s + (n ?? 0), 0);
      expect(counts.transactions.timeout_after_commit ?? 0).toBeGreaterThan(2);
      // Group commit decides many requests in one transaction, so the same workload makes far fewer
      // transactions than before it (16 to 37 of them failed in runs here, where 50+ did before); the
      // bars are set from that, and the power of this test is lower than it was (see the closing note).
      expect(injected(counts.transactions)).toBeGreaterThan(10);
      console.log(
        `[faults] requests: ${replies.length} (client retries after 503: ${replies.reduce((s, r) => s + r.attempts - 1, 0)}), answers ${JSON.stringify(Object.fromEntries(statuses))}, ` +
          `reservations: ${reservations.length} (${reservations.filter((r) => r.status === 'confirmed').length} confirmed, ${reservations.filter((r) => r.status === 'cancelled').length} cancelled, ` +
          `${reservations.filter((r) => r.status === 'expired').length} expired, ${reservations.filter((r) => r.kind === 'on_demand').length} on-demand), ` +
          `injected on transactions: ${JSON.stringify(counts.transactions)} (${injected(counts.transactions)}), on reads: ${JSON.stringify(counts.reads)} (${injected(counts.reads)}), ` +
          `overbooked hours: ${audit.overbookedHours}, leaked hours: ${audit.leakedHours}, events ${events.events} exactly once, duration: ${ms} ms`,
      );
    }, 180_000);
  });

  describe('a retry after a 503 whose write did commit', () => {
    /**
     * While `failing`: the first transaction commits and then times out, and every later transaction
     * and booking read of the attempt fails, so the API exhausts its retries and answers 503.
     */
    function commitThenOutage() {
      const state = { failing: false, committed: false };
      const wrap = (doc: DynamoDBDocumentClient) => {
        const writes = withFaults(doc, {
          commands: ['TransactWriteCommand'],
          pick: () => {
            if (!state.failing) return null;
            if (state.committed) return 'throttle';
            state.committed = true;
            return 'timeout_after_commit';
          },
        });
        const reads = withFaults(writes.doc, { commands: ['GetCommand', 'BatchGetCommand'], pick: () => (state.failing && state.committed ? 'throttle' : null) });
        return bookingReadsThrough(writes.doc, reads.doc);
      };
      return { wrap, state };
    }

    it.each([
      ['an on-demand start', 'on_demand'],
      ['a hold', 'reserved'],
    ] as const)('%s retried with the same Idempotency-Key returns the reservation it made and books nothing twice', async (_, kind) => {
      const outage = commitThenOutage();
      const t = await createTestContext({ wrapDoc: (doc) => outage.wrap(conflicts(doc)), retry: { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5, maxRetryTimeMs: 1_000 } });
      try {
        let body: Record<string, unknown> = { kind: 'on_demand', site: 'valence-rovaltain', gpuType: 'h200-sxm-141gb', gpus: 64 };
        if (kind === 'reserved') {
          const q = await t.call('POST', '/v1/quotes', { body: { site: 'valence-rovaltain', gpuType: 'h200-sxm-141gb', gpus: 64, start: hoursFrom(t.clock, 30), end: hoursFrom(t.clock, 40) } });
          body = { quoteId: q.body.id };
        }
        outage.state.failing = true;
        const first = await t.call('POST', '/v1/reservations', { body, headers: { 'idempotency-key': `outage-${kind}` } });
        outage.state.failing = false;
        expect(first.status).toBe(503);
        expect(first.headers.get('retry-after')).toBe('1');

        const retry = await t.call('POST', '/v1/reservations', { body, headers: { 'idempotency-key': `outage-${kind}` } });
        const items = await scanAll(t.db);
        const mine = reservationsIn(items).filter((r) => r.poolId === 'valence-rovaltain-h200');
        expect(mine, 'exactly one reservation exists').toHaveLength(1);
        expect(retry.status).toBe(201);
        expect(retry.body.id).toBe(mine[0]!.id);
        await assertNeverOverbooked(t.db, 'valence-rovaltain-h200', items);
        await assertEventsExactlyOnce(t.db, items);
      } finally {
        await t.close();
      }
    });
  });

  describe('a DynamoDB outage outside the booking loops', () => {
    it('answers 503 problem+json with Retry-After, never 500, and recovers when DynamoDB does', async () => {
      const outage = { on: false };
      const t = await createTestContext({ wrapDoc: (doc) => withFaults(conflicts(doc), { commands: ['GetCommand', 'BatchGetCommand', 'QueryCommand'], pick: () => (outage.on ? 'throttle' : null) }).doc });
      try {
        const start = hoursFrom(t.clock, 24);
        const end = hoursFrom(t.clock, 48);
        outage.on = true;
        for (const path of ['/v1/reservations', `/v1/availability?start=${start}&end=${end}`, '/v1/sites']) {
          const res = await t.call('GET', path);
          expect(res.status, path).toBe(503);
          expect(res.headers.get('content-type')).toBe('application/problem+json');
          expect(res.headers.get('retry-after')).toBe('1');
          expect(res.body).toMatchObject({ status: 503, type: expect.stringMatching(/contention$/) });
        }
        outage.on = false;
        expect((await t.call('GET', `/v1/availability?start=${start}&end=${end}`)).status).toBe(200);
      } finally {
        await t.close();
      }
    });
  });

  describe('racing writers on the same reservations', () => {
    let t: TestContext;
    const unhandled: unknown[] = [];
    beforeAll(async () => {
      t = await createTestContext({ wrapDoc: conflicts, retry: FAULT_RETRY, logger: { info() {}, warn() {}, error: (message, fields) => unhandled.push({ message, ...fields }) } });
    });
    afterEach(() => expect(unhandled, 'no unhandled errors logged').toEqual([]));
    afterAll(() => t.close());

    const holdMany = async (count: number, offsetHours: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const q = await t.call('POST', '/v1/quotes', { body: { site: 'valence-rovaltain', gpuType: 'b200-sxm-192gb', gpus: 16, start: hoursFrom(t.clock, offsetHours + i * 5), end: hoursFrom(t.clock, offsetHours + i * 5 + 4) } });
        ids.push((await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } })).body.id);
      }
      return ids;
    };

    it('lets either the confirmation or the sweeper (whose clock runs ahead) win each hold, never both', async () => {
      const ids = await holdMany(16, 24 * 3);
      // The API still sees the hold alive; a sweeper on another machine already sees it expired.
      t.clock.advance(15 * 60_000 - 1);
      const sweeperClock = Object.assign(() => new Date(t.clock().getTime() + 60_000), {});
      const sweeperBooking = createBookingService({ db: t.deps.db, clock: sweeperClock, ids: t.deps.ids, catalog: t.deps.catalog, retry: FAULT_RETRY });
      const [confirms] = await Promise.all([
        Promise.all(ids.map((id) => t.call('POST', `/v1/reservations/${id}/confirm`))),
        sweepDueReservations({ db: t.deps.db, clock: sweeperClock, booking: sweeperBooking }),
      ]);
      const items = await scanAll(t.db);
      const byId = new Map(reservationsIn(items).map((r) => [r.id, r]));
      for (const [i, id] of ids.entries()) {
        const r = byId.get(id)!;
        expect(['confirmed', 'expired']).toContain(r.status);
        expect(confirms[i]!.status, `${id} is ${r.status}`).toBe(r.status === 'confirmed' ? 200 : 409);
      }
      const outcome = (status: string) => ids.filter((id) => byId.get(id)!.status === status).length;
      console.log(`[race] confirm vs sweeper on ${ids.length} holds: ${outcome('confirmed')} confirmed, ${outcome('expired')} expired, none both`);
      await assertNeverOverbooked(t.db, 'valence-rovaltain-b200', items);
      await assertEventsExactlyOnce(t.db, items);
    });

    it('removes a maintenance window once when two operators remove it at the same moment', async () => {
      const op = { key: t.keys.operator };
      for (let i = 0; i < 5; i++) {
        const w = await t.call('POST', '/v1/pools/valence-rovaltain-b200/maintenance', { ...op, body: { start: hoursFrom(t.clock, 24 * 40 + i), end: hoursFrom(t.clock, 24 * 40 + i + 6), gpus: 64, reason: 'race' } });
        expect(w.status).toBe(201);
        const answers = await Promise.all([0, 1, 2].map(() => t.call('DELETE', `/v1/pools/valence-rovaltain-b200/maintenance/${w.body.id}`, op)));
        expect(answers.map((a) => a.status).sort()).toEqual([204, 404, 404]);
      }
      await assertNeverOverbooked(t.db, 'valence-rovaltain-b200');
    });

    it('takes a confirm, two cancels and an extend sent at once: one cancel at most, and every 200 is exactly one change with one event', async () => {
      const ids = await holdMany(12, 24 * 10);
      const answers = await Promise.all(
        ids.map((id) =>
          Promise.all([
            t.call('POST', `/v1/reservations/${id}/confirm`),
            t.call('POST', `/v1/reservations/${id}/cancel`),
            t.call('POST', `/v1/reservations/${id}/cancel`),
            t.call('GET', `/v1/reservations/${id}`).then(async (r) => t.call('POST', `/v1/reservations/${id}/extend`, { body: { end: new Date(Date.parse(r.body.end) + 2 * 3_600_000).toISOString() } })),
          ]),
        ),
      );
      const items = await scanAll(t.db);
      const byId = new Map(reservationsIn(items).map((r) => [r.id, r]));
      for (const [i, id] of ids.entries()) {
        const [confirm, cancel1, cancel2, extend] = answers[i]!;
        expect([confirm, cancel1, cancel2, extend].filter((a) => a.status >= 500).map((a) => a.text)).toEqual([]);
        expect([cancel1, cancel2].filter((a) => a.status === 200).length, 'one cancel at most').toBeLessThanOrEqual(1);
        const r = byId.get(id)!;
        expect(r.status === 'cancelled').toBe(cancel1.status === 200 || cancel2.status === 200);
        // Every 200 is a change that happened: the reservation's version counts them.
        expect(r.version).toBe(1 + [confirm, cancel1, cancel2, extend].filter((a) => a.status === 200).length);
      }
      await assertNeverOverbooked(t.db, 'valence-rovaltain-b200', items);
      await assertEventsExactlyOnce(t.db, items);
    });
  });
});
