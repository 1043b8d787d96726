/**
 * Invariant 6: an event id is counted once, under resends, concurrency and failures at any point
 * of the write. The claim on an id and the counting of the event commit together or not at all.
 */
import { PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meteringModule } from '../../shared/http/modules.ts';
import { DEFAULT_TRANSACTION_CONCURRENCY, createMeteringService } from '../../shared/services/metering.ts';
import { DEMO_PRINCIPALS } from '../../shared/store/seed.ts';
import type { RetryPolicy } from '../../shared/store/retry.ts';
import { existingClaims, getClaim } from '../../shared/store/usage-claims.ts';
import { usageByHour } from '../../shared/store/usage.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { seededRandom, withFaults, type FaultKind } from '../support/faults.ts';
import { minuteEvents, postUsage, startOnDemand, type UsageEvent } from './usage.fixtures.ts';

// Bounded by the number of retries (the faults are injected per call); the time budget only stops a
// runaway loop, so a slow machine (CI with other test files running) cannot turn a retry into a 503.
const FAST_RETRY: RetryPolicy = { retries: 6, minTimeoutMs: 1, maxTimeoutMs: 10, maxRetryTimeMs: 30_000 };
const DAY_START = '2026-11-24T00:00:00Z';
const hourOf = (iso: string) => Math.floor(Date.parse(iso) / 3_600_000);

/** Faults are armed per test; call indices count from the arming. */
let pickFault: (call: number) => FaultKind | null = () => null;
let faultStats: ReturnType<typeof withFaults>['stats'] | undefined;
/** Simulates DynamoDB having forgotten a ClientRequestToken (it keeps them 10 minutes). */
let forgetTokens = false;

function arm(pick: (call: number) => FaultKind | null) {
  const base = faultStats!.calls;
  pickFault = (i) => pick(i - base);
}
const disarm = () => {
  pickFault = () => null;
  forgetTokens = false;
};

function wrapDoc(doc: DynamoDBDocumentClient): DynamoDBDocumentClient {
  const forgetful = new Proxy(doc, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return (command: { constructor: { name: string }; input: Record<string, unknown> }, ...rest: unknown[]) => {
        if (forgetTokens && command.constructor.name === 'TransactWriteCommand') delete command.input.ClientRequestToken;
        return (target.send as (...a: unknown[]) => Promise<unknown>).call(target, command, ...rest);
      };
    },
  });
  const faulty = withFaults(forgetful, { commands: ['TransactWriteCommand'], pick: (i) => pickFault(i) });
  faultStats = faulty.stats;
  return faulty.doc;
}

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ modules: [meteringModule], meteringRetry: FAST_RETRY, wrapDoc, start: DAY_START });
});
afterAll(() => t.close());

/** A fresh running reservation (before any fault is armed) and the clock moved past `hours` of it. */
async function freshReservation(gpus = 8) {
  t.clock.set(DAY_START);
  const r = await startOnDemand(t, { gpus });
  t.clock.set('2026-11-24T23:00:00Z');
  return r;
}

async function totalOf(reservationId: string): Promise<number> {
  const byHour = await usageByHour(t.db, { kind: 'reservation', id: reservationId }, hourOf(DAY_START), hourOf(DAY_START) + 24);
  return [...byHour.values()].reduce((a, b) => a + b, 0);
}

/** Claim ⇔ counted: the counted GPU-seconds are exactly those of the claimed events. */
async function expectClaimsMatchCounts(reservationId: string, events: UsageEvent[]) {
  const claims = await Promise.all(events.map((e) => getClaim(t.db, e.id)));
  const claimedSeconds = claims.reduce((sum, c) => sum + (c?.gpuSeconds ?? 0), 0);
  expect(await totalOf(reservationId)).toBe(claimedSeconds);
  return claims.filter((c) => c !== null).length;
}

const secondsOf = (events: UsageEvent[]) => events.reduce((s, e) => s + ((Date.parse(e.end) - Date.parse(e.start)) / 1000) * e.gpus, 0);

