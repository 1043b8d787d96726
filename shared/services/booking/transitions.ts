/**
 * Timed transitions: hold expiry, start, ending soon, completion. Safe to run concurrently with the
 * API and with other sweepers: the version condition lets one writer win; the loser re-reads and
 * finds nothing to do.
 */
import { toApiReservation, type Reservation } from '#domain/reservation.ts';
import { epochHour } from '#domain/time.ts';
import { readPoolLoad, releaseProfileWrites, type releaseWrites } from '#store/capacity.ts';
import { releaseProfile } from '#domain/resale.ts';
import { reservationReplace } from '#store/reservations.ts';
import { holdLedgerClose } from '#store/hold-limits.ts';
import { eur } from '#domain/money.ts';
import { spendOf, type BookingDeps, type createCommitLoop } from './commit.ts';
import { ENDING_SOON_MS, poolById } from './rules.ts';

export function createTransitions(deps: BookingDeps, { change }: ReturnType<typeof createCommitLoop>) {
  const { db, catalog } = deps;
  const spend = spendOf(deps);
  return {
    /** Applies the one timed transition due for this reservation at `clock()`, if any. */
    advance(orgId: string, id: string): Promise<Reservation | null> {
      return change(orgId, id, async (r, now, changed) => {
        if (r.kind !== 'reserved') return { done: r };
        const at = (iso: string | null) => (iso ? new Date(iso) <= now : false);
        const move = (patch: Partial<Reservation>, event: string, items = [] as ReturnType<typeof releaseWrites>) => {
          const next = changed(patch);
          return { items: [...items, reservationReplace(db, r, next)], events: [{ type: event, data: toApiReservation(next) }], result: next };
        };
        if (r.status === 'held' && at(r.holdExpiresAt)) {
          const pool = await poolById(catalog, r.poolId);
          const sH = epochHour(new Date(r.start));
          const eH = epochHour(new Date(r.end!));
          const snapshot = await readPoolLoad(db, pool.id, pool.totalGpus, sH, eH);
          const spent = await spend(orgId, [{ kind: 'release_hold', price: r.price ?? eur(0), keyId: r.keyId ?? null, heldAt: r.createdAt }], null, now);
          const expired = move({ status: 'expired', holdExpiresAt: r.holdExpiresAt }, 'reservation.expired', releaseProfileWrites(db, snapshot, releaseProfile(r)));
          return { ...expired, items: [...expired.items, holdLedgerClose(db, orgId, r.poolId, r.gpus), ...spent.items], events: [...expired.events, ...spent.events] };
        }
        if (r.status === 'confirmed' && at(r.start)) return move({ status: 'active' }, 'reservation.started');
        if (r.status === 'active' && at(r.end)) return move({ status: 'completed', endingSoonNotified: true }, 'reservation.completed');
        if (r.status === 'active' && !r.endingSoonNotified && r.end && Date.parse(r.end) - now.getTime() <= ENDING_SOON_MS) {
          return move({ endingSoonNotified: true }, 'reservation.ending_soon');
        }
        return { done: r };
      });
    },
  };
}
