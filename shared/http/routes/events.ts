import { createRoute, z } from '@hono/zod-openapi';
import { invalidField } from '#domain/errors.ts';
import { listEvents, sequenceOfEvent } from '#store/events.ts';
import { PLATFORM_STREAM } from '../../services/catalog-admin.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { EventSchema, pageOf } from '../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/events',
  operationId: 'listEvents',
  tags: ['Events'],
  summary: 'Your org’s events, oldest first, for polling',
  description: 'Customers read their org’s events; operators read the platform stream (`catalog.changed`). Pass the `sequence` (or `id`) of the last event you processed as `after`; `nextCursor` is the `after` of the next page.',
  security: [{ ApiKey: [] }],
  middleware: [requireRole(['customer', 'operator'])],
  request: {
    query: z.object({
      after: z.string().max(100).optional().openapi({ description: 'Sequence number or event id of the last event seen; omitted = from the start', example: '42' }),
      limit: z.coerce.number().int().min(1).max(500).default(100),
    }),
  },
  responses: { 200: { description: 'Events', content: { 'application/json': { schema: pageOf(EventSchema, 'EventPage') } } }, ...errorResponses(...COMMON_ERRORS) },
});

export function registerEventRoutes(app: App) {
  app.openapi(route, async (c) => {
    const { after, limit } = c.req.valid('query');
    const principal = principalOf(c);
    const orgId = principal.role === 'operator' ? PLATFORM_STREAM : principal.orgId!;
    const { db } = c.get('deps');
    let from = 0;
    if (after !== undefined && after !== '') {
      if (/^\d{1,12}$/.test(after)) from = Number(after);
      else {
        const seq = /^evt_[0-9a-z]{26}$/.test(after) ? await sequenceOfEvent(db, orgId, after) : null;
        if (seq === null) throw invalidField('after', 'is neither a sequence number nor an event id of your org');
        from = seq;
      }
    }
    return c.json(await listEvents(db, orgId, from, limit), 200);
  });
}
