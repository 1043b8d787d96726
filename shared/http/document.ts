/**
 * The OpenAPI 3.1 document of an app's route modules, built on the first request for it (/openapi.json
 * or /docs): every module's routes registered, in order, on an app of their own, the rate limits and
 * security schemes declared, then the finishing pass (shared/http/openapi.ts).
 */
import type { AppModule, Services } from './context.ts';
import { finishOpenApiDocument } from './openapi.ts';
import { declareRateLimits } from './rate-limit-docs.ts';
import { segmentOf } from './modules.ts';
import { createRouteApp } from './route-app.ts';

const documentConfig = {
  openapi: '3.1.0',
  info: {
    title: 'GPU Market API',
    version: '1.0.0',
    description:
      'Reserve GPU capacity at Valence–Rovaltain, Marseille and Grand Est: catalog, availability, quotes, reservations, usage, invoices and webhooks. Errors are RFC 9457 problem details.',
  },
  servers: [{ url: '/', description: 'This deployment (production, staging, or local under `npm start`): paths are relative to where this document was fetched', 'x-internal': false }],
};

export async function buildOpenApiDocument(modules: readonly AppModule[], services: Services, isPublic: (path: string) => boolean) {
  const app = createRouteApp();
  const registry = app.openAPIRegistry;
  for (const m of modules) {
    if (m.api === undefined) continue;
    const before = registry.definitions.length;
    (await m.api.load())(app, services);
    // A route outside the module's segments would never be reached: the API app sends a request only
    // to the modules that declare its first segment.
    for (const def of registry.definitions.slice(before)) {
      if (def.type === 'route' && !m.api.under.includes(segmentOf(def.route.path))) {
        throw new Error(`module ${m.name}: route ${def.route.path} lies outside its segments (${m.api.under.join(', ')}); declare ${segmentOf(def.route.path)} in shared/http/modules.ts`);
      }
    }
  }
  declareRateLimits(registry, isPublic);
  registry.registerComponent('securitySchemes', 'ApiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'API key, e.g. `gm_live_…`',
  });
  registry.registerComponent('securitySchemes', 'StripeSignature', {
    type: 'apiKey',
    in: 'header',
    name: 'Stripe-Signature',
    description: 'Stripe’s signature of the raw body with the endpoint’s signing secret (`STRIPE_WEBHOOK_SECRET`): `t=<unix time>,v1=<HMAC-SHA256>`, at most 300 s old. Only Stripe’s webhook takes it.',
  });
  return finishOpenApiDocument(app.getOpenAPI31Document(documentConfig));
}