describe('duplicates', () => {
  it('a resent batch is all duplicates; a half-resent batch counts only the new half', async () => {
    const r = await freshReservation();
    const events = minuteEvents(r.id, '2026-11-24T01:00:00Z', 200);
    expect((await postUsage(t, events)).body).toEqual({ accepted: 200, duplicates: 0, rejected: [] });
    expect((await postUsage(t, events)).body).toEqual({ accepted: 0, duplicates: 200, rejected: [] });
    const more = minuteEvents(r.id, '2026-11-24T05:00:00Z', 100);
    expect((await postUsage(t, [...events.slice(0, 100), ...more])).body).toEqual({ accepted: 100, duplicates: 100, rejected: [] });
    expect(await totalOf(r.id)).toBe(secondsOf([...events, ...more]));
  });

  it('an id already counted is a duplicate even when resent with other content', async () => {
    const r = await freshReservation();
    const [e] = minuteEvents(r.id, '2026-11-24T02:00:00Z', 1);
    await postUsage(t, [e!]);
    expect((await postUsage(t, [{ ...e!, gpus: 4 }])).body).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
    expect(await totalOf(r.id)).toBe(60 * 8);
  });

  it('a resent batch costs at most one cancelled transaction per worker, or none when claims are looked up first', async () => {
    const r = await freshReservation();
    const events = minuteEvents(r.id, '2026-11-24T12:00:00Z', 600);
    expect((await postUsage(t, events)).body.accepted).toBe(600);
    const before = faultStats!.calls;
    expect((await postUsage(t, events)).body).toEqual({ accepted: 0, duplicates: 600, rejected: [] });
    expect(faultStats!.calls - before).toBeLessThanOrEqual(DEFAULT_TRANSACTION_CONCURRENCY);

    const lookingFirst = createMeteringService({ db: t.deps.db, clock: t.clock, duplicateCheck: 'before_commit' });
    const meter = { ...DEMO_PRINCIPALS.meter, keyId: 'key_demo_meter' };
    const more = minuteEvents(r.id, '2026-11-24T22:00:00Z', 50);
    const again = faultStats!.calls;
    expect(await lookingFirst.ingest(meter, [...events, ...more].slice(200))).toEqual({ accepted: 50, duplicates: 400, rejected: [] });
    expect(faultStats!.calls - again).toBe(1);
    expect(await totalOf(r.id)).toBe(secondsOf([...events, ...more]));
  });

  it('20 concurrent identical batches count every event once', async () => {
    const r = await freshReservation();
    const events = minuteEvents(r.id, '2026-11-24T03:00:00Z', 250);
    const results = await Promise.all(Array.from({ length: 20 }, () => postUsage(t, events)));
    expect(results.map((x) => x.status)).toEqual(Array(20).fill(200));
    expect(results.reduce((s, x) => s + x.body.accepted, 0)).toBe(250);
    expect(results.reduce((s, x) => s + x.body.duplicates, 0)).toBe(19 * 250);
    expect(await totalOf(r.id)).toBe(secondsOf(events));
    await expectClaimsMatchCounts(r.id, events);
  });

  it('concurrent overlapping batches count the union once', async () => {
    const r = await freshReservation();
    const events = minuteEvents(r.id, '2026-11-24T06:00:00Z', 400, 8);
    const random = seededRandom(42);
    const batches = Array.from({ length: 12 }, () => events.filter(() => random() < 0.4));
    const union = new Set(batches.flat().map((e) => e.id));
    const results = await Promise.all(batches.map((b) => postUsage(t, b)));
    expect(results.reduce((s, x) => s + x.body.accepted, 0)).toBe(union.size);
    expect(results.reduce((s, x) => s + x.body.accepted + x.body.duplicates, 0)).toBe(batches.reduce((s, b) => s + b.length, 0));
    expect(await totalOf(r.id)).toBe(union.size * 60 * 8);
  });
});

