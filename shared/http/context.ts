import type { OpenAPIHono } from '@hono/zod-openapi';
import type { BillingService } from '#billing/service.ts';
import type { HoldLimits } from '#domain/limits.ts';
import type { Principal } from '#domain/principal.ts';
import type { CatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import type { EndpointService } from '#webhooks/endpoints.ts';
import type { AvailabilityService } from '../services/availability.ts';
import type { BookingService } from '../services/booking.ts';
import type { BudgetService } from '../services/budgets.ts';
import type { CatalogAdmin } from '../services/catalog-admin.ts';
import type { FootprintService } from '../services/footprint.ts';
import type { MeteringService } from '../services/metering.ts';
import type { OfferService } from '../services/offers.ts';
import type { OperatorService } from '../services/operator.ts';
import type { MarketService } from '../services/market.ts';
import type { ResaleService } from '../services/resale.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { Logger } from '../log.ts';
import type { CursorSealer } from './cursor.ts';
import type { RateLimitConfig, WriteRefusal } from './rate-limit.ts';

export type { Logger } from '../log.ts';

/**
 * Every service the routes call, each built once by the composition root (shared/compose/) and
 * handed to every route module as `register(app, services)`. Nothing in shared/http builds a service.
 */
export interface Services {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  catalog: CatalogCache;
  booking: BookingService;
  offers: OfferService;
  /** Spend controls: budgets, org admins' key management, the booking hook (shared/services/budgets.ts). */
  budgets: BudgetService;
  availability: AvailabilityService;
  /** Resale listings (shared/services/resale.ts); its booking hook is wired into booking by the composition root. */
  resale: ResaleService;
  /** Market data (GET /v1/market/prices). */
  market: MarketService;
  operator: OperatorService;
  catalogAdmin: CatalogAdmin;
  metering: MeteringService;
  /** Energy and carbon of reservations, the operator's energy report. */
  footprint: FootprintService;
  /** Seals the store's list cursors into opaque, tamper-proof ones and opens them (shared/http/cursor.ts). */
  cursors: CursorSealer;
  /** Present where billing is wired in (the system; tests that bill). */
  billing?: BillingService | undefined;
  /** The webhook endpoints API, where webhooks are wired in. */
  webhooks?: EndpointService | undefined;
  /**
   * The principal of the portal session named by a raw `Cookie` header (the API accepts it on GETs,
   * e.g. the finance CSV link); null without a live session. `https`: the request came over https
   * (the cookie's name depends on it). Wired by compose to the portal's sessions.
   */
  /** Default hold limits (before operator overrides; GET /v1/limits shows them). */
  holdLimits?: HoldLimits | undefined;
  /** The rate limits the app enforces (set by createApp from its options; GET /v1/limits shows them). */
  rateLimits?: RateLimitConfig | undefined;
  sessionPrincipal(cookieHeader: string | undefined, now: Date, https: boolean): Promise<Principal | null>;
}

export interface AppOptions {
  /** Rate limits; DEFAULT_RATE_LIMITS unless the composition raises them (test suites that hammer the API). */
  rateLimits?: RateLimitConfig | undefined;
  /** Largest accepted request body. */
  maxBodyBytes?: number | undefined;
  /** Browser origins allowed by CORS (`CORS_ORIGINS`); none by default. */
  corsOrigins?: readonly string[] | undefined;
  /** Route modules beyond the core (metering, billing, webhooks, portal), in registration order. */
  modules?: AppModule[] | undefined;
}

export type AppEnv = {
  Variables: {
    principal: Principal | null;
    requestId: string;
    /** When the request reached the app (performance.now()): a rush on one pool is decided in this order. */
    receivedAt: number;
    /** The services, for the middleware that runs before any route (authentication, idempotency, rate limits); route modules get them as `register(app, services)`. */
    deps: Services;
    /** Counts an action outside /v1 (a portal button) as the API write at `apiPath` is counted (RateLimiter.chargeWrite). */
    chargeWrite: (principal: Principal, apiPath: string) => Promise<WriteRefusal | null>;
    /** A valid Idempotency-Key of this POST, until the route has authorized the caller and used it. */
    idempotencyKey?: string | undefined;
  };
};
export type App = OpenAPIHono<AppEnv>;

/** Adds routes to an app, over the services the composition root built. */
export type RegisterRoutes = (app: App, services: Services) => void;

export interface AppModule {
  name: string;
  /**
   * The module's API routes (part of the OpenAPI document), loaded on the first request under one of
   * the first path segments they live under (`v1/reservations` for /v1/reservations/{id}/extend,
   * `healthz`): `load` imports the route code (its schemas, with zod) then, and returns how to
   * register it. A route whose path lies outside `under` is refused when it is registered.
   */
  api?: { readonly under: readonly string[]; load(): Promise<RegisterRoutes> };
  /** Paths under /v1 that do not take an API key (e.g. Stripe's webhook, which is signed instead). */
  publicPaths?: string[];
  /**
   * Pages outside /v1 (the portal), answered by an app of their own that gets every request outside
   * /v1 that no route of the API matched, its 404s included. `load` runs on the first such request
   * and returns how to register the pages, so their code (and everything only they import) is
   * loaded then, not when the API starts. At most one module of an app has pages.
   */
  pages?: () => Promise<RegisterRoutes>;
}

/** A service a route module needs, or a wiring error at start-up (never at request time). */
export function required<T>(service: T | undefined, name: string): T {
  if (!service) throw new Error(`the ${name} routes need services.${name}: wire it in shared/compose`);
  return service;
}
