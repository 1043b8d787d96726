import { createRoute, z } from '../zod.ts';
import { principalOf, requireRole } from '../auth.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { json, jsonBody, output, security } from '../route.ts';
import { IdempotencyHeader, MAX, Slug, Timestamp } from '../schemas.ts';


const MaintenanceSchema = z
  .object({ id: z.string().max(MAX.id), poolId: z.string().max(MAX.id), start: Timestamp, end: Timestamp, gpus: z.number().int(), reason: z.string().max(MAX.text), createdAt: Timestamp })
  .openapi('MaintenanceWindow');
const OrgSchema = z
  .object({
    id: z.string().max(MAX.id),
    name: z.string().max(MAX.name),
    country: z.string().max(MAX.country),
    vatNumber: z.string().max(MAX.short).nullable(),
    billingEmail: z.string().max(MAX.email),
    stripeCustomerId: z.string().max(MAX.id).nullable(),
    createdAt: Timestamp,
  })
  .openapi('Org');
const ApiKeySchema = z
  .object({
    id: z.string().max(MAX.id),
    key: z.string().max(MAX.id).openapi({ description: 'Shown once; only its hash is stored' }),
    role: z.enum(['customer', 'finance', 'operator', 'meter']),
    orgId: z.string().max(MAX.id).nullable(),
    orgRole: z.enum(['admin', 'member']).nullable(),
    siteId: z.string().max(MAX.id).nullable(),
    createdAt: Timestamp,
  })
  .openapi('ApiKey');
const PoolParam = z.object({ id: Slug('marseille-b200').openapi({ param: { name: 'id', in: 'path' } }) });

const addMaintenance = createRoute({
  method: 'post',
  path: '/v1/pools/{id}/maintenance',
  operationId: 'addMaintenanceWindow',
  tags: ['Operator'],
  summary: 'Take GPUs out of a pool for a window (refused if booked)',
  security,
  middleware: [requireRole(['operator'])],
  request: {
    headers: IdempotencyHeader,
    params: PoolParam,
    body: jsonBody(
      z
        .object({
          start: Timestamp,
          end: Timestamp,
          gpus: z.number().int().positive().max(100_000),
          reason: z.string().min(1).max(500).openapi({ example: 'Firmware upgrade of racks 3-4' }),
        })
        .strict(),
    ),
  },
  responses: { 201: json(MaintenanceSchema, 'The window'), ...errorResponses(...COMMON_ERRORS, 'malformed_json', 'not_found', 'unprocessable', 'capacity_unavailable') },
});

