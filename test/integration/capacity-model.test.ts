/**
 * Model-based test of the booking core (SPEC invariants 1 and 4): random sequences of hold,
 * confirm, extend, cancel, hold expiry (clock + sweeper), on-demand start and stop, by two orgs on a
 * four-node pool so capacity runs out often. A small model predicts every answer (success, 404 for
 * the other org's reservation, 409, 422) and the free GPUs of every hour; after EVERY step the API's
 * availability must equal the model's, and after every run the table is audited for overbooking,
 * leaked capacity and events.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eur } from '../../shared/domain/money.ts';
import { defaultPriceBook } from '../../shared/domain/pricing.ts';
import { sweepDueReservations } from '../../shared/services/sweeper.ts';
import { putPool, putSite } from '../../shared/store/catalog.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { assertEventsExactlyOnce, assertNeverOverbooked, scanAll } from '../support/invariants.ts';
import { CONFLICT_MODES } from '../support/transaction-conflicts.ts';

const HOUR = 3_600_000;
const NODE = 8;
const CAPACITY = 4 * NODE;
/** The hours the model looks at: bookings live in [base, base + HOURS). */
const HOURS = 12;
const HOLD_MS = 15 * 60_000;

describe.each(CONFLICT_MODES)('$name', ({ wrap }) => {
  let t: TestContext;
  let orgKeys: [string, string];
  beforeAll(async () => {
    t = await createTestContext(wrap ? { wrapDoc: wrap } : {});
    orgKeys = [t.keys.customer, t.keys.customer2];
  });
  afterAll(() => t.close());

  type Org = 0 | 1;
  type Status = 'held' | 'confirmed' | 'expired' | 'cancelled' | 'active' | 'stopped';
  interface ModelReservation {
    id: string;
    org: Org;
    kind: 'reserved' | 'on_demand';
    status: Status;
    start: number;
    end: number;
    gpus: number;
    holdExpiresAt: number;
  }
  interface Model {
    now: number;
    reservations: ModelReservation[];
  }

  const occupying = (r: ModelReservation) => r.kind === 'reserved' && (r.status === 'held' || r.status === 'confirmed');
  const onDemandGpus = (m: Model) => m.reservations.filter((r) => r.kind === 'on_demand' && r.status === 'active').reduce((s, r) => s + r.gpus, 0);
  const usedAt = (m: Model, h: number) => m.reservations.filter((r) => occupying(r) && r.start <= h && h < r.end).reduce((s, r) => s + r.gpus, 0);
  const freeAt = (m: Model, h: number) => CAPACITY - usedAt(m, h) - onDemandGpus(m);
  const freeOver = (m: Model, from: number, to: number) => Math.min(...Array.from({ length: to - from }, (_, i) => freeAt(m, from + i)));
  const holdAlive = (m: Model, r: ModelReservation) => r.status === 'held' && m.now < r.holdExpiresAt;

  type Command =
    | { op: 'hold'; org: Org; start: number; hours: number; nodes: number }
    | { op: 'confirm' | 'cancel' | 'stop'; org: Org; pick: number; foreign: boolean }
    | { op: 'extend'; org: Org; pick: number; foreign: boolean; extra: number }
    | { op: 'onDemand'; org: Org; nodes: number }
    | { op: 'tick'; minutes: number }
    | { op: 'expire' };

  const org = fc.constantFrom<Org>(0, 1);
  /** One action in five targets the other org's reservations, which must answer 404 and change nothing. */
  const foreign = fc.integer({ min: 0, max: 4 }).map((n) => n === 0);
  const command: fc.Arbitrary<Command> = fc.oneof(
    { arbitrary: fc.record({ op: fc.constant('hold' as const), org, start: fc.integer({ min: 0, max: HOURS - 2 }), hours: fc.integer({ min: 1, max: 6 }), nodes: fc.integer({ min: 1, max: 3 }) }), weight: 5 },
    { arbitrary: fc.record({ op: fc.constantFrom('confirm' as const, 'cancel' as const, 'stop' as const), org, pick: fc.nat(50), foreign }), weight: 4 },
    { arbitrary: fc.record({ op: fc.constant('extend' as const), org, pick: fc.nat(50), foreign, extra: fc.integer({ min: 0, max: 4 }) }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('onDemand' as const), org, nodes: fc.integer({ min: 1, max: 2 }) }), weight: 1 },
    { arbitrary: fc.record({ op: fc.constant('tick' as const), minutes: fc.integer({ min: 1, max: 10 }) }), weight: 1 },
    { arbitrary: fc.constant({ op: 'expire' as const }), weight: 1 },
  );

  let runNumber = 0;
  /** What the runs exercised, printed at the end so a reader can see the model was not idle. */
  const seen = new Map<string, number>();
  const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);

  /** A fresh four-node pool at a fresh site for each run, so runs do not see each other's bookings. */
  async function freshPool(): Promise<{ site: string; poolId: string }> {
    const site = `model-${runNumber++}`;
    await putSite(t.db, { id: site, name: `Model site ${site}`, city: 'Lyon', country: 'FR', timezone: 'Europe/Paris', powerMw: 1, cooling: 'air', status: 'active', opensAt: '2025-01-01T00:00:00Z', pue: 1.2, gridCarbonGramsPerKwh: 50, heatReuseFraction: 0 });
    const poolId = `${site}-h100`;
    await putPool(t.db, {
      id: poolId,
      site,
      gpuType: 'h100-sxm-80gb',
      totalGpus: CAPACITY,
      gpusPerNode: NODE,
      minGpus: NODE,
      stepGpus: NODE,
      onDemandRate: eur(249),
      priceBook: defaultPriceBook(199),
      bookableFrom: '2025-01-01T00:00:00Z',
    });
    t.deps.catalog.invalidate();
    return { site, poolId };
  }

  async function runCommands(commands: Command[]) {
    const { site, poolId } = await freshPool();
    const base = Math.floor(t.clock().getTime() / HOUR) * HOUR + 48 * HOUR;
    const at = (h: number) => new Date(base + h * HOUR).toISOString();
    const m: Model = { now: t.clock().getTime(), reservations: [] };
    const log: string[] = [];
    const fail = (message: string) => {
      throw new Error(`${message}\nsteps:\n${log.join('\n')}`);
    };
    const expectStatus = (what: string, actual: { status: number; body: unknown }, expected: number, problemType?: string) => {
      count(`${what.split(' ')[0]} ${expected}`);
      if (actual.status !== expected) fail(`${what}: expected ${expected}, got ${actual.status} ${JSON.stringify(actual.body)}`);
      if (problemType && !String((actual.body as { type?: string }).type).endsWith(problemType)) fail(`${what}: expected ${problemType}, got ${JSON.stringify(actual.body)}`);
    };

    for (const c of commands) {
      const candidates = 'pick' in c ? m.reservations.filter((r) => (r.org === c.org) !== c.foreign) : [];
      const pick = 'pick' in c && candidates.length > 0 ? candidates[c.pick % candidates.length] : undefined;
      log.push(`${JSON.stringify(c)}${pick ? ` -> ${pick.kind} ${pick.status} of org ${pick.org} [${pick.start},${pick.end})` : ''}`);
      switch (c.op) {
        case 'hold': {
          const end = Math.min(HOURS, c.start + c.hours);
          const gpus = c.nodes * NODE;
          const fits = freeOver(m, c.start, end) >= gpus;
          const key = orgKeys[c.org];
          const q = await t.call('POST', '/v1/quotes', { key, body: { site, gpuType: 'h100-sxm-80gb', gpus, start: at(c.start), end: at(end) } });
          if (!fits) {
            expectStatus('quote', q, 409, '/capacity-unavailable');
            break;
          }
          expectStatus('quote', q, 201);
          const r = await t.call('POST', '/v1/reservations', { key, body: { quoteId: q.body.id } });
          expectStatus('hold', r, 201);
          m.reservations.push({ id: r.body.id, org: c.org, kind: 'reserved', status: 'held', start: c.start, end, gpus, holdExpiresAt: m.now + HOLD_MS });
          break;
        }
        case 'onDemand': {
          const gpus = c.nodes * NODE;
          const fits = CAPACITY - onDemandGpus(m) - Math.max(0, ...Array.from({ length: HOURS }, (_, h) => usedAt(m, h))) >= gpus;
          const r = await t.call('POST', '/v1/reservations', { key: orgKeys[c.org], body: { kind: 'on_demand', site, gpuType: 'h100-sxm-80gb', gpus } });
          if (!fits) {
            expectStatus('on-demand start', r, 409, '/capacity-unavailable');
            break;
          }
          expectStatus('on-demand start', r, 201);
          m.reservations.push({ id: r.body.id, org: c.org, kind: 'on_demand', status: 'active', start: 0, end: HOURS, gpus, holdExpiresAt: 0 });
          break;
        }
        case 'confirm':
        case 'cancel':
        case 'stop':
        case 'extend': {
          if (!pick) break;
          const key = orgKeys[c.org];
          const path = `/v1/reservations/${pick.id}/${c.op}`;
          if (c.foreign) {
            const body = c.op === 'extend' ? { end: at(Math.min(HOURS, pick.end + 1)) } : undefined;
            expectStatus(`${c.op} of the other org's reservation`, await t.call('POST', path, { key, ...(body ? { body } : {}) }), 404, '/not-found');
            break;
          }
          if (c.op === 'confirm') {
            const res = await t.call('POST', path, { key });
            if (pick.kind === 'reserved' && holdAlive(m, pick)) {
              expectStatus('confirm', res, 200);
              pick.status = 'confirmed';
            } else expectStatus('confirm', res, 409, '/invalid-state');
          } else if (c.op === 'cancel') {
            const res = await t.call('POST', path, { key });
            if (pick.kind === 'reserved' && (pick.status === 'held' || pick.status === 'confirmed')) {
              expectStatus('cancel', res, 200);
              pick.status = 'cancelled';
            } else expectStatus('cancel', res, 409, '/invalid-state');
          } else if (c.op === 'stop') {
            const res = await t.call('POST', path, { key });
            if (pick.kind === 'on_demand' && pick.status === 'active') {
              expectStatus('stop', res, 200);
              pick.status = 'stopped';
            } else expectStatus('stop', res, 409, '/invalid-state');
          } else if (c.op === 'extend') {
            const newEnd = Math.min(HOURS, pick.end + c.extra);
            const res = await t.call('POST', path, { key, body: { end: at(newEnd) } });
            const extendable = pick.kind === 'reserved' && (holdAlive(m, pick) || pick.status === 'confirmed');
            if (!extendable) expectStatus('extend', res, 409, '/invalid-state');
            else if (newEnd <= pick.end) expectStatus('extend to the current end', res, 422, '/unprocessable');
            else if (freeOver(m, pick.end, newEnd) < pick.gpus) expectStatus('extend', res, 409, '/capacity-unavailable');
            else {
              expectStatus('extend', res, 200);
              pick.end = newEnd;
            }
          }
          break;
        }
        case 'tick':
          t.clock.advance(c.minutes * 60_000);
          m.now += c.minutes * 60_000;
          break;
        case 'expire': {
          t.clock.advance(HOLD_MS + 60_000);
          m.now += HOLD_MS + 60_000;
          await sweepDueReservations({ db: t.deps.db, clock: t.clock, booking: t.deps.booking });
          for (const r of m.reservations) if (r.status === 'held' && r.holdExpiresAt <= m.now) r.status = 'expired';
          break;
        }
      }

      const a = await t.call('GET', `/v1/availability?site=${site}&gpuType=h100-sxm-80gb&start=${at(0)}&end=${at(HOURS)}`);
      expectStatus('availability', a, 200);
      const api = (a.body.pools[0].slots as { available: number }[]).map((s) => s.available);
      const model = Array.from({ length: HOURS }, (_, h) => freeAt(m, h));
      if (JSON.stringify(api) !== JSON.stringify(model)) fail(`availability ${JSON.stringify(api)} but the model says ${JSON.stringify(model)}`);
    }

    for (const o of [0, 1] as const) {
      const list = await t.call('GET', '/v1/reservations?limit=200', { key: orgKeys[o] });
      const statuses = new Map((list.body.data as { id: string; status: string }[]).map((r) => [r.id, r.status]));
      for (const r of m.reservations.filter((x) => x.org === o)) {
        if (statuses.get(r.id) !== r.status) fail(`${r.id} is ${statuses.get(r.id)} but the model says ${r.status}`);
      }
    }
    const items = await scanAll(t.db);
    await assertNeverOverbooked(t.db, poolId, items);
    await assertEventsExactlyOnce(t.db, items);
  }

  describe('booking core against a model', () => {
    it('agrees with the model after every step of random hold/confirm/extend/cancel/expire/on-demand sequences', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 8, maxLength: 20 }), (commands) => runCommands(commands)),
        { numRuns: 20, endOnFailure: true },
      );
      const steps = [...seen.entries()].filter(([k]) => k.startsWith('availability')).reduce((s, [, n]) => s + n, 0);
      console.log(`[model] runs: ${runNumber}, steps checked against the model: ${steps}, outcomes: ${[...seen.entries()].filter(([k]) => !k.startsWith('availability')).map(([k, n]) => `${k}: ${n}`).join(', ')}`);
      expect(seen.get('quote 409')).toBeGreaterThan(0);
      expect(seen.get('confirm 200')).toBeGreaterThan(0);
    }, 180_000);
  });

  describe('a hold whose 15 minutes are up', () => {
    it('can be neither confirmed nor extended before the sweeper expires it, and the sweeper then frees all its hours', async () => {
      const { site } = await freshPool();
      const base = Math.floor(t.clock().getTime() / HOUR) * HOUR + 48 * HOUR;
      const at = (h: number) => new Date(base + h * HOUR).toISOString();
      const q = await t.call('POST', '/v1/quotes', { body: { site, gpuType: 'h100-sxm-80gb', gpus: NODE, start: at(0), end: at(2) } });
      const held = await t.call('POST', '/v1/reservations', { body: { quoteId: q.body.id } });
      expect(held.status).toBe(201);
      t.clock.advance(HOLD_MS);
      const extended = await t.call('POST', `/v1/reservations/${held.body.id}/extend`, { body: { end: at(4) } });
      expect(extended.status).toBe(409);
      expect(extended.body.type).toMatch(/invalid-state$/);
      expect((await t.call('POST', `/v1/reservations/${held.body.id}/confirm`)).status).toBe(409);
      await sweepDueReservations({ db: t.deps.db, clock: t.clock, booking: t.deps.booking });
      expect((await t.call('GET', `/v1/reservations/${held.body.id}`)).body).toMatchObject({ status: 'expired', end: at(2) });
      const a = await t.call('GET', `/v1/availability?site=${site}&gpuType=h100-sxm-80gb&start=${at(0)}&end=${at(HOURS)}`);
      expect(a.body.pools[0].minAvailable).toBe(CAPACITY);
    });
  });
});
