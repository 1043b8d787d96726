import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import { HTTPException } from 'hono/http-exception';
import { randomUUID } from 'node:crypto';
import { DomainError, type FieldError } from '#domain/errors.ts';
import { isTransient } from '#store/retry.ts';
import { errorFields } from '../log.ts';
import { accessOf, authenticate } from './auth.ts';
import type { AppEnv, AppModule, AppOptions, Services } from './context.ts';
import { idempotency } from './idempotency.ts';
import { problemBody, problemResponse } from './problem.ts';
import { corsFor } from './cors.ts';
import { securityHeaders } from './security-headers.ts';
import { createRateLimiter, declareRateLimits, DEFAULT_RATE_LIMITS } from './rate-limit.ts';
import { registerAvailabilityRoutes } from './routes/availability.ts';
import { registerBudgetRoutes } from './routes/budgets.ts';
import { registerCatalogRoutes } from './routes/catalog.ts';
import { registerCatalogAdminRoutes } from './routes/catalog-admin.ts';
import { registerEventRoutes } from './routes/events.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerLimitRoutes } from './routes/limits.ts';
import { registerListingRoutes } from './routes/listings.ts';
import { registerMarketRoutes } from './routes/market.ts';
import { registerOfferRoutes } from './routes/offers.ts';
import { registerMeRoutes } from './routes/me.ts';
import { registerOperatorRoutes } from './routes/operator.ts';
import { registerQuoteRoutes } from './routes/quotes.ts';
import { registerReservationRoutes } from './routes/reservations.ts';

export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/** What the client calls the part of the request zod validated: the JSON body is `body`. */
const targetName = (target: string): string => (target === 'json' ? 'body' : target);

/** zod issue path → `a.b[0].c`, the field the client must fix. */
function pathOf(path: readonly PropertyKey[], target: string): string {
  const joined = path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
  return joined || targetName(target);
}

export const coreModule: AppModule = {
  name: 'booking',
  register(app, services) {
    registerHealthRoutes(app, services);
    registerCatalogRoutes(app, services);
    registerAvailabilityRoutes(app, services);
    registerQuoteRoutes(app, services);
    registerOfferRoutes(app, services);
    registerReservationRoutes(app, services);
    registerEventRoutes(app, services);
    registerMeRoutes(app, services);
    registerOperatorRoutes(app, services);
    registerLimitRoutes(app, services);
    registerCatalogAdminRoutes(app, services);
    registerBudgetRoutes(app, services);
    registerListingRoutes(app, services);
    registerMarketRoutes(app, services);
  },
};

/**
 * The whole HTTP API (and, through modules, the portal) over services built by the composition root
 * (shared/compose/api.ts); it builds none itself.
 */
