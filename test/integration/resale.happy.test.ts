/**
 * Resale end to end against DynamoDB Local: a seller lists hours of a booking in a full pool, two
 * other orgs buy parts of them through the normal quote → hold → confirm path, the rest is
 * withdrawn; capacity per pool-hour never moves, the seller's reservation shrinks, the money splits
 * to the cent, events and market data follow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCustomerOrgs, assertEventsExactlyOnce, assertNeverOverbooked } from '../support/invariants.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
let third: { orgId: string; key: string };
beforeAll(async () => {
  t = await createTestContext();
  third = (await addCustomerOrgs(t.db, 1, t.clock()))[0]!;
});
afterAll(() => t.close());

const POOL = { site: 'marseille', gpuType: 'b200-sxm-192gb' };
const S = 24 * 10; // window start, hours from now
const book = async (key: string, gpus: number, from: number, hours: number) => {
  const q = await t.call('POST', '/v1/quotes', { key, body: { ...POOL, gpus, start: hoursFrom(t.clock, from), end: hoursFrom(t.clock, from + hours) } });
  expect(q.status, JSON.stringify(q.body)).toBe(201);
  const held = await t.call('POST', '/v1/reservations', { key, body: { quoteId: q.body.id } });
  expect(held.status, JSON.stringify(held.body)).toBe(201);
  const confirmed = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`, { key });
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
  return { quote: q.body, reservation: confirmed.body };
};
const slots = async (from: number, hours: number) => {
  const a = await t.call('GET', `/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=${hoursFrom(t.clock, from)}&end=${hoursFrom(t.clock, from + hours)}`);
  expect(a.status).toBe(200);
  return a.body.pools[0].slots.map((s: { available: number }) => s.available) as number[];
};
const eventsOf = async (key: string) => (await t.call('GET', '/v1/events?limit=200', { key })).body.data as { type: string; data: any }[];

describe('resale: list, sell to two buyers, withdraw the rest', () => {
  let seller: Awaited<ReturnType<typeof book>>;
  let listing: any;
  let buyer1: Awaited<ReturnType<typeof book>>;
  let buyer2: Awaited<ReturnType<typeof book>>;

  it('lists 32 of 64 GPUs for 24 hours of a full pool; availability and offers show them free', async () => {
    seller = await book(t.keys.customer, 64, S, 48);
    await book(t.keys.customer, 64, S, 48); // the pool (128 GPUs) is now full in those hours
    expect(await slots(S, 48)).toEqual(new Array(48).fill(0));

    const res = await t.call('POST', `/v1/reservations/${seller.reservation.id}/listings`, {
      body: { start: hoursFrom(t.clock, S + 12), end: hoursFrom(t.clock, S + 36), gpus: 32 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    listing = res.body;
    expect(listing).toMatchObject({ reservationId: seller.reservation.id, poolId: 'marseille-b200', gpus: 32, minPricePerGpuHour: null, status: 'open', soldGpuHours: 0, earnings: { amount: 0, currency: 'EUR' } });
    expect(Date.parse(listing.start)).toBe(Date.parse(hoursFrom(t.clock, S + 12)));

    expect(await slots(S, 48)).toEqual([...new Array(12).fill(0), ...new Array(24).fill(32), ...new Array(12).fill(0)]);
    const offers = await t.call('GET', `/v1/offers?gpuType=b200-sxm-192gb&site=marseille&gpus=16&durationHours=12&earliestStart=${hoursFrom(t.clock, S)}&latestEnd=${hoursFrom(t.clock, S + 48)}`, { key: t.keys.customer2 });
    expect(offers.status, JSON.stringify(offers.body)).toBe(200);
    expect(offers.body.data.length).toBeGreaterThan(0);
    for (const o of offers.body.data) {
      expect(Date.parse(o.start)).toBeGreaterThanOrEqual(Date.parse(listing.start));
      expect(Date.parse(o.end)).toBeLessThanOrEqual(Date.parse(listing.end));
    }
    const created = (await eventsOf(t.keys.customer)).filter((e) => e.type === 'listing.created');
    expect(created).toHaveLength(1);
    expect(created[0]!.data.id).toBe(listing.id);
  });

  it('the seller cannot buy its own listing; a quote beyond what is listed is refused', async () => {
    const own = await t.call('POST', '/v1/quotes', { body: { ...POOL, gpus: 8, start: hoursFrom(t.clock, S + 12), end: hoursFrom(t.clock, S + 14) } });
    expect(own.status).toBe(409);
    const tooMany = await t.call('POST', '/v1/quotes', { key: t.keys.customer2, body: { ...POOL, gpus: 40, start: hoursFrom(t.clock, S + 12), end: hoursFrom(t.clock, S + 14) } });
    expect(tooMany.status).toBe(409);
    expect(tooMany.body.type).toMatch(/capacity-unavailable$/);
  });

  it('buyer 1 takes 16 GPUs for 12 hours: the hold takes them provisionally, the confirmation settles the sale', async () => {
    const q = await t.call('POST', '/v1/quotes', { key: t.keys.customer2, body: { ...POOL, gpus: 16, start: hoursFrom(t.clock, S + 12), end: hoursFrom(t.clock, S + 24) } });
    expect(q.status).toBe(201);
    const held = await t.call('POST', '/v1/reservations', { key: t.keys.customer2, body: { quoteId: q.body.id } });
    expect(held.status, JSON.stringify(held.body)).toBe(201);
    const pending = await t.call('GET', `/v1/listings/${listing.id}`);
    expect(pending.body).toMatchObject({ status: 'open', soldGpuHours: 0, pendingGpuHours: 16 * 12 });
    expect(await slots(S + 12, 24)).toEqual([...new Array(12).fill(16), ...new Array(12).fill(32)]);
    await assertNeverOverbooked(t.db, 'marseille-b200');

    const confirmed = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`, { key: t.keys.customer2 });
    expect(confirmed.status).toBe(200);
    buyer1 = { quote: q.body, reservation: confirmed.body };
    const sold = await t.call('GET', `/v1/listings/${listing.id}`);
    const gross = q.body.total.amount; // every GPU-hour of this booking came from the listing
    const fee = Math.floor((gross * 1000 + 5000) / 10000);
    expect(sold.body).toMatchObject({ status: 'open', soldGpuHours: 192, pendingGpuHours: 0, earnings: { amount: gross - fee }, fees: { amount: fee } });
    expect(sold.body.fills).toHaveLength(1);
    expect(sold.body.fills[0]).toMatchObject({ gpuHours: 192, gross: { amount: gross }, fee: { amount: fee }, earnings: { amount: gross - fee } });
    expect(JSON.stringify(sold.body)).not.toContain(buyer1.reservation.id);

    const events = await eventsOf(t.keys.customer);
    const soldEvents = events.filter((e) => e.type === 'listing.sold');
    expect(soldEvents).toHaveLength(1);
    expect(soldEvents[0]!.data.fill).toMatchObject({ gpuHours: 192, earnings: { amount: gross - fee } });
    const resold = events.filter((e) => e.type === 'reservation.resold');
    expect(resold).toHaveLength(1);
    expect(resold[0]!.data).toMatchObject({ id: seller.reservation.id, resold: { gpuHours: 192 } });
    // The buyer's events say nothing of the seller.
    expect(JSON.stringify(await eventsOf(t.keys.customer2))).not.toContain(seller.reservation.id);
  });

  it('buyer 2 takes 8 GPUs for 16 hours across what buyer 1 left', async () => {
    buyer2 = await book(third.key, 8, S + 20, 16);
    const l = (await t.call('GET', `/v1/listings/${listing.id}`)).body;
    expect(l.soldGpuHours).toBe(192 + 128);
    expect(l.fills).toHaveLength(2);
    expect(l.earnings.amount).toBe(l.fills.reduce((s: number, f: any) => s + f.earnings.amount, 0));
    expect(l.fees.amount).toBe(l.fills.reduce((s: number, f: any) => s + f.fee.amount, 0));
    for (const f of l.fills) expect(f.gross.amount).toBe(f.fee.amount + f.earnings.amount);
    expect(await slots(S + 12, 24)).toEqual([...new Array(8).fill(16), ...new Array(4).fill(8), ...new Array(12).fill(24)]);
    await assertNeverOverbooked(t.db, 'marseille-b200');
  });

  it('withdraws the rest: the unsold hours stay the seller’s, what was sold stays sold', async () => {
    const w = await t.call('DELETE', `/v1/listings/${listing.id}`);
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    expect(w.body).toMatchObject({ status: 'withdrawn', soldGpuHours: 320 });
    expect(await slots(S, 48)).toEqual(new Array(48).fill(0));
    const again = await t.call('DELETE', `/v1/listings/${listing.id}`);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('withdrawn');
    const ended = (await eventsOf(t.keys.customer)).filter((e) => e.type === 'listing.ended');
    expect(ended).toHaveLength(1);
    expect(ended[0]!.data).toMatchObject({ id: listing.id, reason: 'withdrawn' });
    const open = await t.call('GET', '/v1/listings?status=open');
    expect(open.body.data).toEqual([]);
    const withdrawn = await t.call('GET', '/v1/listings?status=withdrawn');
    expect(withdrawn.body.data.map((x: any) => x.id)).toEqual([listing.id]);
    await assertNeverOverbooked(t.db, 'marseille-b200');
    await assertEventsExactlyOnce(t.db);
  });

  it('the seller’s cancellation refunds only the unsold part and frees only its own hours', async () => {
    // 9 days before start: the policy refunds 100 % of what the unsold GPU-hours cost.
    const cancelled = await t.call('POST', `/v1/reservations/${seller.reservation.id}/cancel`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    const total = 64 * 48;
    const unsold = total - 320;
    expect(cancelled.body.refund).toMatchObject({ percent: 100, amount: { amount: Math.floor((seller.reservation.price.amount * unsold) / total) } });
    // Buyers keep theirs: free = 64 minus the buyers' GPUs per hour.
    expect(await slots(S + 12, 24)).toEqual([...new Array(8).fill(48), ...new Array(4).fill(40), ...new Array(12).fill(56)]);
    await assertNeverOverbooked(t.db, 'marseille-b200');
    await assertEventsExactlyOnce(t.db);
  });

  it('market prices show the quotes and bookings made, with the resold GPU-hours and no org identity', async () => {
    const from = new Date(Math.floor(t.clock().getTime() / 86_400_000) * 86_400_000).toISOString();
    const to = new Date(Date.parse(from) + 86_400_000).toISOString();
    const m = await t.call('GET', `/v1/market/prices?site=marseille&gpuType=b200-sxm-192gb&from=${from}&to=${to}&granularity=day`, { key: t.keys.operator });
    expect(m.status, JSON.stringify(m.body)).toBe(200);
    expect(m.body.data).toHaveLength(1);
    const day = m.body.data[0];
    const bookings = [seller.quote, buyer1.quote, buyer2.quote];
    expect(day.bookedPerGpuHour.count).toBe(4);
    expect(day.bookedGpuHours).toBe(64 * 48 * 2 + 192 + 128);
    expect(day.resoldGpuHours).toBe(192 + 128);
    const perGpuHour = bookings.map((q: any) => Math.floor(q.total.amount / q.gpuHours));
    expect(day.bookedPerGpuHour.min).toBeLessThanOrEqual(Math.min(...perGpuHour));
    expect(day.bookedPerGpuHour.max).toBeGreaterThanOrEqual(Math.max(...perGpuHour));
    expect(day.quotedPerGpuHour.count).toBe(4); // refused quotes are not prices anyone was offered
    expect(day.listPricePerGpuHour).toBeGreaterThan(0);
    expect(JSON.stringify(m.body)).not.toMatch(/org_|res_|customer/);
    const hourly = await t.call('GET', `/v1/market/prices?site=marseille&gpuType=b200-sxm-192gb&from=${from}&to=${to}&granularity=hour`, { key: t.keys.customer2 });
    expect(hourly.body.data).toHaveLength(24);
    expect(hourly.body.data.reduce((s: number, b: any) => s + b.bookedPerGpuHour.count, 0)).toBe(4);
  });
});
