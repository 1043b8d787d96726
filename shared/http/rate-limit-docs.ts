/** The rate limits as the OpenAPI document declares them (the limiter itself: shared/http/rate-limit.ts). */
import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { AppEnv } from './context.ts';
import { errorResponses } from './problem.ts';

const HEADER_REFS = {
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimitPolicy' },
  RateLimit: { $ref: '#/components/headers/RateLimit' },
  'Access-Control-Allow-Origin': { $ref: '#/components/headers/Access-Control-Allow-Origin' },
};

/**
 * Declares the limits on every operation of the registry, in one place: the `RateLimit-Policy` and
 * `RateLimit` headers (and CORS's `Access-Control-Allow-Origin`, shared/http/cors.ts) on every
 * response, and a 429 with `Retry-After` on every operation. Operations of `exempt` paths (Stripe's
 * webhook) are left as they are: the limiter never sees them. Call it after every route is registered.
 */
export function declareRateLimits(registry: OpenAPIHono<AppEnv>['openAPIRegistry'], exempt: (path: string) => boolean = () => false): void {
  registry.registerComponent('headers', 'RateLimitPolicy', {
    description: 'Quota policies that applied to this request (IETF httpapi ratelimit-headers draft), e.g. `"writes";q=60;w=60, "org-writes";q=120;w=60`',
    schema: { type: 'string', maxLength: 512 },
  });
  registry.registerComponent('headers', 'RateLimit', {
    description: 'Remaining quota `r` and seconds `t` until it resets, per policy, e.g. `"writes";r=42;t=17`',
    schema: { type: 'string', maxLength: 512 },
  });
  registry.registerComponent('headers', 'Access-Control-Allow-Origin', {
    description: 'The calling page’s origin, only when it is one the deployment allows (`CORS_ORIGINS`; in AWS, the stage’s `portalOrigins`); absent otherwise',
    schema: { type: 'string', format: 'uri', maxLength: 2048 },
  });
  registry.registerComponent('headers', 'RetryAfter', {
    description: 'Seconds to wait before retrying',
    schema: { type: 'integer', minimum: 1, maximum: 86_400 },
  });
  for (const def of registry.definitions) {
    if (def.type !== 'route' || exempt(def.route.path)) continue;
    const responses: RouteConfig['responses'] = {};
    for (const [status, response] of Object.entries(def.route.responses)) {
      responses[status] = '$ref' in response ? response : { ...response, headers: { ...(response.headers as object | undefined), ...HEADER_REFS } };
    }
    const tooMany = responses['429'];
    responses['429'] = {
      ...(tooMany && !('$ref' in tooMany) ? tooMany : errorResponses('rate_limited')[429]!),
      headers: { ...HEADER_REFS, 'Retry-After': { $ref: '#/components/headers/RetryAfter' } },
    };
    def.route = { ...def.route, responses };
  }
}