export function createApp(services: Services, options: AppOptions = {}): OpenAPIHono<AppEnv> {
  const modules = [coreModule, ...(options.modules ?? [])];
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const { logger } = services;
  const withLimits: Services = { ...services, rateLimits: options.rateLimits ?? DEFAULT_RATE_LIMITS };
  const publicPaths = new Set(modules.flatMap((m) => m.publicPaths ?? []));
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        // An unknown field is named by its own path, not by the object that holds it.
        const errors: FieldError[] = result.error.issues.flatMap((i) =>
          i.code === 'unrecognized_keys'
            ? i.keys.map((k) => ({ path: pathOf([...i.path, k], result.target), message: 'unknown field' }))
            : [{ path: pathOf(i.path, result.target), message: i.message }],
        );
        const names = [...new Set(errors.map((e) => e.path))].join(', ');
        throw new DomainError('validation_failed', `Invalid ${targetName(result.target)}: ${names}`, { errors });
      }
    },
  });

  // Outermost: compress what everything inside produced (JSON, pages, CSV) when the client accepts it.
  app.use('*', compress());
  app.use('*', securityHeaders);
  app.use('*', async (c, next) => {
    c.set('receivedAt', performance.now());
    c.set('deps', withLimits);
    c.set('principal', null);
    // Always ours: a client-sent x-request-id would let a caller plant ids in our logs.
    const requestId = randomUUID();
    c.set('requestId', requestId);
    await next();
    c.header('x-request-id', requestId);
  });

  // Before authentication and limits: a preflight carries no credentials and is answered here.
  app.use('*', corsFor(options.corsOrigins ?? []));

  const limiter = createRateLimiter(options.rateLimits ?? DEFAULT_RATE_LIMITS, { exempt: (path) => publicPaths.has(path) });
  app.use('*', limiter.byAddress);
  app.use('*', async (c, next) => {
    c.set('chargeWrite', (principal, apiPath) => limiter.chargeWrite(c, principal, apiPath));
    await next();
  });

  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new DomainError('payload_too_large', `Request bodies are limited to ${maxBodyBytes} bytes`);
      },
    }),
  );
  app.use('/v1/*', async (c, next) => (publicPaths.has(c.req.path) ? next() : authenticate(c, next)));
  app.use('/v1/*', limiter.byPrincipal);
  app.use('/v1/*', idempotency);

  // Every operation's access, as its route declares it (security and requireRole), goes into the
  // document as `x-access`: clients read it, and the access suite derives its expectations from it.
  const registerRoute = app.openapi.bind(app);
  app.openapi = ((route: Parameters<typeof registerRoute>[0], ...rest: unknown[]) =>
    (registerRoute as (...a: unknown[]) => unknown)({ ...route, 'x-access': accessOf(route) }, ...rest)) as typeof app.openapi;
  for (const m of modules) m.register?.(app, withLimits);
  declareRateLimits(app.openAPIRegistry, (path) => publicPaths.has(path));

  app.openAPIRegistry.registerComponent('securitySchemes', 'ApiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'API key, e.g. `gm_live_…`',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'StripeSignature', {
    type: 'apiKey',
    in: 'header',
    name: 'Stripe-Signature',
    description: 'Stripe’s signature of the raw body with the endpoint’s signing secret (`STRIPE_WEBHOOK_SECRET`): `t=<unix time>,v1=<HMAC-SHA256>`, at most 300 s old. Only Stripe’s webhook takes it.',
  });
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
  // The document and the reference page are built on their first request, their code loaded then.
  let document: Promise<ReturnType<typeof app.getOpenAPI31Document>> | undefined;
  const openApiDocument = () =>
    (document ??= import('./openapi.ts').then(({ finishOpenApiDocument }) => finishOpenApiDocument(app.getOpenAPI31Document(documentConfig))));
  app.get('/openapi.json', async (c) => c.json(await openApiDocument()));
  let docsPage: Promise<string> | undefined;
  app.get('/docs', async (c) => {
    docsPage ??= Promise.all([import('./docs-page.ts'), openApiDocument()]).then(([{ renderDocsPage }, doc]) => renderDocsPage(doc as unknown as Record<string, unknown>));
    const [page, { DOCS_CSP }] = await Promise.all([docsPage, import('./docs-page.ts')]);
    return c.html(page, 200, { 'content-security-policy': DOCS_CSP, 'cache-control': 'public, max-age=300' });
  });
  app.get('/docs.css', async (c) => c.body((await import('./docs-page.ts')).DOCS_CSS, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' }));

  const notFound = (c: Context<AppEnv>) => problemResponse(problemBody('not_found', `No route for ${c.req.method} ${c.req.path}`, { requestId: c.get('requestId') }));
  const pageModules = modules.filter((m) => m.pages !== undefined);
  if (pageModules.length > 1) throw new Error(`only one module may serve pages; got ${pageModules.map((m) => m.name).join(', ')}`);
  const pages = pageModules[0]?.pages;
  const servePages = pages === undefined ? undefined : pagesApp(pages, withLimits, notFound);
  app.notFound((c) => (servePages !== undefined && !c.req.path.startsWith('/v1/') ? servePages(c) : notFound(c)));

  app.onError((error, c) => {
    const requestId = c.get('requestId');
    if (error instanceof DomainError) {
      const headers: Record<string, string> = error.retryAfterSeconds ? { 'retry-after': String(error.retryAfterSeconds) } : {};
      if (error.code === 'unauthenticated') headers['www-authenticate'] = 'Bearer realm="gpu-market"';
      if (error.status >= 500) logger.warn('request failed', { requestId, code: error.code, detail: error.message });
      return problemResponse(problemBody(error.code, error.message, { errors: error.errors, requestId, extensions: error.extensions }), headers);
    }
    if (error instanceof HTTPException && error.status < 500) {
      if (error.status === 400) {
        return problemResponse(
          problemBody('malformed_json', 'The request body is not valid JSON', { errors: [{ path: 'body', message: 'malformed JSON' }], requestId }),
        );
      }
      if (error.status === 413) return problemResponse(problemBody('payload_too_large', 'Request body too large', { requestId }));
      if (error.status === 415) return problemResponse(problemBody('unsupported_media_type', 'Send JSON with content-type application/json', { requestId }));
      return problemResponse(problemBody('unprocessable', error.message || 'Request rejected', { requestId }));
    }
    if (isTransient(error)) {
      // Throttling or a timeout that no retry loop absorbed: the client may retry, so say so.
      logger.warn('transient failure', { requestId, error: errorFields(error) });
      return problemResponse(problemBody('contention', 'The service is briefly unavailable; retry the request', { requestId }), { 'retry-after': '1' });
    }
    logger.error('unhandled error', { requestId, error: errorFields(error, { stack: true }) });
    return problemResponse(problemBody('internal', `Something went wrong on our side; quote request id ${requestId} to support`, { requestId }));
  });

  return app;
}

/** The request each pages-app request came from, so the pages see the API's context (services, request id). */
const outerContexts = new WeakMap<Request, Context<AppEnv>>();

/**
 * The pages of a module (AppModule.pages) on an app of their own, built on its first request. It gets
 * the requests the API did not match, with the API's context variables, and answers them as if its
 * routes were the API's: the API's middleware wrap its response, its errors go to the API's onError,
 * and a path it does not know either is the API's 404 (which the pages may turn into an HTML page).
 */
function pagesApp(
  load: NonNullable<AppModule['pages']>,
  services: Services,
  notFound: (c: Context<AppEnv>) => Response,
): (c: Context<AppEnv>) => Promise<Response> {
  let built: Promise<OpenAPIHono<AppEnv>> | undefined;
  const build = async () => {
    const register = await load();
    const pages = new OpenAPIHono<AppEnv>();
    pages.use('*', async (c, next) => {
      const outer = outerContexts.get(c.req.raw);
      if (outer === undefined) throw new Error('pages are served through the API app only');
      c.set('deps', outer.get('deps'));
      c.set('principal', outer.get('principal'));
      c.set('requestId', outer.get('requestId'));
      c.set('receivedAt', outer.get('receivedAt'));
      c.set('chargeWrite', outer.get('chargeWrite'));
      await next();
    });
    register(pages, services);
    pages.notFound(notFound);
    pages.onError((error) => {
      throw error;
    });
    return pages;
  };
  return async (c) => {
    built ??= build().catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    const pages = await built;
    outerContexts.set(c.req.raw, c);
    return pages.fetch(c.req.raw, c.env);
  };
}
