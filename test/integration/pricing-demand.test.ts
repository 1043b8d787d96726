import { afterAll, beforeAll, expect, it } from 'vitest';
import { meteringModule } from '../../shared/http/modules.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ modules: [meteringModule] });
});
afterAll(() => t.close());

const utilizationLine = (quote: { lines: { description: string }[] }) => quote.lines.find((l) => l.description.startsWith('Utilization'))?.description;

it('metered usage of the last 7 days feeds the utilization factor of new quotes', async () => {
  const quoteBody = () => ({ site: 'valence-rovaltain', gpuType: 'b200-sxm-192gb', gpus: 8, start: hoursFrom(t.clock, 24 * 3), end: hoursFrom(t.clock, 24 * 3 + 4) });
  const idle = await t.call('POST', '/v1/quotes', { body: quoteBody() });
  expect(utilizationLine(idle.body)).toBe('Utilization adjustment: pool 0 % utilized (−10 %)');

  const od = await t.call('POST', '/v1/reservations', { body: { kind: 'on_demand', site: 'valence-rovaltain', gpuType: 'b200-sxm-192gb', gpus: 192 } });
  expect(od.status).toBe(201);
  const start = Date.parse(od.body.start);
  t.clock.advance(7 * 24 * 3_600_000);
  const events = Array.from({ length: 7 }, (_, day) => ({
    id: `demand-${day}`,
    reservationId: od.body.id,
    start: new Date(start + day * 86_400_000).toISOString(),
    end: new Date(start + (day + 1) * 86_400_000).toISOString(),
    gpus: 192,
  }));
  const ingested = await t.call('POST', '/v1/usage', { key: t.keys.meter, body: { events } });
  expect(ingested.body).toMatchObject({ accepted: 7, duplicates: 0, rejected: [] });
  expect((await t.call('POST', `/v1/reservations/${od.body.id}/stop`)).status).toBe(200);

  // Nothing is booked in the quoted window now, but the pool ran ~75 % busy over the last week.
  const busy = await t.call('POST', '/v1/quotes', { body: quoteBody() });
  expect(utilizationLine(busy.body)).toMatch(/^Utilization adjustment: pool 7\d % utilized \(\+1\d(\.\d+)? %\)$/);
  expect(busy.body.total.amount).toBeGreaterThan(idle.body.total.amount);
});
