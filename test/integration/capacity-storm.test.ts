/**
 * SPEC invariant 1 under a storm: hundreds of bookers from many orgs race, through the HTTP API,
 * for the last nodes of a pool. Exactly the free capacity is sold, every loser hears 409
 * capacity-unavailable (never a 5xx), and the recomputation from all reservations agrees with the
 * capacity buckets hour by hour.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { seededRandom } from '../support/faults.ts';
import { addCustomerOrgs, assertEventsExactlyOnce, assertNeverOverbooked, scanAll } from '../support/invariants.ts';
import { CONFLICT_MODES } from '../support/transaction-conflicts.ts';

const BOOKERS = 120;
/** The mixed storm is smaller so the file stays within a minute on DynamoDB Local. */
const MIXED_BOOKERS = 100;
const NODE = 8;

/**
 * DynamoDB Local serves ~200 reads and ~60 transactions a second on a small machine, so 120 racing
 * bookers keep it busy for seconds: the retry budget is in attempts and minutes here, not in the
 * production 15 s, so that a 503 would mean live-lock rather than a slow emulator.
 */
const STORM_RETRY = { retries: 1000, minTimeoutMs: 50, maxTimeoutMs: 2000, maxRetryTimeMs: 120_000 };
const STORM_TIMEOUT_MS = 120_000;

