/**
 * Resale's bad input, other tenants and roles, and the lapses: every refusal is a 4xx problem
 * naming the field; a listing's minimum price is respected; a buyer's lapsed hold gives the hours
 * back to the listing; a listing ends when its window starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meteringModule } from '../../shared/http/modules.ts';
import { sweepDueReservations } from '../../shared/services/sweeper.ts';
import { assertEventsExactlyOnce, assertNeverOverbooked } from '../support/invariants.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ modules: [meteringModule] });
});
afterAll(() => t.close());

const POOL = { site: 'marseille', gpuType: 'h200-sxm-141gb' };
let poolId = '';
let capacity = 0;
const S = 24 * 20;
const book = async (key: string, gpus: number, from: number, hours: number, confirm = true) => {
  const q = await t.call('POST', '/v1/quotes', { key, body: { ...POOL, gpus, start: hoursFrom(t.clock, from), end: hoursFrom(t.clock, from + hours) } });
  expect(q.status, JSON.stringify(q.body)).toBe(201);
  const held = await t.call('POST', '/v1/reservations', { key, body: { quoteId: q.body.id } });
  expect(held.status, JSON.stringify(held.body)).toBe(201);
  if (!confirm) return held.body;
  const c = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`, { key });
  expect(c.status).toBe(200);
  return c.body;
};
const list = (id: string, body: Record<string, unknown>, key = t.keys.customer) => t.call('POST', `/v1/reservations/${id}/listings`, { key, body });
const problem = (res: { status: number; headers: Headers; body: any }, status: number, path?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  if (path) expect(res.body.errors?.map((e: { path: string }) => e.path) ?? [], JSON.stringify(res.body)).toContain(path);
};
const free = async (from: number, hours: number) =>
  (await t.call('GET', `/v1/availability?site=${POOL.site}&gpuType=${POOL.gpuType}&start=${hoursFrom(t.clock, from)}&end=${hoursFrom(t.clock, from + hours)}`)).body.pools[0].slots.map(
    (s: { available: number }) => s.available,
  ) as number[];

describe('listing refusals', () => {
  let r: any;
  beforeAll(async () => {
    const pools = await t.call('GET', `/v1/pools?site=${POOL.site}&gpuType=${POOL.gpuType}`);
    poolId = pools.body.data[0].id;
    capacity = pools.body.data[0].totalGpus;
    r = await book(t.keys.customer, 16, S, 24);
  });

  it('names the field for a window outside the reservation, in the past, not whole hours, or GPUs that are not whole nodes', async () => {
    problem(await list(r.id, { start: hoursFrom(t.clock, S - 1), end: hoursFrom(t.clock, S + 2), gpus: 8 }), 422, 'start');
    problem(await list(r.id, { start: hoursFrom(t.clock, S + 20), end: hoursFrom(t.clock, S + 25), gpus: 8 }), 422, 'end');
    problem(await list(r.id, { start: hoursFrom(t.clock, S + 2), end: hoursFrom(t.clock, S + 1), gpus: 8 }), 422, 'end');
    problem(await list(r.id, { start: new Date(Date.parse(hoursFrom(t.clock, S + 1)) + 60_000).toISOString(), end: hoursFrom(t.clock, S + 3), gpus: 8 }), 422, 'start');
    problem(await list(r.id, { start: hoursFrom(t.clock, S), end: hoursFrom(t.clock, S + 3), gpus: 4 }), 422, 'gpus');
    problem(await list(r.id, { start: hoursFrom(t.clock, S), end: hoursFrom(t.clock, S + 3), gpus: 24 }), 422, 'gpus');
    problem(await list(r.id, { start: hoursFrom(t.clock, S), end: hoursFrom(t.clock, S + 3), gpus: 8, minPricePerGpuHour: -1 }), 400, 'minPricePerGpuHour');
    problem(await list(r.id, { start: 'soon', end: hoursFrom(t.clock, S + 3), gpus: 8 }), 400, 'start');
    problem(await list(r.id, { start: hoursFrom(t.clock, S), end: hoursFrom(t.clock, S + 3), gpus: 8, extra: 1 }), 400);
    const past = await book(t.keys.customer, 8, 2, 4);
    t.clock.advance(3 * 3_600_000);
    problem(await list(past.id, { start: hoursFrom(t.clock, -1), end: hoursFrom(t.clock, 2), gpus: 8 }), 422, 'start');
    t.clock.advance(-3 * 3_600_000);
  });

  it('refuses a second listing of the same GPU-hours, but lists the other GPUs of those hours', async () => {
    const a = await list(r.id, { start: hoursFrom(t.clock, S), end: hoursFrom(t.clock, S + 12), gpus: 8 });
    expect(a.status).toBe(201);
    problem(await list(r.id, { start: hoursFrom(t.clock, S + 6), end: hoursFrom(t.clock, S + 18), gpus: 16 }), 409, 'gpus');
    const b = await list(r.id, { start: hoursFrom(t.clock, S + 6), end: hoursFrom(t.clock, S + 18), gpus: 8 });
    expect(b.status).toBe(201);
    problem(await list(r.id, { start: hoursFrom(t.clock, S + 10), end: hoursFrom(t.clock, S + 11), gpus: 8 }), 409, 'gpus');
    expect((await t.call('DELETE', `/v1/listings/${a.body.id}`)).status).toBe(200);
    expect((await t.call('DELETE', `/v1/listings/${b.body.id}`)).status).toBe(200);
  });

  it('refuses held and cancelled reservations, and on-demand ones', async () => {
    const held = await book(t.keys.customer, 8, S + 48, 4, false);
    problem(await list(held.id, { start: hoursFrom(t.clock, S + 48), end: hoursFrom(t.clock, S + 50), gpus: 8 }), 409, 'id');
    expect((await t.call('POST', `/v1/reservations/${held.id}/cancel`)).status).toBe(200);
    problem(await list(held.id, { start: hoursFrom(t.clock, S + 48), end: hoursFrom(t.clock, S + 50), gpus: 8 }), 409, 'id');
  });

  it('another org gets 404, other roles 403, a member who did not make the booking 403', async () => {
    problem(await list(r.id, { start: hoursFrom(t.clock, S), end: hoursFrom(t.clock, S + 2), gpus: 8 }, t.keys.customer2), 404);
    problem(await list(r.id, { start: hoursFrom(t.clock, S), end: hoursFrom(t.clock, S + 2), gpus: 8 }, t.keys.operator), 403);
    problem(await list(r.id, { start: hoursFrom(t.clock, S), end: hoursFrom(t.clock, S + 2), gpus: 8 }, t.keys.finance), 403);
    const member = await t.call('POST', '/v1/api-keys', { body: { role: 'customer', orgRole: 'member' } });
    expect(member.status, JSON.stringify(member.body)).toBe(201);
    problem(await list(r.id, { start: hoursFrom(t.clock, S), end: hoursFrom(t.clock, S + 2), gpus: 8 }, member.body.key), 403, 'id');
    // A member lists the bookings its own key made.
    const own = await book(member.body.key, 8, S + 72, 4);
    const l = await list(own.id, { start: hoursFrom(t.clock, S + 72), end: hoursFrom(t.clock, S + 74), gpus: 8 }, member.body.key);
    expect(l.status).toBe(201);
    problem(await t.call('GET', `/v1/listings/${l.body.id}`, { key: t.keys.customer2 }), 404);
    problem(await t.call('DELETE', `/v1/listings/${l.body.id}`, { key: t.keys.customer2 }), 404);
    problem(await t.call('GET', '/v1/listings', { key: t.keys.operator }), 403);
    expect((await t.call('GET', '/v1/listings', { key: t.keys.customer2 })).body.data).toEqual([]);
    problem(await t.call('GET', '/v1/listings?status=bogus'), 400, 'status');
    expect((await t.call('DELETE', `/v1/listings/${l.body.id}`, { key: member.body.key })).status).toBe(200);
  });

  it('market prices: unknown pool, reversed or too long ranges are 400 naming the field', async () => {
    const from = hoursFrom(t.clock, 0);
    problem(await t.call('GET', `/v1/market/prices?site=nowhere&gpuType=${POOL.gpuType}&from=${from}&to=${hoursFrom(t.clock, 24)}`), 400, 'site');
    problem(await t.call('GET', `/v1/market/prices?site=${POOL.site}&gpuType=${POOL.gpuType}&from=${hoursFrom(t.clock, 48)}&to=${from}`), 400, 'to');
    problem(await t.call('GET', `/v1/market/prices?site=${POOL.site}&gpuType=${POOL.gpuType}&from=${from}&to=${hoursFrom(t.clock, 24 * 40)}&granularity=hour`), 400, 'to');
    problem(await t.call('GET', `/v1/market/prices?gpuType=${POOL.gpuType}&from=${from}&to=${hoursFrom(t.clock, 24)}`), 400, 'site');
    problem(await t.call('GET', `/v1/market/prices?site=${POOL.site}&gpuType=${POOL.gpuType}&from=${from}&to=${hoursFrom(t.clock, 24)}`, { key: null }), 401);
  });
});

describe('minimum price, lapsed holds, listings ending', () => {
  const W = 24 * 30;
  let seller: any;
  let filler: any;
  beforeAll(async () => {
    seller = await book(t.keys.customer, capacity / 2, W, 24);
    filler = await book(t.keys.customer, capacity / 2, W, 24);
    expect(await free(W, 24)).toEqual(new Array(24).fill(0));
  });

  it('never sells below the minimum: a cheaper booking is refused, the listing stays open', async () => {
    const l = await list(seller.id, { start: hoursFrom(t.clock, W), end: hoursFrom(t.clock, W + 4), gpus: 8, minPricePerGpuHour: 10_000_000 });
    expect(l.status).toBe(201);
    expect(await free(W, 4)).toEqual(new Array(4).fill(8)); // shown free: a buyer paying the minimum could take it
    const q = await t.call('POST', '/v1/quotes', { key: t.keys.customer2, body: { ...POOL, gpus: 8, start: hoursFrom(t.clock, W), end: hoursFrom(t.clock, W + 4) } });
    problem(q, 409);
    expect((await t.call('GET', `/v1/listings/${l.body.id}`)).body).toMatchObject({ status: 'open', pendingGpuHours: 0, soldGpuHours: 0 });
    expect((await t.call('DELETE', `/v1/listings/${l.body.id}`)).status).toBe(200);
  });

  it('a buyer’s hold that expires gives the hours back to the listing and the seller', async () => {
    const l = await list(seller.id, { start: hoursFrom(t.clock, W + 4), end: hoursFrom(t.clock, W + 8), gpus: 16 });
    expect(l.status).toBe(201);
    const held = await book(t.keys.customer2, 8, W + 4, 4, false);
    expect((await t.call('GET', `/v1/listings/${l.body.id}`)).body.pendingGpuHours).toBe(32);
    expect(await free(W + 4, 4)).toEqual(new Array(4).fill(8));
    // The seller cannot cancel while a buyer's hold has some of its hours.
    problem(await t.call('POST', `/v1/reservations/${seller.id}/cancel`), 409);
    t.clock.advance(16 * 60_000);
    await sweepDueReservations({ db: t.db, clock: t.clock, booking: t.deps.booking });
    expect((await t.call('GET', `/v1/reservations/${held.id}`, { key: t.keys.customer2 })).body.status).toBe('expired');
    expect((await t.call('GET', `/v1/listings/${l.body.id}`)).body).toMatchObject({ status: 'open', pendingGpuHours: 0, soldGpuHours: 0 });
    expect(await free(W + 4, 4)).toEqual(new Array(4).fill(16));
    await assertNeverOverbooked(t.db, poolId);

    // Cancelled while held: the same.
    const again = await book(t.keys.customer2, 16, W + 4, 2, false);
    expect((await t.call('POST', `/v1/reservations/${again.id}/cancel`, { key: t.keys.customer2 })).status).toBe(200);
    expect(await free(W + 4, 4)).toEqual(new Array(4).fill(16));
    await assertNeverOverbooked(t.db, poolId);
    await assertEventsExactlyOnce(t.db);
  });

  it('ends a listing when its window starts (scheduled tick), with listing.ended', async () => {
    const soon = await book(t.keys.customer, 8, 3, 6);
    const l = await list(soon.id, { start: hoursFrom(t.clock, 3), end: hoursFrom(t.clock, 6), gpus: 8 });
    expect(l.status).toBe(201);
    t.clock.advance(3 * 3_600_000);
    expect(await t.deps.resale.endStarted()).toBeGreaterThanOrEqual(1);
    const ended = await t.call('GET', `/v1/listings/${l.body.id}`);
    expect(ended.body).toMatchObject({ status: 'ended' });
    problem(await t.call('DELETE', `/v1/listings/${l.body.id}`), 409);
    const events = (await t.call('GET', '/v1/events?limit=500')).body.data.filter((e: any) => e.type === 'listing.ended' && e.data.id === l.body.id);
    expect(events).toHaveLength(1);
    expect(events[0].data.reason).toBe('window_started');
    expect(filler.id).toBeTruthy();
    await assertEventsExactlyOnce(t.db);
  });
});

describe('metering a seller in the hours it sold', () => {
  it('refuses the seller’s usage above the GPUs it still has in sold hours, accepts it elsewhere and the buyer’s', async () => {
    const V = { site: 'valence-rovaltain', gpuType: 'b200-sxm-192gb' };
    const reserve = async (key: string, gpus: number, from: number, hours: number) => {
      const q = await t.call('POST', '/v1/quotes', { key, body: { ...V, gpus, start: hoursFrom(t.clock, from), end: hoursFrom(t.clock, from + hours) } });
      expect(q.status, JSON.stringify(q.body)).toBe(201);
      const h = await t.call('POST', '/v1/reservations', { key, body: { quoteId: q.body.id } });
      expect(h.status, JSON.stringify(h.body)).toBe(201);
      expect((await t.call('POST', `/v1/reservations/${h.body.id}/confirm`, { key })).status).toBe(200);
      return h.body;
    };
    const seller = await reserve(t.keys.customer, 128, 4, 4);
    await reserve(t.keys.customer, 128, 4, 4); // the pool (256) is full
    const l = await list(seller.id, { start: hoursFrom(t.clock, 5), end: hoursFrom(t.clock, 7), gpus: 8 });
    expect(l.status).toBe(201);
    const buyer = await reserve(t.keys.customer2, 8, 5, 2);
    expect((await t.call('GET', `/v1/listings/${l.body.id}`)).body.soldGpuHours).toBe(16);
    t.clock.advance(9 * 3_600_000);
    const at = (h: number) => hoursFrom(t.clock, h - 9);
    const usage = await t.call('POST', '/v1/usage', {
      key: t.keys.meter,
      body: {
        events: [
          { id: 'resale-meter-1', reservationId: seller.id, start: at(5), end: at(6), gpus: 128 },
          { id: 'resale-meter-2', reservationId: seller.id, start: at(5), end: at(6), gpus: 120 },
          { id: 'resale-meter-3', reservationId: seller.id, start: at(4), end: at(5), gpus: 128 },
          { id: 'resale-meter-4', reservationId: buyer.id, start: at(5), end: at(7), gpus: 8 },
        ],
      },
    });
    expect(usage.status, JSON.stringify(usage.body)).toBe(200);
    expect(usage.body.rejected).toEqual([{ id: 'resale-meter-1', reason: 'resold_hours' }]);
    expect(usage.body.accepted).toBe(3);
    // The per-minute cap follows what the seller still has: 120 more GPUs in that hour is over it.
    const again = await t.call('POST', '/v1/usage', { key: t.keys.meter, body: { events: [{ id: 'resale-meter-5', reservationId: seller.id, start: at(5), end: at(6), gpus: 8 }] } });
    expect(again.body.rejected).toEqual([{ id: 'resale-meter-5', reason: 'exceeds_reservation' }]);
  });
});
