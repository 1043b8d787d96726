import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import { HTTPException } from 'hono/http-exception';
import { randomUUID } from 'node:crypto';
import { DomainError } from '#domain/errors.ts';
import { isTransient } from '#store/retry.ts';
import { errorFields } from '../log.ts';
import { authenticate } from './auth.ts';
import type { AppEnv, AppModule, AppOptions, RegisterRoutes, Services } from './context.ts';
import { idempotency } from './idempotency.ts';
import { coreModules, segmentOf } from './modules.ts';
import { problemBody, problemResponse } from './problem-body.ts';
import { corsFor } from './cors.ts';
import { securityHeaders } from './security-headers.ts';
import { createRateLimiter, DEFAULT_RATE_LIMITS } from './rate-limit.ts';

export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/**
 * The whole HTTP API (and, through modules, the portal) over services built by the composition root
 * (shared/compose/system.ts); it builds none itself. This app holds what every request goes through
 * (security headers, CORS, rate limits, authentication, idempotency, errors); the routes are on apps
 * of their own, one per first path segment (`v1/reservations`, …), built with their modules' code on
 * the first request under that segment, so that starting the API loads no route (docs/decisions.md,
 * "Cold start"). A request reaches its segment's app with this app's context, and that app's answers
 * and errors come back through this app's middleware and onError, exactly as if its routes were here.
 */
export function createApp(services: Services, options: AppOptions = {}): Hono<AppEnv> {
  const modules = [...coreModules, ...(options.modules ?? [])];
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const { logger } = services;
  const withLimits: Services = { ...services, rateLimits: options.rateLimits ?? DEFAULT_RATE_LIMITS };
  const publicPaths = new Set(modules.flatMap((m) => m.publicPaths ?? []));
  const isPublic = (path: string) => publicPaths.has(path);
  const app = new Hono<AppEnv>();

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

  const limiter = createRateLimiter(options.rateLimits ?? DEFAULT_RATE_LIMITS, { exempt: isPublic });
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
  app.use('/v1/*', async (c, next) => (isPublic(c.req.path) ? next() : authenticate(c, next)));
  app.use('/v1/*', limiter.byPrincipal);
  app.use('/v1/*', idempotency);

  // The document and the reference page are built on their first request, their code loaded then.
  let document: Promise<unknown> | undefined;
  const openApiDocument = () => {
    document ??= import('./document.ts')
      .then(({ buildOpenApiDocument }) => buildOpenApiDocument(modules, withLimits, isPublic))
      .catch((error: unknown) => {
        document = undefined;
        throw error;
      });
    return document;
  };
  app.get('/openapi.json', async (c) => c.json(await openApiDocument()));
  let docsPage: Promise<string> | undefined;
  app.get('/docs', async (c) => {
    docsPage ??= Promise.all([import('./docs-page.ts'), openApiDocument()]).then(([{ renderDocsPage }, doc]) => renderDocsPage(doc as Record<string, unknown>));
    const [page, { DOCS_CSP }] = await Promise.all([docsPage, import('./docs-page.ts')]);
    return c.html(page, 200, { 'content-security-policy': DOCS_CSP, 'cache-control': 'public, max-age=300' });
  });
  app.get('/docs.css', async (c) => c.body((await import('./docs-page.ts')).DOCS_CSS, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' }));

  const answerError = (error: Error, c: Context<AppEnv>): Response => {
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
  };
  app.onError(answerError);

  const notFound = (c: Context<AppEnv>) => problemResponse(problemBody('not_found', `No route for ${c.req.method} ${c.req.path}`, { requestId: c.get('requestId') }));
  const pageModules = modules.filter((m) => m.pages !== undefined);
  if (pageModules.length > 1) throw new Error(`only one module may serve pages; got ${pageModules.map((m) => m.name).join(', ')}`);
  const pages = pageModules[0]?.pages;
  // The pages' errors are answered by this app's onError, outside the pages' own middleware.
  const rethrow = (error: Error): never => {
    throw error;
  };
  const servePages = pages === undefined ? undefined : delegate(async () => [await pages()], withLimits, notFound, rethrow);
  // What no route of the API matched: outside /v1, the pages' (which may still answer 404).
  const unmatched = (c: Context<AppEnv>) => (servePages !== undefined && !c.req.path.startsWith('/v1/') ? servePages(c) : notFound(c));

  // Each first path segment's routes, on their own app built on the segment's first request.
  const bySegment = new Map<string, AppModule[]>();
  for (const m of modules) for (const segment of m.api?.under ?? []) bySegment.set(segment, [...(bySegment.get(segment) ?? []), m]);
  const segmentApps = new Map<string, (c: Context<AppEnv>) => Promise<Response>>();
  for (const [segment, list] of bySegment) {
    segmentApps.set(segment, delegate(() => Promise.all(list.map((m) => m.api!.load())), withLimits, unmatched, answerError));
  }
  app.all('*', (c) => segmentApps.get(segmentOf(c.req.path))?.(c) ?? unmatched(c));

  return app;
}

/** The request each delegated request came from, so the app it is handed to sees the API's context. */
const outerContexts = new WeakMap<Request, Context<AppEnv>>();

/** Gives a delegated request the API app's context variables (services, principal, request id, …). */
const adoptOuterContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const outer = outerContexts.get(c.req.raw);
  if (outer === undefined) throw new Error('delegated routes are served through the API app only');
  for (const [key, value] of Object.entries(outer.var)) c.set(key as keyof AppEnv['Variables'], value as never);
  await next();
};

/**
 * Routes (a segment's API routes, or the portal's pages) on an app of their own, built with their
 * code on its first request: `load` imports the modules and returns how to register them. The app
 * answers the requests handed to it as if its routes were the API's: its errors are answered by the
 * API's `onError` where they are thrown (so the middleware around the route, idempotency's record
 * among them, sees the problem as it did), the API's middleware wrap its response, and a path it
 * does not know either is `notFound`'s.
 */
function delegate(
  load: () => Promise<readonly RegisterRoutes[]>,
  services: Services,
  notFound: (c: Context<AppEnv>) => Response | Promise<Response>,
  onError: (error: Error, c: Context<AppEnv>) => Response,
): (c: Context<AppEnv>) => Promise<Response> {
  let built: Promise<{ fetch(request: Request, env: unknown): Response | Promise<Response> }> | undefined;
  const build = async () => {
    const [registers, { createDelegateApp }] = await Promise.all([load(), import('./route-app.ts')]);
    return createDelegateApp(registers, services, adoptOuterContext, notFound, onError);
  };
  return async (c) => {
    built ??= build().catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    const routes = await built;
    outerContexts.set(c.req.raw, c);
    return routes.fetch(c.req.raw, c.env);
  };
}
