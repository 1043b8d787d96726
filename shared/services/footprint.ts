/**
 * Energy and carbon of reservations and sites: the catalog's facility figures (board power, PUE, grid
 * carbon, heat reuse) applied by the pure `footprintOf` to what was metered, or else to what was
 * reserved (docs/footprint.md).
 */
import type { Catalog } from '#domain/catalog.ts';
import { footprintOf, type Footprint, type FootprintFactors } from '#domain/footprint.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import type { Reservation } from '#domain/reservation.ts';
import { HOUR_MS, epochHour } from '#domain/time.ts';
import type { CatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import { reservationUsageTotals, usageByHour } from '#store/usage.ts';
import type { Clock } from '../ids.ts';
import { mapLimited } from './map-limited.ts';

/** States whose GPUs were (or are) set aside for the customer. A hold that expired or was cancelled never ran. */
const RAN_OR_WILL_RUN: ReadonlySet<Reservation['status']> = new Set(['held', 'confirmed', 'active', 'completed', 'stopped']);
/** States in which a meter may have reported usage. */
const METERABLE: ReadonlySet<Reservation['status']> = new Set(['confirmed', 'active', 'completed', 'stopped']);

/** GPU-hours a reservation holds: its window × GPUs (an on-demand one up to its stop, or now while it runs). */
export function reservedGpuHours(r: Reservation, now: Date): number {
  if (!RAN_OR_WILL_RUN.has(r.status)) return 0;
  const end = r.end ? Date.parse(r.end) : now.getTime();
  return (Math.max(0, end - Date.parse(r.start)) / HOUR_MS) * r.gpus;
}

export function factorsFor(catalog: Catalog, siteId: string, gpuTypeId: string): FootprintFactors | null {
  const site = catalog.sites.find((s) => s.id === siteId);
  const gpu = catalog.gpuTypes.find((g) => g.id === gpuTypeId);
  if (!site || !gpu) return null;
  const f = { boardPowerWatts: gpu.boardPowerWatts, pue: site.pue, gridCarbonGramsPerKwh: site.gridCarbonGramsPerKwh, heatReuseFraction: site.heatReuseFraction };
  return Object.values(f).every((v) => typeof v === 'number' && Number.isFinite(v)) ? f : null;
}

export interface SiteEnergyReport {
  site: string;
  year: number;
  from: string;
  to: string;
  meteredGpuHours: number;
  itEnergyKwh: number;
  facilityEnergyKwh: number;
  pue: number;
  co2eKg: number;
  wasteHeatReusedKwh: number;
  heatReuseFraction: number;
  gridCarbonGramsPerKwh: number;
  pools: { poolId: string; gpuType: string; meteredGpuHours: number; itEnergyKwh: number }[];
  method: string;
  notAvailable: string[];
}

export function createFootprintService(deps: { db: Db; clock: Clock; catalog: CatalogCache }) {
  const { db, clock, catalog } = deps;
  return {
    /** Footprint of each reservation (null where the catalog lacks its site's or GPU type's figures). */
    async forReservations(list: Reservation[]): Promise<Map<string, Footprint | null>> {
      const out = new Map<string, Footprint | null>();
      if (list.length === 0) return out;
      const c = await catalog.get();
      const now = clock();
      // Usage lies within [start, end] and not after now: a booking that has not started has none to read.
      const totals = await mapLimited(list, 8, async (r) => {
        const fromHour = epochHour(new Date(r.start));
        const toHour = Math.ceil(Math.min(r.end ? Date.parse(r.end) : now.getTime(), now.getTime() + 5 * 60_000) / HOUR_MS);
        return toHour > fromHour && METERABLE.has(r.status) ? reservationUsageTotals(db, r.id, fromHour, toHour) : null;
      });
      list.forEach((r, i) => {
        const factors = factorsFor(c, r.site, r.gpuType);
        const t = totals[i];
        out.set(
          r.id,
          factors
            ? footprintOf({
                factors,
                reservedGpuHours: reservedGpuHours(r, now),
                metered: t ? { gpuSeconds: t.gpuSeconds, measuredGpuSeconds: t.measuredGpuSeconds, measuredEnergyWh: t.measuredEnergyWh } : null,
              })
            : null,
        );
      });
      return out;
    },

    /**
     * A site's energy over a calendar year (UTC) with the EU Energy Efficiency Directive (2023/1791,
     * art. 12) figures the data allows: IT energy and total energy from metered GPU-seconds × board
     * power × PUE, the PUE, waste heat reused. What the platform does not measure is listed as such.
     */
    async siteReport(siteId: string, year: number): Promise<SiteEnergyReport> {
      const c = await catalog.get();
      const site = c.sites.find((s) => s.id === siteId);
      if (!site) throw notFound('Site', siteId);
      if (!Number.isInteger(year) || year < 2000 || year > 2100) throw new DomainError('validation_failed', 'year: 2000 to 2100', { errors: [{ path: 'year', message: 'must be 2000 to 2100' }] });
      const fromMs = Date.UTC(year, 0, 1);
      const toMs = Math.min(Date.UTC(year + 1, 0, 1), Math.ceil(clock().getTime() / HOUR_MS) * HOUR_MS);
      const pools = c.pools.filter((p) => p.site === siteId);
      const perPool = await Promise.all(
        pools.map(async (p) => {
          const byHour = toMs > fromMs ? await usageByHour(db, { kind: 'pool', id: p.id }, fromMs / HOUR_MS, toMs / HOUR_MS) : new Map<number, number>();
          const gpuSeconds = [...byHour.values()].reduce((a, b) => a + b, 0);
          const factors = factorsFor(c, siteId, p.gpuType);
          const fp = factors ? footprintOf({ factors, reservedGpuHours: 0, metered: { gpuSeconds, measuredGpuSeconds: 0, measuredEnergyWh: 0 } }) : null;
          return { poolId: p.id, gpuType: p.gpuType, gpuSeconds, itWh: Math.round((fp?.itEnergyKwh ?? 0) * 1000) };
        }),
      );
      const itWh = perPool.reduce((s, p) => s + p.itWh, 0);
      const facilityWh = Math.round(itWh * site.pue);
      const gpuSeconds = perPool.reduce((s, p) => s + p.gpuSeconds, 0);
      return {
        site: siteId,
        year,
        from: new Date(fromMs).toISOString(),
        to: new Date(Math.max(fromMs, toMs)).toISOString(),
        meteredGpuHours: Math.round(gpuSeconds / 3.6) / 1000,
        itEnergyKwh: itWh / 1000,
        facilityEnergyKwh: facilityWh / 1000,
        pue: site.pue,
        co2eKg: Math.round((facilityWh * site.gridCarbonGramsPerKwh) / 1000) / 1000,
        wasteHeatReusedKwh: Math.round(facilityWh * site.heatReuseFraction) / 1000,
        heatReuseFraction: site.heatReuseFraction,
        gridCarbonGramsPerKwh: site.gridCarbonGramsPerKwh,
        pools: perPool.map((p) => ({ poolId: p.poolId, gpuType: p.gpuType, meteredGpuHours: Math.round(p.gpuSeconds / 3.6) / 1000, itEnergyKwh: p.itWh / 1000 })),
        method:
          'IT energy = metered GPU-seconds of the site’s pools × each GPU type’s board power; total energy = IT energy × the site’s PUE; waste heat reused = total energy × the heat-reuse fraction; CO2e = total energy × the grid carbon intensity (location-based). Metered by the platform’s meters; auxiliary loads outside the PUE figure are not measured here.',
        notAvailable: ['renewableEnergyFactor', 'waterConsumptionM3', 'temperatureSetPoints', 'dataTraffic', 'storageCapacity'],
      };
    },
  };
}

export type FootprintService = ReturnType<typeof createFootprintService>;
