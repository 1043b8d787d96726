import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Principal } from '#domain/principal.ts';
import type { BookingService } from '../services/booking.ts';
import type { OfferService } from '../services/offers.ts';
import type { BudgetService } from '../services/budgets.ts';
import type { CatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { RateLimitConfig } from './rate-limit.ts';
import type { HoldLimits } from '#domain/limits.ts';

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const consoleLogger: Logger = {
  info: (message, fields) => console.log(JSON.stringify({ level: 'INFO', message, ...fields })),
  warn: (message, fields) => console.warn(JSON.stringify({ level: 'WARN', message, ...fields })),
  error: (message, fields) => console.error(JSON.stringify({ level: 'ERROR', message, ...fields })),
};

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** Everything the HTTP app needs, built once per cold start by the entry point. */
export interface AppDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  catalog: CatalogCache;
  booking: BookingService;
  offers: OfferService;
  /** Spend controls: budgets, org admins' key management, the booking hook (shared/services/budgets.ts). */
  budgets: BudgetService;
  logger: Logger;
  /** Rate limits; DEFAULT_RATE_LIMITS unless the composition raises them (test suites that hammer the API). */
  rateLimits?: RateLimitConfig;
  /** Default hold limits before operator overrides (GET /v1/limits shows them). */
  holdLimits?: HoldLimits;
  /** Largest accepted request body. */
  maxBodyBytes?: number;
  /** Extra route modules (metering, billing, webhooks, portal) register themselves through this list. */
  modules?: AppModule[];
}

export type AppEnv = {
  Variables: {
    principal: Principal | null;
    requestId: string;
    deps: AppDeps;
    /** A valid Idempotency-Key of this POST, until the route has authorized the caller and used it. */
    idempotencyKey?: string | undefined;
  };
};
export type App = OpenAPIHono<AppEnv>;

export interface AppModule {
  name: string;
  register(app: App, deps: AppDeps): void;
  /** Paths under /v1 that do not take an API key (e.g. Stripe's webhook, which is signed instead). */
  publicPaths?: string[];
}
