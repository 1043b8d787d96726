/**
 * The services every entry point runs, each built once here: the catalog cache, booking (with its
 * billing hooks, spend controls and measured utilization), budgets, offers (priced with the same measured demand),
 * availability, operator actions, the catalog administration and metering. The API, the
 * sweeper, `npm start` and the tests all take them from this function, so they cannot drift apart.
 */
import type { BillingService } from '#billing/service.ts';
import type { HoldLimits } from '#domain/limits.ts';
import type { Services } from '#http/context.ts';
import { createCursorSealer } from '#http/cursor.ts';
import { createCatalogCache, type CatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import type { RetryPolicy } from '#store/retry.ts';
import { cursorSecret } from '#store/secrets.ts';
import type { EndpointService } from '#webhooks/endpoints.ts';
import { createAvailabilityService } from '../services/availability.ts';
import { createBookingService, type ReservationBilling } from '../services/booking.ts';
import { createBudgetService } from '../services/budgets.ts';
import { createCatalogAdmin } from '../services/catalog-admin.ts';
import { createMeasuredDemand } from '../services/demand.ts';
import { createFootprintService } from '../services/footprint.ts';
import { createMeteringService } from '../services/metering.ts';
import { createOfferService } from '../services/offers.ts';
import { createOperatorService } from '../services/operator.ts';
import { createMarketService } from '../services/market.ts';
import { createResaleService } from '../services/resale.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { Logger } from '../log.ts';

export interface ServicesBase {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
}

export interface ServicesOptions {
  /** The catalog cache to share (billing reads it too); one with a 30 s TTL otherwise. */
  catalog?: CatalogCache | undefined;
  catalogTtlMs?: number | undefined;
  /** Billing, when wired in: its routes, and its hooks on bookings unless `reservationBilling` says otherwise. */
  billing?: BillingService | undefined;
  /** What billing adds to a confirm, extend or cancel; default `billing.reservationBilling`, none without billing. */
  reservationBilling?: ReservationBilling | undefined;
  /** The webhook endpoints API, when wired in. */
  webhooks?: EndpointService | undefined;
  /** Booking's and catalog changes' optimistic-retry policy (tests shorten or lengthen it). */
  retry?: RetryPolicy | undefined;
  /** How long a pool's measured demand is kept per process (default 60 s; see services/demand.ts). */
  measuredDemandTtlMs?: number | undefined;
  /** Metering's retry policy and aggregate shards (tests shorten and vary them). */
  meteringRetry?: RetryPolicy | undefined;
  meteringShards?: number | undefined;
  /** Default hold limits (before operator overrides); DEFAULT_HOLD_LIMITS unless given. */
  holdLimits?: HoldLimits | undefined;
}

export function createServices(base: ServicesBase, options: ServicesOptions = {}): Services {
  const { db, clock, ids, logger } = base;
  const catalog = options.catalog ?? createCatalogCache(db, clock, options.catalogTtlMs ?? 30_000);
  // Quotes and offers price with the same measured demand: metered usage of the last 7 days.
  const measuredUtilizationBps = createMeasuredDemand(db, options.measuredDemandTtlMs === undefined ? {} : { ttlMs: options.measuredDemandTtlMs });
  const budgets = createBudgetService({ db, clock, ids, retry: options.retry });
  const resale = createResaleService({ db, clock, ids, catalog, retry: options.retry });
  const booking = createBookingService({
    db,
    clock,
    ids,
    catalog,
    billing: options.reservationBilling ?? options.billing?.reservationBilling,
    spend: budgets.reservationSpend,
    retry: options.retry,
    holdLimits: options.holdLimits,
    measuredUtilizationBps,
    // Resale settles a sale when its buyer confirms, gives hours back when a buyer's hold lapses, ends a cancelled seller's listings.
    hooks: [resale.hook],
  });
  return {
    db,
    clock,
    ids,
    logger,
    catalog,
    booking,
    budgets,
    offers: createOfferService({ db, clock, catalog, retry: options.retry, measuredUtilizationBps }),
    availability: createAvailabilityService({ db, catalog, clock }),
    cursors: createCursorSealer(() => cursorSecret(db)),
    resale,
    market: createMarketService({ db, catalog }),
    operator: createOperatorService({ db, clock, ids, catalog }),
    catalogAdmin: createCatalogAdmin({ db, clock, ids, catalog, retry: options.retry }),
    footprint: createFootprintService({ db, clock, catalog }),
    metering: createMeteringService({ db, clock, retry: options.meteringRetry, shards: options.meteringShards }),
    billing: options.billing,
    holdLimits: options.holdLimits,
    webhooks: options.webhooks,
    // The portal's session store, loaded on the first request that needs it (a GET without a key).
    sessionPrincipal: async (cookieHeader, now, https) => (await import('#portal/session.ts')).principalFromSessionCookie(db, cookieHeader, now, https),
  };
}
