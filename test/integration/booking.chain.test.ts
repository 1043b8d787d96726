/**
 * Several requests of one org in one group commit (issue 14): an org's later holds are checked as if
 * its earlier ones had committed, and their spend record and hold ledger merge into one write each.
 * The limits and the budget must still count every hold exactly once: as many pass as would pass one
 * after another, and the records add up — on DynamoDB Local and with DynamoDB's conflict semantics.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/app.ts';
import { CONFLICT_MODES } from '../support/transaction-conflicts.ts';
import { addOrg } from './billing.fixtures.ts';
import { budget, eur, quote, setBudget } from './budgets.fixtures.ts';

describe.each(CONFLICT_MODES)('one org rushing its own holds, $name', ({ wrap }) => {
  let t: TestContext;
  const transactions: number[] = [];
  beforeAll(async () => {
    const count = (doc: DynamoDBDocumentClient): DynamoDBDocumentClient =>
      new Proxy(doc, {
        get(target, prop, receiver) {
          if (prop !== 'send') return Reflect.get(target, prop, receiver);
          return (command: { constructor: { name: string }; input: { TransactItems?: unknown[] } }, ...rest: unknown[]) => {
            if (command.constructor.name === 'TransactWriteCommand') transactions.push(command.input.TransactItems?.length ?? 0);
            return (target.send as (...a: unknown[]) => Promise<unknown>).call(target, command, ...rest);
          };
        },
      });
    t = await createTestContext({ wrapDoc: (doc) => count(wrap ? wrap(doc) : doc) });
  });
  afterAll(() => t.close());

  it('holds up to its open-holds limit exactly, in fewer transactions than holds, the ledger counting each once', async () => {
    const { org, key } = await addOrg(t, { country: 'FR' });
    expect((await t.call('PUT', `/v1/orgs/${org.id}/limits`, { key: t.keys.operator, body: { openHolds: 7, sameWindowHoldsPerHour: 100, heldGpusPercent: 100 } })).status).toBe(200);
    const quotes = await Promise.all(Array.from({ length: 12 }, (_, i) => quote(t, key, { startIn: 48 + 2 * i, hours: 2 })));
    transactions.length = 0;
    const holds = await Promise.all(quotes.map((q) => t.call('POST', '/v1/reservations', { key, body: { quoteId: q.id } })));
    const statuses = holds.map((h) => h.status).sort();
    expect(statuses.filter((s) => s === 201), JSON.stringify(holds.filter((h) => h.status !== 201 && h.status !== 409).map((h) => h.body))).toHaveLength(7);
    expect(statuses.filter((s) => s === 409)).toHaveLength(5);
    for (const h of holds.filter((x) => x.status === 409)) expect(h.body.type).toMatch(/hold-limit$/);
    // Grouped: the seven holds did not need seven transactions of their own.
    expect(transactions.filter((n) => n > 0).length).toBeLessThan(7);
    const limits = (await t.call('GET', '/v1/limits', { key })).body.data as { name: string; used: number }[];
    expect(limits.find((l) => l.name === 'open-holds')?.used).toBe(7);
    // Confirming one frees a place in the ledger: exactly one more hold passes.
    const held = holds.filter((h) => h.status === 201);
    expect((await t.call('POST', `/v1/reservations/${held[0]!.body.id}/confirm`, { key })).status).toBe(200);
    const more = await Promise.all([quote(t, key, { startIn: 200, hours: 1 }), quote(t, key, { startIn: 202, hours: 1 })]);
    const again = await Promise.all(more.map((q) => t.call('POST', '/v1/reservations', { key, body: { quoteId: q.id } })));
    expect(again.map((h) => h.status).sort()).toEqual([201, 409]);
  });

  it('holds within its budget exactly: the spend record sums every hold of the group', async () => {
    const { key } = await addOrg(t, { country: 'FR' });
    const quotes = await Promise.all(Array.from({ length: 9 }, (_, i) => quote(t, key, { startIn: 400 + 3 * i, hours: 3 })));
    const price = quotes[0]!.total.amount;
    expect(quotes.every((q) => q.total.amount === price)).toBe(true);
    await setBudget(t, key, { monthlyLimit: eur(5 * price + Math.floor(price / 2)), alertThresholdsPct: [100], enforce: true, stopOnDemandAtLimit: false });
    const holds = await Promise.all(quotes.map((q) => t.call('POST', '/v1/reservations', { key, body: { quoteId: q.id } })));
    expect(holds.filter((h) => h.status === 201)).toHaveLength(5);
    expect(holds.filter((h) => h.status === 402)).toHaveLength(4);
    const figures = await budget(t, key);
    expect(figures.breakdown.held.amount).toBe(5 * price);
    expect(figures.committed.amount).toBe(5 * price);
  });
});
