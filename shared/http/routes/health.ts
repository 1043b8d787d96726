import { createRoute, z } from '../zod.ts';
import { probeTable } from '#store/health.ts';
import type { App, Services } from '../context.ts';
import { output } from '../route.ts';
import { errorResponses } from '../problem.ts';
import { MAX, Timestamp } from '../schemas.ts';

const health = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'health',
  tags: ['Health'],
  summary: 'The API and its table answer',
  responses: {
    200: { description: 'Healthy', content: { 'application/json': { schema: z.object({ status: z.literal('ok'), table: z.string().max(MAX.name), time: Timestamp }) } } },
    ...errorResponses('internal'),
  },
});

export function registerHealthRoutes(app: App, services: Services) {
  app.openapi(health, async (c) => {
    const { db, clock } = services;
    await probeTable(db);
    return c.json(output(health, 200, { status: 'ok' as const, table: db.table, time: clock().toISOString() }), 200);
  });
}
