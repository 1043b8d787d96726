/**
 * The API's route modules, in the order they are registered (which is the order of the OpenAPI
 * document), each with the first path segments its routes live under. Nothing here imports a route
 * file: each is loaded by `import()` on the first request under one of its segments (shared/http/app.ts),
 * so a Lambda's init loads none of the routes' schemas, nor zod (docs/decisions.md, "Cold start").
 */
import type { AppModule, RegisterRoutes } from './context.ts';

/** The first segment of a path: what AppModule.api.under names (`/v1/pools/{id}` → `v1/pools`). */
export function segmentOf(path: string): string {
  const parts = path.split('/');
  return parts[1] === 'v1' ? `v1/${parts[2] ?? ''}` : (parts[1] ?? '');
}

const api = (under: readonly string[], load: () => Promise<RegisterRoutes>): AppModule['api'] => ({ under, load });

/** The routes every deployment of the API has. */
export const coreModules: readonly AppModule[] = [
  { name: 'health', api: api(['healthz'], async () => (await import('./routes/health.ts')).registerHealthRoutes) },
  { name: 'catalog', api: api(['v1/gpu-types', 'v1/pools', 'v1/sites'], async () => (await import('./routes/catalog.ts')).registerCatalogRoutes) },
  { name: 'availability', api: api(['v1/availability'], async () => (await import('./routes/availability.ts')).registerAvailabilityRoutes) },
  { name: 'quotes', api: api(['v1/quotes'], async () => (await import('./routes/quotes.ts')).registerQuoteRoutes) },
  { name: 'offers', api: api(['v1/offers'], async () => (await import('./routes/offers.ts')).registerOfferRoutes) },
  { name: 'reservations', api: api(['v1/reservations'], async () => (await import('./routes/reservations.ts')).registerReservationRoutes) },
  { name: 'events', api: api(['v1/events', 'v1/platform'], async () => (await import('./routes/events.ts')).registerEventRoutes) },
  { name: 'me', api: api(['v1/me'], async () => (await import('./routes/me.ts')).registerMeRoutes) },
  { name: 'operator', api: api(['v1/api-keys', 'v1/orgs', 'v1/pools'], async () => (await import('./routes/operator.ts')).registerOperatorRoutes) },
  { name: 'limits', api: api(['v1/limits', 'v1/orgs', 'v1/pools'], async () => (await import('./routes/limits.ts')).registerLimitRoutes) },
  {
    name: 'catalog-admin',
    api: api(['v1/audit', 'v1/gpu-types', 'v1/pools', 'v1/sites'], async () => (await import('./routes/catalog-admin.ts')).registerCatalogAdminRoutes),
  },
  { name: 'budgets', api: api(['v1/api-keys', 'v1/budget'], async () => (await import('./routes/budgets.ts')).registerBudgetRoutes) },
  { name: 'listings', api: api(['v1/listings', 'v1/reservations'], async () => (await import('./routes/listings.ts')).registerListingRoutes) },
  { name: 'market', api: api(['v1/market'], async () => (await import('./routes/market.ts')).registerMarketRoutes) },
];

/** Usage ingestion and reads, over `services.metering`. */
export const meteringModule: AppModule = {
  name: 'metering',
  api: api(['v1/usage'], async () => {
    const { registerUsageRoutes } = await import('./routes/usage.ts');
    return (app, services) => registerUsageRoutes(app, services.metering);
  }),
};

/** Invoices, the monthly close, finance reports and Stripe's webhook, over `services.billing`. */
export const billingModule: AppModule = {
  name: 'billing',
  publicPaths: ['/v1/stripe/webhook'],
  api: api(['v1/invoices', 'v1/billing', 'v1/orgs', 'v1/stripe'], async () => (await import('./routes/billing.ts')).registerBillingRoutes),
};

/** The webhook endpoints API, over `services.webhooks` (the endpoint service). */
export const webhooksModule: AppModule = {
  name: 'webhooks',
  api: api(['v1/webhook-endpoints'], async () => (await import('./routes/webhooks.ts')).registerWebhookRoutes),
};
