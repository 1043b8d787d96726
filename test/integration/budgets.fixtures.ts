/** Budgets tests: a fresh org per test on the billing test stack (local gateway), and helpers. */
import { expect } from 'vitest';
import type { TestContext } from '../support/app.ts';
import { hoursFrom } from '../support/app.ts';
import { addOrg, H100, VALENCE } from './billing.fixtures.ts';

export { H100, VALENCE };

export const expectProblem = (res: { status: number; headers: Headers; body: any }, status: number, type: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body).toMatchObject({ status, type: expect.stringMatching(new RegExp(`/${type}$`)), title: expect.any(String), detail: expect.any(String) });
};

export const eur = (amount: number) => ({ amount, currency: 'EUR' as const });

/** A new French org and its admin key. */
export async function newOrg(t: TestContext) {
  const { org, key } = await addOrg(t, { country: 'FR' });
  return { orgId: org.id, key };
}

export async function quote(t: TestContext, key: string, options: { startIn?: number; hours?: number; gpus?: number } = {}) {
  const startIn = options.startIn ?? 24;
  const res = await t.call('POST', '/v1/quotes', {
    key,
    body: { site: VALENCE, gpuType: H100, gpus: options.gpus ?? 8, start: hoursFrom(t.clock, startIn), end: hoursFrom(t.clock, startIn + (options.hours ?? 3)) },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; total: { amount: number }; start: string; end: string };
}

export const hold = (t: TestContext, key: string, quoteId: string) => t.call('POST', '/v1/reservations', { key, body: { quoteId } });

export async function setBudget(t: TestContext, key: string, body: Record<string, unknown>) {
  const res = await t.call('PUT', '/v1/budget', { key, body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

export async function budget(t: TestContext, key: string, period?: string) {
  const res = await t.call('GET', `/v1/budget${period ? `?period=${period}` : ''}`, { key });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as {
    spent: { amount: number };
    committed: { amount: number };
    forecast: { amount: number };
    remaining: { amount: number };
    thresholdsReached: number[];
    breakdown: { reserved: { amount: number }; onDemand: { amount: number }; held: { amount: number }; onDemandFirstHours: { amount: number } };
    byDay: { date: string; reserved: { amount: number }; onDemand: { amount: number } }[];
  };
}

/** The scheduled pass of spend controls (alerts, on-demand stops), as the tick runs it. */
export const sweepBudgets = (t: TestContext) => t.deps.budgets.sweep((orgId, id) => t.deps.booking.stopAtBudgetLimit(orgId, id));

/** The pool's on-demand rate per GPU-hour, in cents. */
export async function onDemandRate(t: TestContext): Promise<number> {
  const pools = await t.call('GET', `/v1/pools?site=${VALENCE}&gpuType=${H100}`);
  return pools.body.data[0].onDemandRate.amount as number;
}

export async function events(t: TestContext, key: string, type: string) {
  const res = await t.call('GET', '/v1/events?after=0&limit=200', { key });
  expect(res.status).toBe(200);
  return (res.body.data as { type: string; data: Record<string, any> }[]).filter((e) => e.type === type);
}
