/**
 * Booking: quotes, holds, confirmations, extensions, cancellations, on-demand starts and stops, and
 * the timed transitions. Assembled from:
 *   booking/rules.ts        what a request must satisfy (the capacity rule is `assertFree`, domain/capacity.ts)
 *   booking/commit.ts       dependencies, effects other services add, the optimistic commit loop
 *   booking/sequencer.ts    the per-pool group commit that creates reservations
 *   booking/quote.ts        quotes (measured utilization cached per pool)
 *   booking/create.ts       holds and on-demand starts
 *   booking/changes.ts      confirm, extend, cancel, stop
 *   booking/transitions.ts  hold expiry, start, ending soon, completion
 * Every change is one DynamoDB transaction carrying the capacity it takes or frees, the reservation
 * and its outbox event (docs/table-design.md).
 */
import { createChanges } from './booking/changes.ts';
import { createCommitLoop, type BookingDeps } from './booking/commit.ts';
import { createCreates } from './booking/create.ts';
import { createQuotes } from './booking/quote.ts';
import { createSequencer } from './booking/sequencer.ts';
import { createTransitions } from './booking/transitions.ts';

export type { BillingEffect, BookingDeps, BookingEffect, BookingHook, ReservationBilling, ReservationSpend, SpendEffect } from './booking/commit.ts';
export type { CreateOptions } from './booking/create.ts';
export type { QuoteRequest } from './booking/quote.ts';
export { ENDING_SOON_MS, HOLD_TTL_MS, QUOTE_TTL_MS, cancellationRefund } from './booking/rules.ts';

export function createBookingService(deps: BookingDeps) {
  const loop = createCommitLoop(deps);
  return {
    ...createQuotes(deps),
    ...createCreates(deps, createSequencer(deps)),
    ...createChanges(deps, loop),
    ...createTransitions(deps, loop),
  };
}

export type BookingService = ReturnType<typeof createBookingService>;
