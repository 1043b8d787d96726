import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(() => t.close());

const quoteBody = (gpus: number, startIn: number, hours: number, site = 'valence-rovaltain', gpuType = 'h100-sxm-80gb') => ({
  site,
  gpuType,
  gpus,
  start: hoursFrom(t.clock, startIn),
  end: hoursFrom(t.clock, startIn + hours),
});

describe('catalog', () => {
  it('lists the three sites, the GPU types and pools with list prices', async () => {
    const sites = await t.call('GET', '/v1/sites');
    expect(sites.status).toBe(200);
    expect(sites.body.data.map((s: { id: string }) => s.id).sort()).toEqual(['grand-est', 'marseille', 'valence-rovaltain']);
    const one = await t.call('GET', '/v1/sites/marseille');
    expect(one.body).toMatchObject({ id: 'marseille', country: 'FR', status: 'active' });
    const gpus = await t.call('GET', '/v1/gpu-types');
    expect(gpus.body.data.map((g: { id: string }) => g.id)).toContain('b200-sxm-192gb');
    const pools = await t.call('GET', '/v1/pools?site=valence-rovaltain&gpuType=h100-sxm-80gb');
    expect(pools.body.data).toHaveLength(1);
    expect(pools.body.data[0]).toMatchObject({ totalGpus: 1024, gpusPerNode: 8, minGpus: 8, stepGpus: 8, onDemandRate: { currency: 'EUR' } });
  });

  it('answers health and serves the OpenAPI 3.1 document and the reference page', async () => {
    expect((await t.call('GET', '/healthz', { key: null })).status).toBe(200);
    const doc = await t.call('GET', '/openapi.json', { key: null });
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/quotes', '/v1/reservations/{id}/confirm', '/v1/availability']));
    const docs = await t.call('GET', '/docs', { key: null });
    expect(docs.status).toBe(200);
    expect(docs.text).toContain('/openapi.json');
  });
});

