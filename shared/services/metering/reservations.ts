/** The reservations a batch of usage events refers to: their org from the index (cached), then their current state. */
import type { Reservation } from '#domain/reservation.ts';
import type { Db } from '#store/db.ts';
import { readReservations, reservationOrg } from '#store/usage.ts';
import type { RetryTransient } from './counting.ts';
import { mapLimited } from '../map-limited.ts';

export function createReservationLookup(db: Db, lookupConcurrency: number, retryTransient: RetryTransient) {
  /** reservation id → org id: immutable, so cached for the life of the process (bounded). */
  const orgOfReservation = new Map<string, string>();
  const ORG_CACHE_LIMIT = 100_000;

  /** The reservations a batch refers to, read strongly consistently (their status and end matter). */
  async function reservationsById(ids: string[]): Promise<Map<string, Reservation>> {
    const unknown = ids.filter((id) => !orgOfReservation.has(id));
    const orgs = await mapLimited(unknown, lookupConcurrency, (id) => retryTransient(() => reservationOrg(db, id)));
    if (orgOfReservation.size + unknown.length > ORG_CACHE_LIMIT) orgOfReservation.clear();
    unknown.forEach((id, i) => {
      const orgId = orgs[i];
      if (orgId) orgOfReservation.set(id, orgId);
    });
    const refs = ids.flatMap((id) => {
      const orgId = orgOfReservation.get(id);
      return orgId ? [{ orgId, id }] : [];
    });
    return retryTransient(() => readReservations(db, refs));
  }

  return reservationsById;
}
