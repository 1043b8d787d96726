/**
 * "No GPU-hour sold twice" under a storm: a full pool whose two sellers list their hours, and
 * sixty buyers of twelve orgs racing for them through two API processes (two group committers on
 * one table), confirming, cancelling or abandoning their holds, while a seller withdraws a listing
 * mid-storm. Afterwards every pool-hour, every listing-hour and every seller-hour is recomputed from
 * the records and must agree: capacity never exceeded, buckets equal to what reservations hold,
 * each fill on exactly one listing, one seller and one live buyer, money split to the cent, events
 * exactly once. Runs on DynamoDB Local and with DynamoDB's TransactionConflict semantics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../shared/compose/services.ts';
import { createApp } from '../../shared/http/app.ts';
import { scaledRateLimits } from '../../shared/http/rate-limit.ts';
import { createIdGenerator } from '../../shared/ids.ts';
import { silentLogger } from '../../shared/log.ts';
import { runsAt, type Listing } from '../../shared/domain/resale.ts';
import type { Reservation } from '../../shared/domain/reservation.ts';
import { epochHour } from '../../shared/domain/time.ts';
import { sweepDueReservations } from '../../shared/services/sweeper.ts';
import { UNLIMITED_HOLDS, createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { seededRandom } from '../support/faults.ts';
import { addCustomerOrgs, assertEventsExactlyOnce, assertNeverOverbooked, reservationsIn, scanAll } from '../support/invariants.ts';
import { CONFLICT_MODES } from '../support/transaction-conflicts.ts';

const BUYERS = 60;
const STORM_RETRY = { retries: 1000, minTimeoutMs: 50, maxTimeoutMs: 2000, maxRetryTimeMs: 120_000 };
const POOL = { site: 'marseille', gpuType: 'b200-sxm-192gb' };
const POOL_ID = 'marseille-b200';
const W = 24 * 6;

describe.each(CONFLICT_MODES)('resale storm $name', ({ wrap }) => {
  let t: TestContext;
  let call2: TestContext['call'];
  let buyerKeys: string[];

  beforeAll(async () => {
    t = await createTestContext({ retry: STORM_RETRY, ...(wrap ? { wrapDoc: wrap } : {}) });
    // A second API process on the same table: its own group committer per pool.
    const db2 = wrap ? { ...t.db, doc: wrap(t.db.doc) } : t.db;
    const services2 = createServices({ db: db2, clock: t.clock, ids: createIdGenerator(t.clock), logger: silentLogger }, { holdLimits: UNLIMITED_HOLDS, retry: STORM_RETRY });
    const app2 = createApp(services2, { modules: [], rateLimits: scaledRateLimits(1000) });
    call2 = async (method, path, o = {}) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${o.key ?? t.keys.customer}`, ...(o.headers ?? {}) };
      const res = await app2.request(path, { method, headers, ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers, text };
    };
    const orgs = await addCustomerOrgs(t.db, 12, t.clock());
    buyerKeys = orgs.map((o) => o.key);
  });
  afterAll(() => t.close());

  const book = async (key: string, gpus: number, from: number, hours: number) => {
    const q = await t.call('POST', '/v1/quotes', { key, body: { ...POOL, gpus, start: hoursFrom(t.clock, from), end: hoursFrom(t.clock, from + hours) } });
    expect(q.status, JSON.stringify(q.body)).toBe(201);
    const held = await t.call('POST', '/v1/reservations', { key, body: { quoteId: q.body.id } });
    expect(held.status, JSON.stringify(held.body)).toBe(201);
    expect((await t.call('POST', `/v1/reservations/${held.body.id}/confirm`, { key })).status).toBe(200);
    return held.body;
  };

  it('sells each listed GPU-hour at most once, and the books balance', async () => {
    const a = await book(t.keys.customer, 64, W, 24);
    const b = await book(t.keys.customer2, 64, W, 24);
    const la = await t.call('POST', `/v1/reservations/${a.id}/listings`, { body: { start: hoursFrom(t.clock, W), end: hoursFrom(t.clock, W + 24), gpus: 48 } });
    const lb1 = await t.call('POST', `/v1/reservations/${b.id}/listings`, { key: t.keys.customer2, body: { start: hoursFrom(t.clock, W), end: hoursFrom(t.clock, W + 24), gpus: 32 } });
    const lb2 = await t.call('POST', `/v1/reservations/${b.id}/listings`, { key: t.keys.customer2, body: { start: hoursFrom(t.clock, W + 6), end: hoursFrom(t.clock, W + 18), gpus: 32, minPricePerGpuHour: 1 } });
    for (const l of [la, lb1, lb2]) expect(l.status, JSON.stringify(l.body)).toBe(201);

    const random = seededRandom(wrap ? 11 : 7);
    const plans = Array.from({ length: BUYERS }, (_, i) => {
      const from = W + Math.floor(random() * 22);
      const hours = 1 + Math.floor(random() * Math.min(6, W + 24 - from));
      const fate = random();
      return { key: buyerKeys[i % buyerKeys.length]!, gpus: random() < 0.6 ? 8 : 16, from, hours, fate: fate < 0.7 ? 'confirm' : fate < 0.85 ? 'cancel' : 'abandon', via: i % 2 === 0 ? t.call : call2 };
    });
    const outcomes = { quoted: 0, held: 0, confirmed: 0, cancelled: 0, abandoned: 0, refused: 0, retried503: 0, errors: [] as string[] };
    /** A client's retry on 503 contention (two processes race on one org's hold ledger and spend record), with its Idempotency-Key. */
    const withRetry = async (send: (headers: Record<string, string>) => ReturnType<TestContext['call']>) => {
      const headers = { 'idempotency-key': crypto.randomUUID() };
      for (let attempt = 0; ; attempt++) {
        const res = await send(headers);
        if (res.status !== 503 || attempt >= 5) return res;
        outcomes.retried503++;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    };
    const started = Date.now();
    await Promise.all([
      ...plans.map(async (p) => {
        const q = await p.via('POST', '/v1/quotes', { key: p.key, body: { ...POOL, gpus: p.gpus, start: hoursFrom(t.clock, p.from), end: hoursFrom(t.clock, p.from + p.hours) } });
        if (q.status !== 201) {
          if (q.status === 409) outcomes.refused++;
          else outcomes.errors.push(`quote ${q.status} ${q.text}`);
          return;
        }
        outcomes.quoted++;
        const h = await withRetry((headers) => p.via('POST', '/v1/reservations', { key: p.key, body: { quoteId: q.body.id }, headers }));
        if (h.status !== 201) {
          if (h.status === 409) outcomes.refused++;
          else outcomes.errors.push(`hold ${h.status} ${h.text}`);
          return;
        }
        outcomes.held++;
        if (p.fate === 'abandon') {
          outcomes.abandoned++;
          return;
        }
        const c = await withRetry((headers) => p.via('POST', `/v1/reservations/${h.body.id}/${p.fate}`, { key: p.key, headers }));
        if (c.status !== 200) outcomes.errors.push(`${p.fate} ${c.status} ${c.text}`);
        else if (p.fate === 'confirm') outcomes.confirmed++;
        else outcomes.cancelled++;
      }),
      (async () => {
        await new Promise((r) => setTimeout(r, 300));
        const w = await call2('DELETE', `/v1/listings/${lb2.body.id}`, { key: t.keys.customer2 });
        if (w.status !== 200) outcomes.errors.push(`withdraw ${w.status} ${w.text}`);
      })(),
    ]);
    const seconds = (Date.now() - started) / 1000;
    expect(outcomes.errors).toEqual([]);
    // Abandoned holds expire and give their hours back.
    t.clock.advance(16 * 60_000);
    await sweepDueReservations({ db: t.db, clock: t.clock, booking: t.deps.booking });

    const items = await scanAll(t.db);
    await assertNeverOverbooked(t.db, POOL_ID, items);
    await assertEventsExactlyOnce(t.db, items);
    const listings = items.filter((i) => i.entity === 'listing').map((i) => i.listing as Listing);
    const reservations = new Map(reservationsIn(items).map((r) => [r.id, r]));
    let soldGpuHours = 0;
    let settledFills = 0;
    for (const l of listings) {
      const sH = epochHour(new Date(l.start));
      for (let i = 0; i < l.taken.length; i++) {
        const fromFills = l.fills.reduce((s, f) => s + runsAt(f.runs, sH + i), 0);
        expect(l.taken[i], `listing ${l.id} hour ${i}`).toBe(fromFills);
        expect(fromFills).toBeLessThanOrEqual(l.gpus);
      }
      for (const f of l.fills) {
        const buyer = reservations.get(f.buyerReservationId) as Reservation;
        expect(buyer.status, `fill ${f.id}`).toBe('confirmed');
        expect(f.settled).toBe(true);
        expect(buyer.resale?.bought.filter((x) => x.fillId === f.id)).toHaveLength(1);
        const seller = reservations.get(l.reservationId)!;
        expect(seller.resale?.sold.filter((x) => x.fillId === f.id && x.settled)).toHaveLength(1);
        expect(f.gross!.amount).toBe(f.fee!.amount + f.earnings!.amount);
        soldGpuHours += f.gpuHours;
        settledFills++;
      }
      expect(l.soldGpuHours).toBe(l.fills.reduce((s, f) => s + f.gpuHours, 0));
      expect(l.earnings.amount).toBe(l.fills.reduce((s, f) => s + f.earnings!.amount, 0));
    }
    // Sellers never sell more than they hold in any hour.
    for (const seller of [a, b].map((x) => reservations.get(x.id)!)) {
      for (let h = epochHour(new Date(seller.start)); h < epochHour(new Date(seller.end!)); h++) {
        expect(seller.resale!.sold.reduce((s, x) => s + runsAt(x.runs, h), 0)).toBeLessThanOrEqual(seller.gpus);
      }
    }
    // Every live purchase is on its listing; lapsed ones left no trace.
    for (const r of reservations.values()) {
      for (const p of r.resale?.bought ?? []) {
        const onListing = listings.find((l) => l.id === p.listingId)!.fills.some((f) => f.id === p.fillId);
        expect(onListing, `${r.id} (${r.status}) purchase ${p.fillId}`).toBe(r.status === 'confirmed');
      }
    }
    expect(items.filter((i) => i.entity === 'resaleCredit')).toHaveLength(settledFills);
    expect(outcomes.confirmed).toBeGreaterThan(10);
    expect(soldGpuHours).toBeGreaterThan(0);
    console.log(`resale storm (${wrap ? 'conflict semantics' : 'DynamoDB Local'}): ${BUYERS} buyers in ${seconds.toFixed(1)} s, ${outcomes.quoted} quoted, ${outcomes.held} held, ${outcomes.confirmed} confirmed, ${outcomes.cancelled} cancelled, ${outcomes.abandoned} abandoned, ${outcomes.refused} refused (409), ${outcomes.retried503} client retries after 503; ${settledFills} fills, ${soldGpuHours} GPU-hours resold`);
  }, 300_000);
});
