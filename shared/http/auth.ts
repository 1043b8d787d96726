import type { MiddlewareHandler } from 'hono';
import { DomainError } from '#domain/errors.ts';
import type { Principal, Role } from '#domain/principal.ts';
import { principalForKey } from '#store/orgs.ts';
import type { AppEnv } from './context.ts';
import { runIdempotent } from './idempotency.ts';

/** The scheme is case-insensitive (RFC 9110 §11.1): `bearer`, `BEARER` and `Bearer` alike. */
const BEARER = /^Bearer\s+([A-Za-z0-9_\-.]{8,200})\s*$/i;

/** Resolves `Authorization: Bearer <key>` to a principal; 401 without a valid, unrevoked key. */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header('authorization');
  if (!header) {
    // A signed-in portal user may follow plain links to read-only API resources (e.g. the CSV export).
    // Only safe methods: writes always need the key (and so cannot be forged cross-site).
    const deps = c.get('deps');
    const fromSession = c.req.method === 'GET' ? await deps.sessionPrincipal(c.req.header('cookie'), deps.clock(), new URL(c.req.url).protocol === 'https:') : null;
    if (!fromSession) throw new DomainError('unauthenticated', 'Send your API key as `Authorization: Bearer <key>`');
    c.set('principal', fromSession);
    return next();
  }
  const match = BEARER.exec(header);
  const principal = match ? await principalForKey(c.get('deps').db, match[1]!) : null;
  if (!principal) throw new DomainError('unauthenticated', 'The API key is invalid or revoked');
  c.set('principal', principal);
  await next();
};

export function principalOf(c: { get(key: 'principal'): Principal | null }): Principal {
  const p = c.get('principal');
  if (!p) throw new DomainError('unauthenticated', 'Send your API key as `Authorization: Bearer <key>`');
  return p;
}

/**
 * 403 unless the caller has one of the roles (and, with `orgAdmin`, is an admin of its org). Then, and
 * only then, an Idempotency-Key is looked up: a replay never answers a caller the route refuses.
 * `memberOwnBookingsOnly` declares what the service checks against the resource: a member acts only
 * on bookings its own key made (admins on all of the org's); it is part of the operation's `x-access`.
 */
export function requireRole(roles: Role[], options: { orgAdmin?: boolean; memberOwnBookingsOnly?: boolean } = {}): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const p = principalOf(c);
    if (!roles.includes(p.role)) {
      throw new DomainError('forbidden', `This operation is for ${roles.join(' or ')} keys; this key is a ${p.role} key`);
    }
    if (options.orgAdmin && p.role === 'customer' && p.orgRole !== 'admin') {
      throw new DomainError('forbidden', 'This operation is for org admins');
    }
    return runIdempotent(c, next);
  };
  ACCESS.set(middleware, { roles: [...roles], orgAdmin: options.orgAdmin === true, memberOwnBookingsOnly: options.memberOwnBookingsOnly === true });
  return middleware;
}

/** Who may call an operation, as its route declares it: the document's `x-access` (the access suite reads it). */
export type Access = { public: true } | { public: false; roles: Role[]; orgAdmin: boolean; memberOwnBookingsOnly: boolean };

export const ALL_ROLES: readonly Role[] = ['customer', 'finance', 'operator', 'meter'];

const ACCESS = new WeakMap<MiddlewareHandler<AppEnv>, { roles: Role[]; orgAdmin: boolean; memberOwnBookingsOnly: boolean }>();

/**
 * The access a route declares: public without an `ApiKey` security requirement; otherwise the roles of its requireRole
 * middleware (every authenticated role without one). Stamped on the operation as `x-access` by createApp.
 */
export function accessOf(route: { security?: unknown[] | undefined; middleware?: unknown }): Access {
  // Public: no API-key requirement (none at all, or another scheme such as Stripe's signature).
  if (!(route.security ?? []).some((requirement) => typeof requirement === 'object' && requirement !== null && 'ApiKey' in requirement)) return { public: true };
  const middleware = (Array.isArray(route.middleware) ? route.middleware : route.middleware ? [route.middleware] : []) as MiddlewareHandler<AppEnv>[];
  const declared = middleware.map((m) => ACCESS.get(m)).filter((a) => a !== undefined);
  if (declared.length === 0) return { public: false, roles: [...ALL_ROLES], orgAdmin: false, memberOwnBookingsOnly: false };
  return {
    public: false,
    roles: ALL_ROLES.filter((r) => declared.every((d) => d.roles.includes(r))),
    orgAdmin: declared.some((d) => d.orgAdmin),
    memberOwnBookingsOnly: declared.some((d) => d.memberOwnBookingsOnly),
  };
}
