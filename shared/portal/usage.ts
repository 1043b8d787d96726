/**
 * How the portal reads metered usage for its charts: GPU-seconds per UTC hour of one reservation.
 * The default reads the metering aggregates (shared/store/usage.ts); another source can be passed
 * to createPortalModule({ usage }).
 */
import type { Db } from '#store/db.ts';
import { usageByHour } from '#store/usage.ts';

export interface PortalUsage {
  /** GPU-seconds per epoch hour in [fromHour, toHour); hours without usage are absent. */
  gpuSecondsByHour(reservationId: string, fromHour: number, toHour: number): Promise<Map<number, number>>;
}

export const meteredUsage = (db: Db): PortalUsage => ({
  gpuSecondsByHour: (reservationId, fromHour, toHour) => usageByHour(db, { kind: 'reservation', id: reservationId }, fromHour, toHour),
});
