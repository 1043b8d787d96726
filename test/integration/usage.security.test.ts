import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meteringModule } from '../../shared/http/modules.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { event, meterKeyFor, minuteEvents, postUsage, startOnDemand, uniqueId } from './usage.fixtures.ts';

let t: TestContext;
let lumiere: { id: string };
let rheinwerk: { id: string };
let marseille: { id: string };
let marseilleMeter: string;
beforeAll(async () => {
  t = await createTestContext({ modules: [meteringModule], start: '2026-11-24T10:00:00Z' });
  lumiere = await startOnDemand(t, { gpus: 8 });
  rheinwerk = await startOnDemand(t, { gpus: 16, key: t.keys.customer2 });
  marseille = await startOnDemand(t, { gpus: 8, site: 'marseille' });
  marseilleMeter = await meterKeyFor(t, 'marseille');
  t.clock.set('2026-11-24T12:00:00Z');
  expect((await postUsage(t, minuteEvents(lumiere.id, '2026-11-24T10:00:00Z', 10, 8, 'lum'))).body.accepted).toBe(10);
  expect((await postUsage(t, minuteEvents(rheinwerk.id, '2026-11-24T10:00:00Z', 10, 16, 'rhe'))).body.accepted).toBe(10);
});
afterAll(() => t.close());

const oneEvent = () => [event(uniqueId('sec'), lumiere.id, '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z')];

describe('who may post usage', () => {
  it.each(['customer', 'customer2', 'finance', 'operator'] as const)('a %s key gets 403', async (who) => {
    const res = await postUsage(t, oneEvent(), t.keys[who]);
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('no key or a bad key gets 401', async () => {
    expect((await t.call('POST', '/v1/usage', { key: null, body: { events: oneEvent() } })).status).toBe(401);
    expect((await t.call('POST', '/v1/usage', { key: 'gm_meter_not-a-real-key', body: { events: oneEvent() } })).status).toBe(401);
  });

  it('a meter reports only for its own site: unknown_reservation both ways, nothing counted', async () => {
    const intoValence = await postUsage(t, oneEvent(), marseilleMeter);
    expect(intoValence.status).toBe(200);
    expect(intoValence.body).toMatchObject({ accepted: 0, rejected: [{ reason: 'unknown_reservation' }] });
    const intoMarseille = await postUsage(t, [event(uniqueId('sec'), marseille.id, '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z')]);
    expect(intoMarseille.body).toMatchObject({ accepted: 0, rejected: [{ reason: 'unknown_reservation' }] });
    const own = await postUsage(t, [event(uniqueId('sec'), marseille.id, '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z')], marseilleMeter);
    expect(own.body.accepted).toBe(1);
    const seen = await t.call('GET', `/v1/usage?reservationId=${marseille.id}&from=2026-11-24T11:00:00Z&to=2026-11-24T12:00:00Z`);
    expect(seen.body.gpuSeconds).toBe(60 * 8);
  });

  it('a reservation at another site answers exactly like an id that does not exist (nothing learned about other sites)', async () => {
    const foreign = await postUsage(t, [event('probe-a', lumiere.id, '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z')], marseilleMeter);
    const missing = await postUsage(t, [event('probe-a', 'res_01doesnotexist', '2026-11-24T11:00:00Z', '2026-11-24T11:01:00Z')], marseilleMeter);
    expect(foreign.status).toBe(missing.status);
    expect(foreign.body).toEqual(missing.body);
    expect(foreign.body).toEqual({ accepted: 0, duplicates: 0, rejected: [{ id: 'probe-a', reason: 'unknown_reservation' }] });
  });

  it('a rejected event leaves its id free for a correct report', async () => {
    const id = uniqueId('retry');
    const wrong = await postUsage(t, [event(id, lumiere.id, '2026-11-24T11:30:00Z', '2026-11-24T11:31:00Z')], marseilleMeter);
    expect(wrong.body.rejected).toEqual([{ id, reason: 'unknown_reservation' }]);
    const right = await postUsage(t, [event(id, lumiere.id, '2026-11-24T11:30:00Z', '2026-11-24T11:31:00Z')]);
    expect(right.body.accepted).toBe(1);
  });
});

describe('who may read usage', () => {
  it('meter and operator keys get 403', async () => {
    expect((await t.call('GET', `/v1/usage?reservationId=${lumiere.id}`, { key: t.keys.meter })).status).toBe(403);
    expect((await t.call('GET', `/v1/usage?reservationId=${lumiere.id}`, { key: t.keys.operator })).status).toBe(403);
  });

  it("another org's reservation answers 404, as does an unknown one", async () => {
    const other = await t.call('GET', `/v1/usage?reservationId=${rheinwerk.id}`);
    expect(other.status).toBe(404);
    const unknown = await t.call('GET', '/v1/usage?reservationId=res_01nope');
    expect(unknown.status).toBe(404);
    expect(other.body.type).toBe(unknown.body.type);
    expect((await t.call('GET', `/v1/usage?reservationId=${lumiere.id}`, { key: t.keys.customer2 })).status).toBe(404);
  });

  it("a customer's org totals hold only its own usage; naming another org answers 404", async () => {
    const range = '&from=2026-11-24T10:00:00Z&to=2026-11-24T11:00:00Z';
    const own = await t.call('GET', `/v1/usage?granularity=hour${range}`);
    expect(own.body).toMatchObject({ orgId: 'org_lumiere', reservationId: null, reservedGpuHours: null, gpuSeconds: 10 * 60 * 8 });
    const theirs = await t.call('GET', `/v1/usage?granularity=hour${range}`, { key: t.keys.customer2 });
    expect(theirs.body).toMatchObject({ orgId: 'org_rheinwerk', gpuSeconds: 10 * 60 * 16 });
    expect((await t.call('GET', `/v1/usage?orgId=org_rheinwerk${range}`)).status).toBe(404);
    expect((await t.call('GET', `/v1/usage?orgId=org_lumiere${range}`)).body.gpuSeconds).toBe(10 * 60 * 8);
  });

  it('finance reads any reservation and any org, and must name the org for totals', async () => {
    const range = '&from=2026-11-24T10:00:00Z&to=2026-11-24T11:00:00Z';
    const res = await t.call('GET', `/v1/usage?reservationId=${rheinwerk.id}${range}`, { key: t.keys.finance });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ orgId: 'org_rheinwerk', gpuSeconds: 10 * 60 * 16 });
    const totals = await t.call('GET', `/v1/usage?orgId=org_lumiere${range}`, { key: t.keys.finance });
    expect(totals.body.gpuSeconds).toBe(10 * 60 * 8);
    const unnamed = await t.call('GET', `/v1/usage?${range.slice(1)}`, { key: t.keys.finance });
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.errors[0].path).toBe('orgId');
    expect((await t.call('GET', `/v1/usage?reservationId=${rheinwerk.id}&orgId=org_lumiere`, { key: t.keys.finance })).status).toBe(404);
  });
});
