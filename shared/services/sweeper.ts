import { listDue } from '#store/reservations.ts';
import type { Db } from '#store/db.ts';
import type { Clock } from '../ids.ts';
import type { BookingService } from './booking.ts';

/**
 * Applies every due timed transition (hold expiry, start, ending soon, completion). Runs every minute
 * in AWS and every few seconds under `npm start`; holds expire even when nobody calls the API.
 */
export async function sweepDueReservations(deps: { db: Db; clock: Clock; booking: BookingService }, maxRounds = 50): Promise<number> {
  let applied = 0;
  for (let round = 0; round < maxRounds; round++) {
    const due = await listDue(deps.db, deps.clock(), 100);
    if (due.length === 0) break;
    const results = await Promise.allSettled(due.map((r) => deps.booking.advance(r.orgId, r.id)));
    let progressed = 0;
    for (const [i, res] of results.entries()) {
      if (res.status === 'fulfilled' && res.value && res.value.version !== due[i]!.version) progressed++;
    }
    applied += progressed;
    if (progressed === 0) break;
  }
  return applied;
}
