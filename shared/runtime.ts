/**
 * The composition root: builds every client and service once (per cold start, per `npm start`, per
 * test file) and hands them down. Nothing below this reads the environment or holds a singleton.
 */
import { createBookingService, type ReservationBilling } from './services/booking.ts';
import { createOfferService } from './services/offers.ts';
import { createBudgetService } from './services/budgets.ts';
import { createMeasuredDemand } from './services/demand.ts';
import { createApp } from '#http/app.ts';
import { consoleLogger, type AppDeps, type AppModule, type Logger } from '#http/context.ts';
import { createCatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import type { RateLimitConfig } from '#http/rate-limit.ts';
import type { HoldLimits } from '#domain/limits.ts';
import type { RetryPolicy } from '#store/retry.ts';
import { createIdGenerator, systemClock, type Clock, type IdGenerator } from './ids.ts';

export interface RuntimeOptions {
  db: Db;
  clock?: Clock;
  ids?: IdGenerator;
  logger?: Logger;
  billing?: ReservationBilling;
  retry?: RetryPolicy;
  modules?: AppModule[];
  maxBodyBytes?: number;
  catalogTtlMs?: number;
  /** How long a pool's measured demand is kept per process (default 60 s; see services/demand.ts). */
  measuredDemandTtlMs?: number;
  rateLimits?: RateLimitConfig;
  /** Default hold limits (before operator overrides); DEFAULT_HOLD_LIMITS unless given. */
  holdLimits?: HoldLimits;
}

export function createRuntime(options: RuntimeOptions) {
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? createIdGenerator(clock);
  const catalog = createCatalogCache(options.db, clock, options.catalogTtlMs ?? 30_000);
  // Quotes and offers price with the same measured demand: metered usage of the last 7 days.
  const measuredUtilizationBps = createMeasuredDemand(options.db, options.measuredDemandTtlMs === undefined ? {} : { ttlMs: options.measuredDemandTtlMs });
  const budgets = createBudgetService({ db: options.db, clock, ids, retry: options.retry });
  const booking = createBookingService({
    db: options.db,
    clock,
    ids,
    catalog,
    billing: options.billing,
    spend: budgets.reservationSpend,
    retry: options.retry,
    holdLimits: options.holdLimits,
    measuredUtilizationBps,
  });
  const offers = createOfferService({ db: options.db, clock, catalog, retry: options.retry, measuredUtilizationBps });
  const deps: AppDeps = {
    db: options.db,
    clock,
    ids,
    catalog,
    booking,
    offers,
    budgets,
    logger: options.logger ?? consoleLogger,
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}),
    ...(options.holdLimits ? { holdLimits: options.holdLimits } : {}),
    modules: options.modules ?? [],
  };
  return { deps, app: createApp(deps) };
}
export type Runtime = ReturnType<typeof createRuntime>;
