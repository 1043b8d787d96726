/** The footprint of a reservation, reserved then metered, against the worked example of docs/footprint.md. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { footprintOf } from '../../shared/domain/footprint.ts';
import { meteringModule } from '../../shared/http/modules.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

const doc = readFileSync(resolve(import.meta.dirname, '../../docs/footprint.md'), 'utf8');
const example = (name: string) => {
  const m = doc.match(new RegExp(`<!-- example:${name} -->\\s*\`\`\`json\\n([^\`]+)\`\`\``));
  if (!m) throw new Error(`docs/footprint.md has no example:${name}`);
  return JSON.parse(m[1]!) as Record<string, unknown>;
};

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ modules: [meteringModule], start: '2026-11-24T10:00:00Z' });
});
afterAll(() => t.close());

describe('footprint', () => {
  it('matches the worked example: reserved before the meter reports, metered after (measured energy wins)', async () => {
    const start = hoursFrom(t.clock, 2);
    const end = hoursFrom(t.clock, 26);
    const q = await t.call('POST', '/v1/quotes', { body: { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start, end } });
    const r = await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } });
    expect(r.status).toBe(201);
    expect(r.body.footprint).toMatchObject(example('reserved'));
    expect(r.body.footprint.method).toContain('PUE 1.2');
    expect((await t.call('POST', `/v1/reservations/${r.body.id}/confirm`)).status).toBe(200);

    const at = (h: number) => new Date(Date.parse(start) + h * 3_600_000).toISOString();
    t.clock.set(at(6));
    const usage = await t.call('POST', '/v1/usage', {
      key: t.keys.meter,
      body: {
        events: [
          { id: 'fp-1', reservationId: r.body.id, start: at(0), end: at(2), gpus: 8, energyWh: 10_000 },
          { id: 'fp-2', reservationId: r.body.id, start: at(2), end: at(6), gpus: 8 },
        ],
      },
    });
    expect(usage.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: [] });
    const got = await t.call('GET', `/v1/reservations/${r.body.id}`);
    expect(got.body.footprint).toMatchObject(example('metered'));
    expect((await t.call('GET', '/v1/reservations')).body.data.find((x: { id: string }) => x.id === r.body.id).footprint).toEqual(got.body.footprint);

    // A resent event is a duplicate and changes nothing.
    const again = await t.call('POST', '/v1/usage', { key: t.keys.meter, body: { events: [{ id: 'fp-1', reservationId: r.body.id, start: at(0), end: at(2), gpus: 8, energyWh: 10_000 }] } });
    expect(again.body.duplicates).toBe(1);
    expect((await t.call('GET', `/v1/reservations/${r.body.id}`)).body.footprint).toEqual(got.body.footprint);

    const report = await t.call('GET', '/v1/sites/valence-rovaltain/energy-report?year=2026', { key: t.keys.operator });
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ meteredGpuHours: 48, itEnergyKwh: 33.6, facilityEnergyKwh: 40.32, pue: 1.2, wasteHeatReusedKwh: 12.096 });
    expect(report.body.pools.find((p: { poolId: string }) => p.poolId === 'valence-rovaltain-h100').itEnergyKwh).toBe(33.6);
    expect((await t.call('GET', '/v1/sites/valence-rovaltain/energy-report?year=2026')).status).toBe(403);
    expect((await t.call('GET', '/v1/sites/nowhere/energy-report?year=2026', { key: t.keys.operator })).status).toBe(404);
  });

  it('a cancelled hold has nothing reserved; figures follow the site and GPU type', () => {
    const factors = { boardPowerWatts: 1000, pue: 1.25, gridCarbonGramsPerKwh: 52, heatReuseFraction: 0.1 };
    expect(footprintOf({ factors, reservedGpuHours: 0, metered: null })).toMatchObject({ itEnergyKwh: 0, facilityEnergyKwh: 0, co2eKg: 0, heatReusedKwh: 0, basis: 'reserved' });
    // 16 B200 × 10 h at Marseille: 160 kWh IT, 200 kWh facility, 10.4 kg CO2e, 20 kWh heat reused.
    expect(footprintOf({ factors, reservedGpuHours: 160, metered: null })).toMatchObject({ itEnergyKwh: 160, facilityEnergyKwh: 200, co2eKg: 10.4, heatReusedKwh: 20 });
    // Metered, all measured: the measurement is the IT energy whatever the board power.
    expect(footprintOf({ factors, reservedGpuHours: 160, metered: { gpuSeconds: 3600, measuredGpuSeconds: 3600, measuredEnergyWh: 812 } }).itEnergyKwh).toBe(0.812);
  });
});