describe('booking life', () => {
  it('quotes, holds, confirms, extends and cancels, emitting each event in order', async () => {
    const before = await t.call('GET', `/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=${hoursFrom(t.clock, 24 * 10)}&end=${hoursFrom(t.clock, 24 * 10 + 48)}`);
    expect(before.status).toBe(200);
    expect(before.body.pools[0]).toMatchObject({ poolId: 'marseille-b200', capacity: 128, minAvailable: 128 });
    expect(before.body.pools[0].slots).toHaveLength(48);

    const quote = await t.call('POST', '/v1/quotes', { body: quoteBody(16, 24 * 10, 48, 'marseille', 'b200-sxm-192gb') });
    expect(quote.status).toBe(201);
    expect(quote.body.total.amount).toBe(quote.body.lines.reduce((s: number, l: { amount: { amount: number } }) => s + l.amount.amount, 0));
    expect(Date.parse(quote.body.expiresAt) - t.clock().getTime()).toBe(15 * 60_000);

    const held = await t.call('POST', '/v1/reservations', { body: { quoteId: quote.body.id } });
    expect(held.status).toBe(201);
    expect(held.body).toMatchObject({ kind: 'reserved', status: 'held', gpus: 16, price: quote.body.total, start: quote.body.start, end: quote.body.end });
    expect(Date.parse(held.body.holdExpiresAt) - t.clock().getTime()).toBe(15 * 60_000);

    const during = await t.call('GET', `/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=${quote.body.start}&end=${quote.body.end}&granularity=day`);
    expect(during.body.pools[0].minAvailable).toBe(112);
    expect(during.body.pools[0].slots).toHaveLength(3); // 48 h from 10:00 spans three UTC days

    const confirmed = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`);
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.status).toBe('confirmed');

    const extended = await t.call('POST', `/v1/reservations/${held.body.id}/extend`, { body: { end: hoursFrom(t.clock, 24 * 10 + 72) } });
    expect(extended.status).toBe(200);
    expect(extended.body.end).toBe(new Date(hoursFrom(t.clock, 24 * 10 + 72)).toISOString());
    expect(extended.body.extension.gpuHours).toBe(16 * 24);
    expect(extended.body.price.amount).toBe(quote.body.total.amount + extended.body.extension.price.amount);

    const cancelled = await t.call('POST', `/v1/reservations/${held.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect(cancelled.body.refund).toMatchObject({ percent: 100, amount: { amount: extended.body.price.amount, currency: 'EUR' } });

    const after = await t.call('GET', `/v1/availability?site=marseille&gpuType=b200-sxm-192gb&start=${quote.body.start}&end=${hoursFrom(t.clock, 24 * 10 + 72)}`);
    expect(after.body.pools[0].minAvailable).toBe(128);

    const events = await t.call('GET', '/v1/events');
    const mine = events.body.data.filter((e: { data: { id: string } }) => e.data.id === held.body.id);
    expect(mine.map((e: { type: string }) => e.type)).toEqual(['reservation.held', 'reservation.confirmed', 'reservation.extended', 'reservation.cancelled']);
    const seqs = events.body.data.map((e: { sequence: number }) => e.sequence);
    expect(seqs).toEqual(seqs.map((_: number, i: number) => i + 1));

    const later = await t.call('GET', `/v1/events?after=${mine[1].sequence}`);
    expect(later.body.data[0].sequence).toBe(mine[1].sequence + 1);
    const byId = await t.call('GET', `/v1/events?after=${mine[1].id}`);
    expect(byId.body.data[0].sequence).toBe(mine[1].sequence + 1);
  });

  it('lists and gets reservations of the own org, newest first, with cursor paging', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const q = await t.call('POST', '/v1/quotes', { body: quoteBody(8, 24 * 40 + i * 10, 2) });
      const r = await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } });
      ids.push(r.body.id);
    }
    const page1 = await t.call('GET', '/v1/reservations?limit=2');
    expect(page1.body.data.map((r: { id: string }) => r.id)).toEqual([ids[2], ids[1]]);
    expect(page1.body.nextCursor).toEqual(expect.any(String));
    const page2 = await t.call('GET', `/v1/reservations?limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.data[0].id).toBe(ids[0]);
    const one = await t.call('GET', `/v1/reservations/${ids[0]}`);
    expect(one.body.id).toBe(ids[0]);
  });

  it('expires a hold that is never confirmed and frees its capacity without any API call', async () => {
    const q = await t.call('POST', '/v1/quotes', { body: quoteBody(64, 24 * 60, 5, 'valence-rovaltain', 'b200-sxm-192gb') });
    const r = await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } });
    const availability = () =>
      t.call('GET', `/v1/availability?site=valence-rovaltain&gpuType=b200-sxm-192gb&start=${q.body.start}&end=${q.body.end}`).then((a) => a.body.pools[0].minAvailable);
    expect(await availability()).toBe(256 - 64);
    const { sweepDueReservations } = await import('../../shared/services/sweeper.ts');
    t.clock.advance(14 * 60_000);
    expect(await sweepDueReservations({ db: t.deps.db, clock: t.clock, booking: t.deps.booking })).toBe(0);
    t.clock.advance(61_000);
    expect(await sweepDueReservations({ db: t.deps.db, clock: t.clock, booking: t.deps.booking })).toBeGreaterThanOrEqual(1);
    expect((await t.call('GET', `/v1/reservations/${r.body.id}`)).body.status).toBe('expired');
    expect(await availability()).toBe(256);
    const confirm = await t.call('POST', `/v1/reservations/${r.body.id}/confirm`);
    expect(confirm.status).toBe(409);
  });

  it('moves a confirmed reservation to active, warns 1 hour before the end, and completes it', async () => {
    const q = await t.call('POST', '/v1/quotes', { body: quoteBody(8, 2, 3, 'marseille', 'h100-sxm-80gb') });
    const r = await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } });
    await t.call('POST', `/v1/reservations/${r.body.id}/confirm`);
    const { sweepDueReservations } = await import('../../shared/services/sweeper.ts');
    const sweep = () => sweepDueReservations({ db: t.deps.db, clock: t.clock, booking: t.deps.booking });
    t.clock.set(q.body.start);
    await sweep();
    expect((await t.call('GET', `/v1/reservations/${r.body.id}`)).body.status).toBe('active');
    t.clock.set(new Date(Date.parse(q.body.end) - 3_600_000));
    await sweep();
    t.clock.set(q.body.end);
    await sweep();
    expect((await t.call('GET', `/v1/reservations/${r.body.id}`)).body.status).toBe('completed');
    const events = await t.call('GET', '/v1/events?limit=500');
    const types = events.body.data.filter((e: { data: { id: string } }) => e.data.id === r.body.id).map((e: { type: string }) => e.type);
    expect(types).toEqual(['reservation.held', 'reservation.confirmed', 'reservation.started', 'reservation.ending_soon', 'reservation.completed']);
  });

  it('starts an on-demand reservation that blocks colliding reserved bookings until it stops', async () => {
    const od = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 240 } });
    expect(od.status).toBe(201);
    expect(od.body).toMatchObject({ kind: 'on_demand', status: 'active', end: null, gpus: 240 });
    const blocked = await t.call('POST', '/v1/quotes', { body: quoteBody(24, 24 * 200, 4, 'marseille', 'h200-sxm-141gb') });
    expect(blocked.status).toBe(409);
    expect(blocked.body.type).toContain('capacity-unavailable');
    const fits = await t.call('POST', '/v1/quotes', { body: quoteBody(16, 24 * 200, 4, 'marseille', 'h200-sxm-141gb') });
    expect(fits.status).toBe(201);
    const held = await t.call('POST', '/v1/reservations', { body: { quoteId: fits.body.id } });
    expect(held.status).toBe(201);
    const second = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 8 } });
    expect(second.status).toBe(409);
    const stopped = await t.call('POST', `/v1/reservations/${od.body.id}/stop`);
    expect(stopped.body).toMatchObject({ status: 'stopped' });
    expect(stopped.body.end).toEqual(expect.any(String));
    const again = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'marseille', gpuType: 'h200-sxm-141gb', gpus: 8 } });
    expect(again.status).toBe(201);
  });
});
