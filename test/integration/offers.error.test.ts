/**
 * Bad input to GET /v1/offers: every rule answers a 4xx problem+json naming the field, never a 500,
 * and a fast-check fuzz over the parameters finds no 5xx and no unnamed 4xx.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(() => t.close());

const get = (query: Record<string, string | number | undefined>) =>
  t.call('GET', `/v1/offers?${new URLSearchParams(Object.entries(query).filter((e): e is [string, string | number] => e[1] !== undefined).map(([k, v]) => [k, String(v)])).toString()}`);
const base = () => ({ gpuType: 'h100-sxm-80gb', gpus: 64, durationHours: 72 });
const FIELDS = ['gpuType', 'gpus', 'durationHours', 'minDurationHours', 'maxDurationHours', 'earliestStart', 'latestEnd', 'site', 'maxPricePerGpuHour', 'sort', 'limit'];

describe('every rule is named', () => {
  const cases: [string, () => Record<string, string | number>, number, string, RegExp][] = [
    ['unknown GPU type', () => ({ ...base(), gpuType: 'a100-pcie' }), 422, 'gpuType', /unknown GPU type "a100-pcie"/],
    ['missing GPU type', () => ({ gpus: 8, durationHours: 4 }), 400, 'gpuType', /required/],
    ['unknown site', () => ({ ...base(), site: 'valence-rovaltain,lyon' }), 422, 'site', /unknown site "lyon"/],
    ['site list that is not one', () => ({ ...base(), site: 'Valence Rovaltain' }), 400, 'site', /comma list of site ids/],
    ['no pool of the type at the sites', () => ({ ...base(), site: 'grand-est' }), 422, 'site', /no h100-sxm-80gb pool at grand-est/],
    ['gpus not whole nodes', () => ({ ...base(), gpus: 12 }), 422, 'gpus', /not a whole-node booking.*multiple of 8/],
    ['gpus more than any pool', () => ({ ...base(), gpus: 2048 }), 422, 'gpus', /not a whole-node booking/],
    ['gpus fractional', () => ({ ...base(), gpus: 8.5 }), 400, 'gpus', /whole number/],
    ['gpus missing', () => ({ gpuType: 'h100-sxm-80gb', durationHours: 4 }), 400, 'gpus', /required/],
    ['duration under an hour', () => ({ ...base(), durationHours: 0 }), 400, 'durationHours', /at least 1 hour/],
    ['duration over 365 days', () => ({ ...base(), durationHours: 8761 }), 400, 'durationHours', /at most 8760 hours/],
    ['duration fractional', () => ({ ...base(), durationHours: 1.5 }), 400, 'durationHours', /whole number of hours/],
    ['no duration', () => ({ gpuType: 'h100-sxm-80gb', gpus: 8 }), 400, 'durationHours', /required/],
    ['both duration forms', () => ({ ...base(), minDurationHours: 24, maxDurationHours: 48 }), 400, 'durationHours', /either/],
    ['range without its max', () => ({ gpuType: 'h100-sxm-80gb', gpus: 8, minDurationHours: 24 }), 400, 'maxDurationHours', /required/],
    ['range without its min', () => ({ gpuType: 'h100-sxm-80gb', gpus: 8, maxDurationHours: 24 }), 400, 'minDurationHours', /required/],
    ['range max below min', () => ({ gpuType: 'h100-sxm-80gb', gpus: 8, minDurationHours: 48, maxDurationHours: 24 }), 400, 'maxDurationHours', /at least minDurationHours/],
    ['range max over 365 days', () => ({ gpuType: 'h100-sxm-80gb', gpus: 8, minDurationHours: 48, maxDurationHours: 9000 }), 400, 'maxDurationHours', /at most 8760/],
    ['search range shorter than the duration', () => ({ ...base(), earliestStart: hoursFrom(t.clock, 24), latestEnd: hoursFrom(t.clock, 24 + 71) }), 422, 'latestEnd', /71 h, shorter than the 72 h asked/],
    ['latestEnd before earliestStart', () => ({ ...base(), earliestStart: hoursFrom(t.clock, 48), latestEnd: hoursFrom(t.clock, 24) }), 422, 'latestEnd', /after earliestStart/],
    ['range beyond the horizon', () => ({ ...base(), latestEnd: hoursFrom(t.clock, 24 * 800) }), 422, 'latestEnd', /booking horizon/],
    ['start beyond 12 months', () => ({ ...base(), earliestStart: hoursFrom(t.clock, 24 * 367) }), 422, 'earliestStart', /12 months/],
    ['earliestStart not a timestamp', () => ({ ...base(), earliestStart: 'tomorrow' }), 400, 'earliestStart', /.+/],
    ['max price in euros', () => ({ ...base(), maxPricePerGpuHour: 2.5 }), 400, 'maxPricePerGpuHour', /integer cents/],
    ['max price negative', () => ({ ...base(), maxPricePerGpuHour: -1 }), 400, 'maxPricePerGpuHour', /at least 0/],
    ['max price not a number', () => ({ ...base(), maxPricePerGpuHour: 'cheap' }), 400, 'maxPricePerGpuHour', /integer cents/],
    ['unknown sort', () => ({ ...base(), sort: 'gpus' }), 400, 'sort', /price or start/],
    ['limit over 50', () => ({ ...base(), limit: 51 }), 400, 'limit', /1 to 50/],
    ['limit zero', () => ({ ...base(), limit: 0 }), 400, 'limit', /1 to 50/],
  ];
  it.each(cases)('%s', async (_name, query, status, path, message) => {
    const res = await get(query());
    expect(res.status, res.text).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.status).toBe(status);
    const named = res.body.errors.find((e: { path: string }) => e.path === path);
    expect(named, res.text).toBeDefined();
    expect(named.message).toMatch(message);
  });
});

describe('fuzz', () => {
  const hostile = fc.constantFrom('', ' ', '-1', '0', '1e3', '1e309', 'NaN', 'Infinity', '0x10', '8.0', '9007199254740993', '%00', '💥', 'null', '[]', '{}', 'h100-sxm-80gb', 'valence-rovaltain,,marseille');
  const int = (min: number, max: number) => fc.integer({ min, max }).map(String);
  const value: Record<string, fc.Arbitrary<string>> = {
    gpuType: fc.oneof(fc.constantFrom('h100-sxm-80gb', 'h200-sxm-141gb', 'b200-sxm-192gb', 'x'), hostile, fc.string({ maxLength: 30 })),
    gpus: fc.oneof(int(-8, 2100), fc.constantFrom('8', '16', '64', '512'), hostile, fc.double().map(String)),
    durationHours: fc.oneof(int(-2, 9000), hostile),
    minDurationHours: fc.oneof(int(-2, 9000), hostile),
    maxDurationHours: fc.oneof(int(-2, 9000), hostile),
    earliestStart: fc.oneof(fc.integer({ min: -48, max: 24 * 800 }).map((h) => hoursFrom(t.clock, h)), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), hostile),
    latestEnd: fc.oneof(fc.integer({ min: -48, max: 24 * 800 }).map((h) => hoursFrom(t.clock, h)), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), hostile),
    site: fc.oneof(fc.constantFrom('valence-rovaltain', 'marseille', 'grand-est', 'marseille,grand-est', 'nowhere'), hostile),
    maxPricePerGpuHour: fc.oneof(int(-5, 1000), fc.double().map(String), hostile),
    sort: fc.oneof(fc.constantFrom('price', 'start'), hostile),
    limit: fc.oneof(int(-1, 60), hostile),
  };
  const query = fc.record(value, { requiredKeys: [] });

  it('never answers 5xx; every 4xx is problem+json naming a parameter', async () => {
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const res = await get(q);
        expect(res.status, `${JSON.stringify(q)} → ${res.text}`).toBeLessThan(500);
        if (res.status === 200) {
          expect(Array.isArray(res.body.data)).toBe(true);
          for (const o of res.body.data) expect(o.total.amount).toBe(o.lines.reduce((s: number, l: { amount: { amount: number } }) => s + l.amount.amount, 0));
          return;
        }
        expect([400, 422]).toContain(res.status);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(res.body.errors.length).toBeGreaterThan(0);
        for (const e of res.body.errors) expect(FIELDS).toContain(e.path);
      }),
      { numRuns: 150, seed: 20261201 },
    );
  });
});