describe.each(CONFLICT_MODES)('$name', ({ wrap }) => {
  let t: TestContext;
  let bookerKeys: string[];

  beforeAll(async () => {
    t = await createTestContext({ retry: STORM_RETRY, ...(wrap ? { wrapDoc: wrap } : {}) });
    const extra = await addCustomerOrgs(t.db, 10, t.clock());
    const orgKeys = [t.keys.customer, t.keys.customer2, ...extra.map((o) => o.key)];
    bookerKeys = Array.from({ length: BOOKERS }, (_, i) => orgKeys[i % orgKeys.length]!);
  });
  afterAll(() => t.close());

  type Outcome = { kind: 'booked'; id: string } | { kind: 'refused'; status: number; type: string; at: 'quote' | 'hold' | 'start' };

  async function quoteAndHold(key: string, body: { site: string; gpuType: string; gpus: number; start: string; end: string }): Promise<Outcome> {
    const q = await t.call('POST', '/v1/quotes', { key, body });
    if (q.status !== 201) return { kind: 'refused', status: q.status, type: String(q.body?.type), at: 'quote' };
    const r = await t.call('POST', '/v1/reservations', { key, body: { quoteId: q.body.id } });
    if (r.status !== 201) return { kind: 'refused', status: r.status, type: String(r.body?.type), at: 'hold' };
    return { kind: 'booked', id: r.body.id };
  }

  async function startOnDemand(key: string, site: string, gpuType: string): Promise<Outcome> {
    const r = await t.call('POST', '/v1/reservations', { key, body: { kind: 'on_demand', site, gpuType, gpus: NODE } });
    if (r.status !== 201) return { kind: 'refused', status: r.status, type: String(r.body?.type), at: 'start' };
    return { kind: 'booked', id: r.body.id };
  }

  /** Fills a pool in [start, end) so that only `leaveNodes` nodes stay free, with a confirmed booking of customer2. */
  async function prefill(site: string, gpuType: string, capacity: number, leaveNodes: number, start: string, end: string) {
    const q = await t.call('POST', '/v1/quotes', { key: t.keys.customer2, body: { site, gpuType, gpus: capacity - leaveNodes * NODE, start, end } });
    expect(q.status).toBe(201);
    const r = await t.call('POST', '/v1/reservations', { key: t.keys.customer2, body: { quoteId: q.body.id } });
    expect(r.status).toBe(201);
    expect((await t.call('POST', `/v1/reservations/${r.body.id}/confirm`, { key: t.keys.customer2 })).status).toBe(200);
  }

  const minAvailable = async (site: string, gpuType: string, start: string, end: string): Promise<number> => {
    const a = await t.call('GET', `/v1/availability?site=${site}&gpuType=${gpuType}&start=${start}&end=${end}`);
    expect(a.status).toBe(200);
    return a.body.pools[0].minAvailable;
  };

  function expectOnlyCapacityRefusals(outcomes: Outcome[]) {
    const refused = outcomes.filter((o): o is Extract<Outcome, { kind: 'refused' }> => o.kind === 'refused');
    const unexpected = refused.filter((o) => o.status !== 409 || !o.type.endsWith('/capacity-unavailable'));
    expect(unexpected, 'every loser hears 409 capacity-unavailable').toEqual([]);
    return refused;
  }

  describe('storm on the last nodes of a pool', () => {
    it(`${BOOKERS} bookers from 12 orgs race for the last 3 nodes of marseille-b200 in the same window`, async () => {
      const start = hoursFrom(t.clock, 24 * 20);
      const end = hoursFrom(t.clock, 24 * 20 + 48);
      await prefill('marseille', 'b200-sxm-192gb', 128, 3, start, end);
      expect(await minAvailable('marseille', 'b200-sxm-192gb', start, end)).toBe(24);

      const began = performance.now();
      const outcomes = await Promise.all(bookerKeys.map((key) => quoteAndHold(key, { site: 'marseille', gpuType: 'b200-sxm-192gb', gpus: NODE, start, end })));
      const ms = Math.round(performance.now() - began);

      const booked = outcomes.filter((o) => o.kind === 'booked');
      const refused = expectOnlyCapacityRefusals(outcomes);
      expect(booked).toHaveLength(3);
      expect(refused).toHaveLength(BOOKERS - 3);
      expect(await minAvailable('marseille', 'b200-sxm-192gb', start, end)).toBe(0);
      const items = await scanAll(t.db);
      const audit = await assertNeverOverbooked(t.db, 'marseille-b200', items);
      await assertEventsExactlyOnce(t.db, items);
      expect(audit.peakOccupied).toBe(128);
      console.log(
        `[storm same window] bookers: ${BOOKERS} from 12 orgs, GPUs booked: ${booked.length * NODE} of ${24} free (pool capacity 128, peak occupied ${audit.peakOccupied}), ` +
          `successes: ${booked.length}, refused 409: ${refused.length} (${refused.filter((o) => o.at === 'quote').length} at quote, ${refused.filter((o) => o.at === 'hold').length} at hold), ` +
          `5xx: 0, overbooked hours: ${audit.overbookedHours}, leaked hours: ${audit.leakedHours}, duration: ${ms} ms`,
      );
    }, STORM_TIMEOUT_MS);

    it(`${MIXED_BOOKERS} bookers mixing on-demand starts with reserved holds over overlapping windows across a bucket boundary sell only free hours and refuse only what is full`, async () => {
      const site = 'valence-rovaltain';
      const gpuType = 'b200-sxm-192gb';
      const rangeStart = hoursFrom(t.clock, 24 * 10);
      const rangeHours = 24 * 14;
      const rangeEnd = hoursFrom(t.clock, 24 * 10 + rangeHours);
      await prefill(site, gpuType, 256, 3, rangeStart, rangeEnd);
      const random = seededRandom(20261124);
      const onDemand = (i: number) => i % 4 === 0;
      const windows = Array.from({ length: MIXED_BOOKERS }, () => {
        const length = 1 + Math.floor(random() * 24 * 5);
        const offset = Math.floor(random() * (rangeHours - length));
        return { start: hoursFrom(t.clock, 24 * 10 + offset), end: hoursFrom(t.clock, 24 * 10 + offset + length), offset, hours: length };
      });

      const began = performance.now();
      const outcomes = await Promise.all(
        windows.map((w, i) => (onDemand(i) ? startOnDemand(bookerKeys[i]!, site, gpuType) : quoteAndHold(bookerKeys[i]!, { site, gpuType, gpus: NODE, start: w.start, end: w.end }))),
      );
      const ms = Math.round(performance.now() - began);

      const refused = expectOnlyCapacityRefusals(outcomes);
      const booked = outcomes.filter((o) => o.kind === 'booked');
      const onDemandWins = outcomes.filter((o, i) => o.kind === 'booked' && onDemand(i)).length;
      expect(booked.length).toBeGreaterThanOrEqual(3);
      const slots = (await t.call('GET', `/v1/availability?site=${site}&gpuType=${gpuType}&start=${rangeStart}&end=${rangeEnd}`)).body.pools[0].slots as { available: number }[];
      expect(slots).toHaveLength(rangeHours);
      // Capacity only shrinks during the storm, so whatever was refused at some moment must still be full now:
      // a reserved window in one of its hours, an on-demand start in some hour of the horizon.
      const minOver = (from: number, hours: number) => Math.min(...slots.slice(from, from + hours).map((x) => x.available));
      const falseRefusals = windows.filter((w, i) => outcomes[i]!.kind === 'refused' && (onDemand(i) ? minOver(0, rangeHours) : minOver(w.offset, w.hours)) >= NODE);
      expect(falseRefusals, 'requests refused although a node is still free for them').toEqual([]);

      const items = await scanAll(t.db);
      const audit = await assertNeverOverbooked(t.db, `${site}-b200`, items);
      await assertEventsExactlyOnce(t.db, items);
      const gpuHoursBooked = outcomes.reduce((s, o, i) => s + (o.kind === 'booked' ? NODE * (onDemand(i) ? rangeHours : windows[i]!.hours) : 0), 0);
      const freeGpuHoursLeft = slots.reduce((s, x) => s + x.available, 0);
      expect(gpuHoursBooked + freeGpuHoursLeft, 'GPU-hours sold + GPU-hours left = GPU-hours that were free').toBe(3 * NODE * rangeHours);
      expect(audit.onDemandRecomputed).toBe(onDemandWins * NODE);
      console.log(
        `[storm overlapping windows + on-demand] bookers: ${MIXED_BOOKERS} (${MIXED_BOOKERS / 4} on-demand), windows 1-120 h over 14 days crossing a bucket boundary, ` +
          `successes: ${booked.length} (${onDemandWins} on-demand), refused 409: ${refused.length}, GPU-hours booked: ${gpuHoursBooked} of ${3 * NODE * rangeHours} free ` +
          `(capacity 256 GPUs, peak occupied ${audit.peakOccupied}), false refusals: 0, 5xx: 0, overbooked hours: ${audit.overbookedHours}, leaked hours: ${audit.leakedHours}, ` +
          `on-demand counter ${audit.onDemandCounter} = running ${audit.onDemandRecomputed}, duration: ${ms} ms`,
      );
    }, STORM_TIMEOUT_MS);
  });
});
