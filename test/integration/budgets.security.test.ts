import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingTest, type BillingTest } from './billing.fixtures.ts';
import { budget, eur, expectProblem, hold, newOrg, quote, setBudget } from './budgets.fixtures.ts';

let bt: BillingTest;
beforeAll(async () => {
  bt = await createBillingTest({ stripe: false, start: '2026-11-10T10:00:00Z' });
});
afterAll(() => bt.close());

const valid = { monthlyLimit: eur(100_000), alertThresholdsPct: [50, 80, 100], enforce: true, stopOnDemandAtLimit: false };

describe('bad input', () => {
  it('answers 400 problem+json naming the field, and changes nothing', async () => {
    const { t } = bt;
    const { key } = await newOrg(t);
    const cases: [unknown, string][] = [
      [{ ...valid, monthlyLimit: eur(-5) }, 'monthlyLimit.amount'],
      [{ ...valid, monthlyLimit: eur(12.5) }, 'monthlyLimit.amount'],
      [{ ...valid, monthlyLimit: eur(0) }, 'monthlyLimit.amount'],
      [{ ...valid, monthlyLimit: { amount: 100, currency: 'USD' } }, 'monthlyLimit.currency'],
      [{ ...valid, monthlyLimit: 100 }, 'monthlyLimit'],
      [{ ...valid, alertThresholdsPct: [0, 50] }, 'alertThresholdsPct[0]'],
      [{ ...valid, alertThresholdsPct: [50, 101] }, 'alertThresholdsPct[1]'],
      [{ ...valid, alertThresholdsPct: [80, 50] }, 'alertThresholdsPct[1]'],
      [{ ...valid, alertThresholdsPct: [50, 50] }, 'alertThresholdsPct[1]'],
      [{ ...valid, alertThresholdsPct: [50.5] }, 'alertThresholdsPct[0]'],
      [{ ...valid, enforce: 'yes' }, 'enforce'],
      [{ ...valid, surprise: 1 }, 'surprise'],
    ];
    for (const [body, path] of cases) {
      const res = await t.call('PUT', '/v1/budget', { key, body });
      expectProblem(res, 400, 'validation-failed');
      expect(res.body.errors.map((e: { path: string }) => e.path), JSON.stringify(body)).toContain(path);
    }
    expectProblem(await t.call('GET', '/v1/budget', { key }), 404, 'not-found');
    expectProblem(await t.call('GET', '/v1/budget?period=2026-13', { key }), 400, 'validation-failed');
    const patch = await t.call('PATCH', `/v1/api-keys/key_${'x'}`, { key, body: { monthlySpendLimit: eur(-1) } });
    expectProblem(patch, 400, 'validation-failed');
    expect(patch.body.errors[0].path).toBe('monthlySpendLimit.amount');
  });
});