describe('failures between claim and count', () => {
  it('a transaction that times out AFTER it committed is counted once and reported accepted', async () => {
    const r = await freshReservation();
    const events = minuteEvents(r.id, '2026-11-24T01:00:00Z', 150);
    arm((i) => (i === 0 ? 'timeout_after_commit' : null));
    const res = await postUsage(t, events);
    disarm();
    expect(faultStats!.injected.timeout_after_commit).toBeGreaterThan(0);
    expect(res.body).toEqual({ accepted: 150, duplicates: 0, rejected: [] });
    expect(await totalOf(r.id)).toBe(secondsOf(events));
  });

  it('…also when DynamoDB no longer remembers the request token: the claim carries it', async () => {
    const r = await freshReservation();
    const events = minuteEvents(r.id, '2026-11-24T01:00:00Z', 80);
    arm((i) => (i === 0 ? 'timeout_after_commit' : null));
    forgetTokens = true;
    const res = await postUsage(t, events);
    disarm();
    expect(res.body).toEqual({ accepted: 80, duplicates: 0, rejected: [] });
    expect(await totalOf(r.id)).toBe(secondsOf(events));
  });

  it.each<[string, (i: number) => FaultKind | null]>([
    ['TransactionConflictException on the first three calls', (i) => (i < 3 ? 'conflict' : null)],
    ['cancellations for transaction conflicts', (i) => (i % 2 === 0 && i < 6 ? 'canceled_conflict' : null)],
    ['throttling', (i) => (i < 4 ? 'throttle' : null)],
    ['timeouts before the write', (i) => (i < 2 ? 'timeout_before' : null)],
  ])('retries %s and counts every event once', async (_label, pick) => {
    const r = await freshReservation();
    const events = minuteEvents(r.id, '2026-11-24T04:00:00Z', 300);
    arm(pick);
    const res = await postUsage(t, events);
    disarm();
    expect(res.body).toEqual({ accepted: 300, duplicates: 0, rejected: [] });
    expect(await totalOf(r.id)).toBe(secondsOf(events));
    await expectClaimsMatchCounts(r.id, events);
  });

  it('a store failing after N calls answers 503 with no half-counted event; the client resend completes it exactly once', async () => {
    const r = await freshReservation();
    const events = minuteEvents(r.id, '2026-11-24T07:00:00Z', 500);
    arm((i) => (i >= 2 ? 'throttle' : null));
    const failed = await postUsage(t, events);
    disarm();
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('1');
    const claimedAfterFailure = await expectClaimsMatchCounts(r.id, events);
    expect(claimedAfterFailure).toBeGreaterThan(0);
    expect(claimedAfterFailure).toBeLessThan(500);

    const resent = await postUsage(t, events);
    expect(resent.body).toEqual({ accepted: 500 - claimedAfterFailure, duplicates: claimedAfterFailure, rejected: [] });
    expect(await totalOf(r.id)).toBe(secondsOf(events));
    expect(await expectClaimsMatchCounts(r.id, events)).toBe(500);
  });

  it('timeouts after commit on every attempt: 503, then the resend finds every event already counted once', async () => {
    const r = await freshReservation();
    const events = minuteEvents(r.id, '2026-11-24T09:00:00Z', 120);
    arm(() => 'timeout_after_commit');
    const failed = await postUsage(t, events);
    disarm();
    expect(failed.status).toBe(503);
    expect(await expectClaimsMatchCounts(r.id, events)).toBe(120);
    const resent = await postUsage(t, events);
    expect(resent.body).toEqual({ accepted: 0, duplicates: 120, rejected: [] });
    expect(await totalOf(r.id)).toBe(secondsOf(events));
  });

  it('contrast: claiming first and counting after (the known bug) meters a failed event zero times', async () => {
    const r = await freshReservation();
    const [e] = minuteEvents(r.id, '2026-11-24T10:00:00Z', 1, 8, 'naive');
    const naive = withFaults(t.db.doc, { commands: ['UpdateCommand'], pick: (i) => (i === 0 ? 'timeout_before' : null) });
    const claimThenCount = async () => {
      try {
        await naive.doc.send(new PutCommand({ TableName: t.db.table, Item: { pk: `NAIVE#${e!.id}`, sk: 'UEV' }, ConditionExpression: 'attribute_not_exists(pk)' }));
      } catch (error) {
        if ((error as Error).name === 'ConditionalCheckFailedException') return 'duplicate';
        throw error;
      }
      await naive.doc.send(
        new UpdateCommand({ TableName: t.db.table, Key: { pk: `NAIVE#${r.id}`, sk: 'TOTAL' }, UpdateExpression: 'ADD gpuSeconds :s', ExpressionAttributeValues: { ':s': 480 } }),
      );
      return 'counted';
    };
    await expect(claimThenCount()).rejects.toThrow(/timed out/);
    expect(await claimThenCount()).toBe('duplicate');
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const naiveTotal = await t.db.doc.send(new GetCommand({ TableName: t.db.table, Key: { pk: `NAIVE#${r.id}`, sk: 'TOTAL' } }));
    expect(naiveTotal.Item).toBeUndefined();

    // The same failure point for the metering service: the claim and the count are one write.
    arm((i) => (i === 0 ? 'timeout_before' : null));
    const first = await postUsage(t, [e!]);
    disarm();
    expect(first.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    expect(await totalOf(r.id)).toBe(480);
    expect((await existingClaims(t.db, [e!.id])).has(e!.id)).toBe(true);
  });
});