const listMaintenance = createRoute({
  method: 'get',
  path: '/v1/pools/{id}/maintenance',
  operationId: 'listMaintenanceWindows',
  tags: ['Operator'],
  summary: 'Maintenance windows of a pool',
  security,
  middleware: [requireRole(['operator'])],
  request: { params: PoolParam },
  responses: { 200: json(z.object({ data: z.array(MaintenanceSchema).max(MAX.list) }), 'Windows'), ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const removeMaintenance = createRoute({
  method: 'delete',
  path: '/v1/pools/{id}/maintenance/{windowId}',
  operationId: 'removeMaintenanceWindow',
  tags: ['Operator'],
  summary: 'End a maintenance window early and give its GPUs back',
  security,
  middleware: [requireRole(['operator'])],
  request: { params: PoolParam.extend({ windowId: z.string().min(1).max(100).openapi({ param: { name: 'windowId', in: 'path' } }) }) },
  responses: { 204: { description: 'Removed' }, ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

const createOrg = createRoute({
  method: 'post',
  path: '/v1/orgs',
  operationId: 'createOrg',
  tags: ['Operator'],
  summary: 'Create a customer org',
  security,
  middleware: [requireRole(['operator'])],
  request: {
    headers: IdempotencyHeader,
    body: jsonBody(
      z
        .object({
          name: z.string().min(1).max(200),
          country: z.string().max(2).regex(/^[A-Za-z]{2}$/, 'ISO 3166-1 alpha-2 code').openapi({ example: 'FR' }),
          vatNumber: z.string().max(15).regex(/^[A-Z]{2}[0-9A-Z+*.]{2,13}$/, 'EU VAT number, e.g. DE123456789').nullable().optional(),
          billingEmail: z.email().max(MAX.email),
        })
        .strict(),
    ),
  },
  responses: { 201: json(OrgSchema, 'The org'), ...errorResponses(...COMMON_ERRORS, 'malformed_json') },
});

const listOrgs = createRoute({
  method: 'get',
  path: '/v1/orgs',
  operationId: 'listOrgs',
  tags: ['Operator'],
  summary: 'Every org (operator and finance)',
  security,
  middleware: [requireRole(['operator', 'finance'])],
  responses: { 200: json(z.object({ data: z.array(OrgSchema).max(MAX.list) }), 'Orgs'), ...errorResponses(...COMMON_ERRORS) },
});

const createKey = createRoute({
  method: 'post',
  path: '/v1/api-keys',
  operationId: 'createApiKey',
  tags: ['Operator'],
  summary: 'Issue an API key (shown once): operators any key; org admins customer keys of their own org',
  security,
  middleware: [requireRole(['operator', 'customer'], { orgAdmin: true })],
  request: {
    headers: IdempotencyHeader,
    body: jsonBody(
      z
        .object({
          role: z.enum(['customer', 'finance', 'operator', 'meter']),
          orgId: z.string().max(100).optional().openapi({ description: 'Customer keys only' }),
          orgRole: z.enum(['admin', 'member']).optional().openapi({ description: 'Customer keys only; default member' }),
          siteId: Slug('valence-rovaltain').optional().openapi({ description: 'Meter keys only' }),
        })
        .strict(),
    ),
  },
  responses: { 201: json(ApiKeySchema, 'The key, shown once'), ...errorResponses(...COMMON_ERRORS, 'malformed_json', 'unprocessable', 'secret_shown_once', 'not_found') },
});

const revokeKey = createRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  operationId: 'revokeApiKey',
  tags: ['Operator'],
  summary: 'Revoke an API key: operators any key; org admins their own org’s keys',
  security,
  middleware: [requireRole(['operator', 'customer'], { orgAdmin: true })],
  request: { params: z.object({ id: z.string().min(1).max(100).openapi({ param: { name: 'id', in: 'path' } }) }) },
  responses: { 204: { description: 'Revoked' }, ...errorResponses(...COMMON_ERRORS, 'not_found') },
});

export function registerOperatorRoutes(app: App, services: Services) {
  const { operator, budgets, catalog } = services;
  app.openapi(addMaintenance, async (c) => {
    const w = await operator.addMaintenance(c.req.valid('param').id, c.req.valid('json'));
    catalog.invalidate();
    return c.json(output(addMaintenance, 201, w), 201);
  });
  app.openapi(listMaintenance, async (c) => c.json(output(listMaintenance, 200, { data: await operator.listMaintenance(c.req.valid('param').id) }), 200));
  app.openapi(removeMaintenance, async (c) => {
    const { id, windowId } = c.req.valid('param');
    await operator.removeMaintenance(id, windowId);
    return c.body(null, 204);
  });
  app.openapi(createOrg, async (c) => c.json(output(createOrg, 201, await operator.createOrg(c.req.valid('json'))), 201));
  app.openapi(listOrgs, async (c) => c.json(output(listOrgs, 200, { data: await operator.listOrgs() }), 200));
  app.openapi(createKey, async (c) => {
    const principal = principalOf(c);
    const issued = principal.role === 'customer' ? await budgets.createOrgKey(principal, c.req.valid('json')) : await operator.createApiKey(c.req.valid('json'));
    return c.json(ApiKeySchema.parse(issued), 201);
  });
  app.openapi(revokeKey, async (c) => {
    const principal = principalOf(c);
    if (principal.role === 'customer') await budgets.revokeOrgKey(principal, c.req.valid('param').id);
    else await operator.revokeApiKey(c.req.valid('param').id);
    return c.body(null, 204);
  });
}