describe('roles and tenants', () => {
  it('lets members read the budget but not set it, nor manage keys; admins manage their own org’s keys only', async () => {
    const { t } = bt;
    const mine = await newOrg(t);
    const theirs = await newOrg(t);
    await setBudget(t, mine.key, valid);
    const issued = await t.call('POST', '/v1/api-keys', { key: mine.key, body: { role: 'customer', orgRole: 'member' } });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    expect(issued.body).toMatchObject({ role: 'customer', orgId: mine.orgId, orgRole: 'member', key: expect.stringMatching(/^gm_live_/) });
    const member = issued.body.key as string;

    expect((await budget(t, member)).spent).toEqual(eur(0));
    expectProblem(await t.call('PUT', '/v1/budget', { key: member, body: valid }), 403, 'forbidden');
    expectProblem(await t.call('DELETE', '/v1/budget', { key: member }), 403, 'forbidden');
    expectProblem(await t.call('GET', '/v1/api-keys', { key: member }), 403, 'forbidden');
    expectProblem(await t.call('POST', '/v1/api-keys', { key: member, body: { role: 'customer' } }), 403, 'forbidden');
    expectProblem(await t.call('PATCH', `/v1/api-keys/${issued.body.id}`, { key: member, body: { monthlySpendLimit: null } }), 403, 'forbidden');
    for (const role of ['finance', 'operator', 'meter']) {
      expectProblem(await t.call('POST', '/v1/api-keys', { key: mine.key, body: { role } }), 403, 'forbidden');
    }
    expectProblem(await t.call('POST', '/v1/api-keys', { key: mine.key, body: { role: 'customer', orgId: theirs.orgId } }), 404, 'not-found');
    for (const role of ['finance', 'meter'] as const) expectProblem(await t.call('GET', '/v1/budget', { key: t.keys[role] }), 403, 'forbidden');

    const listed = await t.call('GET', '/v1/api-keys', { key: mine.key });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((k: { id: string }) => k.id)).toEqual(expect.arrayContaining([issued.body.id]));
    expect(listed.body.data.every((k: { orgId: string; key?: string }) => k.orgId === mine.orgId && k.key === undefined)).toBe(true);
    expectProblem(await t.call('GET', `/v1/api-keys?orgId=${theirs.orgId}`, { key: mine.key }), 404, 'not-found');

    // Another org's admin: 404 on our key, nothing changes.
    expectProblem(await t.call('PATCH', `/v1/api-keys/${issued.body.id}`, { key: theirs.key, body: { monthlySpendLimit: eur(1) } }), 404, 'not-found');
    expectProblem(await t.call('DELETE', `/v1/api-keys/${issued.body.id}`, { key: theirs.key }), 404, 'not-found');
    expectProblem(await t.call('GET', '/v1/budget', { key: theirs.key }), 404, 'not-found');
    expect((await t.call('GET', '/v1/reservations', { key: member })).status).toBe(200);

    // Operators keep their powers: list any org's keys, set limits, revoke.
    const byOperator = await t.call('GET', `/v1/api-keys?orgId=${mine.orgId}`, { key: t.keys.operator });
    expect(byOperator.body.data.map((k: { id: string }) => k.id)).toContain(issued.body.id);
    expectProblem(await t.call('GET', '/v1/api-keys', { key: t.keys.operator }), 400, 'validation-failed');
    const limited = await t.call('PATCH', `/v1/api-keys/${issued.body.id}`, { key: t.keys.operator, body: { monthlySpendLimit: eur(7) } });
    expect(limited.body.monthlySpendLimit).toEqual(eur(7));

    expect((await t.call('DELETE', `/v1/api-keys/${issued.body.id}`, { key: mine.key })).status).toBe(204);
    expectProblem(await t.call('GET', '/v1/budget', { key: member }), 401, 'unauthenticated');
  });

  it('enforces a key’s monthly limit on the bookings made with it', async () => {
    const { t } = bt;
    const { key } = await newOrg(t);
    const member = (await t.call('POST', '/v1/api-keys', { key, body: { role: 'customer' } })).body;
    const [q1, q2, q3] = await Promise.all([quote(t, member.key), quote(t, member.key), quote(t, key)]);
    const price = q1!.total.amount;
    const patched = await t.call('PATCH', `/v1/api-keys/${member.id}`, { key, body: { monthlySpendLimit: eur(price + 1) } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({ id: member.id, orgRole: 'member', monthlySpendLimit: eur(price + 1), monthToDate: { spent: eur(0), committed: eur(0) } });
    expect((await hold(t, member.key, q1!.id)).status).toBe(201);
    const refused = await hold(t, member.key, q2!.id);
    expectProblem(refused, 402, 'budget-exceeded');
    expect(refused.body).toMatchObject({ limit: eur(price + 1), amount: eur(price), remaining: eur(1) });
    expect(refused.body.errors[0].path).toBe('apiKey.monthlySpendLimit');
    // The admin's own key has no limit (and the org no budget): it books.
    expect((await hold(t, key, q3!.id)).status).toBe(201);
    const keys = (await t.call('GET', '/v1/api-keys', { key })).body.data as { id: string; monthToDate: { committed: { amount: number } } }[];
    expect(keys.find((k) => k.id === member.id)?.monthToDate.committed).toEqual(eur(price));
    // Cleared: the member books again.
    expect((await t.call('PATCH', `/v1/api-keys/${member.id}`, { key, body: { monthlySpendLimit: null } })).body.monthlySpendLimit).toBeNull();
    expect((await hold(t, member.key, q2!.id)).status).toBe(201);
  });
});
