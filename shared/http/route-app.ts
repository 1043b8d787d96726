/**
 * The apps that carry the API's routes and the portal's pages, built from their modules when a request
 * first needs them (shared/http/app.ts routes each request to them). This file, and with it zod and
 * @hono/zod-openapi, is itself loaded on that first request.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { DomainError, type FieldError } from '#domain/errors.ts';
import { accessOf } from './auth.ts';
import type { AppEnv, RegisterRoutes, Services } from './context.ts';

/** What the client calls the part of the request zod validated: the JSON body is `body`. */
const targetName = (target: string): string => (target === 'json' ? 'body' : target);

/** zod issue path → `a.b[0].c`, the field the client must fix. */
function pathOf(path: readonly PropertyKey[], target: string): string {
  const joined = path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
  return joined || targetName(target);
}

/**
 * An app routes are declared on: a request zod refuses is a `validation_failed` problem naming each
 * field, and every operation's access, as its route declares it (security and requireRole), goes into
 * the document as `x-access` (clients read it; the access suite derives its expectations from it).
 */
export function createRouteApp(): OpenAPIHono<AppEnv> {
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
  const registerRoute = app.openapi.bind(app);
  app.openapi = ((route: Parameters<typeof registerRoute>[0], ...rest: unknown[]) =>
    (registerRoute as (...a: unknown[]) => unknown)({ ...route, 'x-access': accessOf(route) }, ...rest)) as typeof app.openapi;
  return app;
}

/**
 * An app of its own for some modules' routes, answering requests the API app hands it as if its
 * routes were the API's: `adopt` gives it the API's context variables first, a path it does not know
 * is `notFound`'s answer, and its errors are answered by the API's `onError`.
 */
export function createDelegateApp(
  registers: readonly RegisterRoutes[],
  services: Services,
  adopt: MiddlewareHandler<AppEnv>,
  notFound: Parameters<OpenAPIHono<AppEnv>['notFound']>[0],
  onError: Parameters<OpenAPIHono<AppEnv>['onError']>[0],
): OpenAPIHono<AppEnv> {
  const app = createRouteApp();
  app.use('*', adopt);
  for (const register of registers) register(app, services);
  app.notFound(notFound);
  app.onError(onError);
  return app;
}
