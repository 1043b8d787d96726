import { createRoute, z } from '../zod.ts';
import { invalidField } from '#domain/errors.ts';
import { listEvents, sequenceOfEvent } from '#store/events.ts';
import { PLATFORM_STREAM } from '../../services/catalog-admin.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App, Services } from '../context.ts';
import { output, security } from '../route.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { EventSchema, pageOf } from '../schemas.ts';

const eventQuery = z.object({
  after: z.string().max(100).optional().openapi({ description: 'Sequence number or event id of the last event seen; omitted = from the start', example: '42' }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const eventPage = { 200: { description: 'Events', content: { 'application/json': { schema: pageOf(EventSchema, 'EventPage') } } }, ...errorResponses(...COMMON_ERRORS) };

const route = createRoute({
  method: 'get',
  path: '/v1/events',
  operationId: 'listEvents',
  tags: ['Events'],
  summary: 'Your org’s events, oldest first, for polling',
  description: 'Pass the `sequence` (or `id`) of the last event you processed as `after`; `nextCursor` is the `after` of the next page.',
  security,
  middleware: [requireRole(['customer'])],
  request: { query: eventQuery },
  responses: eventPage,
});

const platformRoute = createRoute({
  method: 'get',
  path: '/v1/platform/events',
  operationId: 'listPlatformEvents',
  tags: ['Events'],
  summary: 'The platform’s events (`catalog.changed`), oldest first, for operators',
  description: 'Catalog changes belong to no customer org; operators poll them here as customers poll `/v1/events`.',
  security,
  middleware: [requireRole(['operator'])],
  request: { query: eventQuery },
  responses: eventPage,
});

/** One org's stream (or the platform's) after `after`, a sequence number or an event id of that stream. */
async function page(db: Parameters<typeof listEvents>[0], orgId: string, after: string | undefined, limit: number) {
  let from = 0;
  if (after !== undefined && after !== '') {
    if (/^\d{1,12}$/.test(after)) from = Number(after);
    else {
      const seq = /^evt_[0-9a-z]{26}$/.test(after) ? await sequenceOfEvent(db, orgId, after) : null;
      if (seq === null) throw invalidField('after', 'is neither a sequence number nor an event id of your org');
      from = seq;
    }
  }
  return listEvents(db, orgId, from, limit);
}

export function registerEventRoutes(app: App, services: Services) {
  app.openapi(route, async (c) => {
    const { after, limit } = c.req.valid('query');
    return c.json(output(route, 200, await page(services.db, principalOf(c).orgId!, after, limit)), 200);
  });
  app.openapi(platformRoute, async (c) => {
    const { after, limit } = c.req.valid('query');
    return c.json(output(platformRoute, 200, await page(services.db, PLATFORM_STREAM, after, limit)), 200);
  });
}
