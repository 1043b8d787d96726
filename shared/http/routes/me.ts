import { createRoute, z } from '../zod.ts';
import { taxTreatmentFor } from '#domain/vat.ts';
import { getOrg } from '#store/orgs.ts';
import { principalOf } from '../auth.ts';
import type { App, Services } from '../context.ts';
import { COMMON_ERRORS, errorResponses } from '../problem.ts';
import { security } from '../route.ts';
import { MAX } from '../schemas.ts';

const TaxSchema = z
  .object({
    treatment: z.enum(['fr_vat', 'eu_reverse_charge', 'eu_vat', 'export_none']).openapi({
      description: '`fr_vat`: French VAT; `eu_reverse_charge`: EU business with a VAT number; `eu_vat`: EU without a VAT number (French VAT); `export_none`: outside the EU',
    }),
    rateBps: z.number().int().min(0).max(10_000).openapi({ description: 'VAT rate in basis points applied to each invoice line (2000 = 20 %)', example: 2000 }),
    legalMention: z.string().max(MAX.text).nullable().openapi({ description: 'The mention printed on invoices (reverse charge, export), or null' }),
  })
  .openapi('TaxTreatment');

const MeSchema = z
  .object({
    keyId: z.string().max(MAX.id).openapi({ description: 'Id of the API key that made this request', example: 'key_01jabc' }),
    role: z.enum(['customer', 'finance', 'operator', 'meter']),
    orgRole: z.enum(['admin', 'member']).nullable().openapi({ description: 'For customer keys: the key holder’s role in its org' }),
    siteId: z.string().max(MAX.id).nullable().openapi({ description: 'For meter keys: the only site it reports for' }),
    org: z
      .object({
        id: z.string().max(MAX.id).openapi({ example: 'org_lumiere' }),
        name: z.string().max(MAX.name).openapi({ example: 'Lumière AI SAS' }),
        country: z.string().max(MAX.country).openapi({ description: 'ISO 3166-1 alpha-2', example: 'FR' }),
        vatNumber: z.string().max(MAX.short).nullable(),
        tax: TaxSchema.openapi({ description: 'How invoices to this org are taxed: what a quote’s total becomes on the invoice' }),
      })
      .nullable()
      .openapi({ description: 'The org of a customer key; null for operator, finance and meter keys' }),
  })
  .openapi('Me');

const route = createRoute({
  method: 'get',
  path: '/v1/me',
  operationId: 'getMe',
  tags: ['Account'],
  summary: 'Who this API key is: role, org and the org’s VAT treatment',
  security,
  responses: { 200: { description: 'The caller', content: { 'application/json': { schema: MeSchema } } }, ...errorResponses(...COMMON_ERRORS) },
});

export function registerMeRoutes(app: App, services: Services) {
  app.openapi(route, async (c) => {
    const p = principalOf(c);
    const org = p.orgId ? await getOrg(services.db, p.orgId) : null;
    return c.json(
      MeSchema.parse({
        keyId: p.keyId,
        role: p.role,
        orgRole: p.orgRole,
        siteId: p.siteId,
        org: org ? { id: org.id, name: org.name, country: org.country, vatNumber: org.vatNumber, tax: taxTreatmentFor(org) } : null,
      }),
      200,
    );
  });
}
