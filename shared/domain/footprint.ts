/**
 * Energy and carbon of a reservation (pure; docs/footprint.md has the worked example a test checks).
 *
 *   IT energy        metered: measured Wh where the meter sent them, plus GPU-seconds × board power
 *                    for the metered seconds without a measurement; reserved (nothing metered yet):
 *                    reserved GPU-hours × board power
 *   facility energy  IT energy × the site's PUE
 *   CO2e             facility energy × the site's grid carbon intensity (location-based)
 *   heat reused      facility energy × the site's heat-reuse fraction (every watt drawn ends as heat)
 *
 * Computed in whole watt-hours and whole grams, then shown as kWh and kg with three decimals, so the
 * same inputs always give the same figures.
 */

export interface FootprintFactors {
  boardPowerWatts: number;
  pue: number;
  gridCarbonGramsPerKwh: number;
  heatReuseFraction: number;
}

export interface MeteredEnergy {
  /** Every metered GPU-second of the reservation. */
  gpuSeconds: number;
  /** Of those, the GPU-seconds whose events carried a measured energy. */
  measuredGpuSeconds: number;
  /** The measured energy of those events, Wh. */
  measuredEnergyWh: number;
}

export type FootprintBasis = 'metered' | 'reserved';

export interface Footprint {
  itEnergyKwh: number;
  facilityEnergyKwh: number;
  co2eKg: number;
  heatReusedKwh: number;
  basis: FootprintBasis;
  method: string;
}

const thousandths = (whole: number): number => whole / 1000;
const fmt = (n: number): string => String(Math.round(n * 1000) / 1000);

/**
 * The footprint from what was metered when anything was, else from the reserved GPU-hours (a booking
 * that has not run yet, or ran without a meter). `reservedGpuHours` may be 0 (nothing to show: zeros).
 */
export function footprintOf(input: { factors: FootprintFactors; reservedGpuHours: number; metered: MeteredEnergy | null }): Footprint {
  const { factors: f, metered } = input;
  const basis: FootprintBasis = metered && metered.gpuSeconds > 0 ? 'metered' : 'reserved';
  let itWh: number;
  let source: string;
  if (basis === 'metered') {
    const estimatedSeconds = Math.max(0, metered!.gpuSeconds - metered!.measuredGpuSeconds);
    itWh = metered!.measuredEnergyWh + Math.round((estimatedSeconds * f.boardPowerWatts) / 3600);
    source =
      metered!.measuredGpuSeconds > 0
        ? `metered: ${metered!.measuredEnergyWh} Wh measured over ${metered!.measuredGpuSeconds} GPU-s, plus ${estimatedSeconds} GPU-s × ${f.boardPowerWatts} W board power`
        : `metered: ${metered!.gpuSeconds} GPU-s × ${f.boardPowerWatts} W board power`;
  } else {
    itWh = Math.round(input.reservedGpuHours * f.boardPowerWatts);
    source = `reserved: ${fmt(input.reservedGpuHours)} GPU-h × ${f.boardPowerWatts} W board power (full load assumed)`;
  }
  const facilityWh = Math.round(itWh * f.pue);
  const co2eGrams = Math.round((facilityWh * f.gridCarbonGramsPerKwh) / 1000);
  const heatWh = Math.round(facilityWh * f.heatReuseFraction);
  return {
    itEnergyKwh: thousandths(itWh),
    facilityEnergyKwh: thousandths(facilityWh),
    co2eKg: thousandths(co2eGrams),
    heatReusedKwh: thousandths(heatWh),
    basis,
    method: `${source}; facility = IT × PUE ${fmt(f.pue)}; CO2e = facility × ${fmt(f.gridCarbonGramsPerKwh)} g/kWh (site grid, location-based); heat reused = facility × ${fmt(f.heatReuseFraction)}`,
  };
}

/** Sums footprints' figures exactly (in Wh and grams) for a report. */
export function sumFootprints(list: readonly Pick<Footprint, 'itEnergyKwh' | 'facilityEnergyKwh' | 'co2eKg' | 'heatReusedKwh'>[]) {
  const sum = (k: 'itEnergyKwh' | 'facilityEnergyKwh' | 'co2eKg' | 'heatReusedKwh') => thousandths(list.reduce((s, x) => s + Math.round(x[k] * 1000), 0));
  return { itEnergyKwh: sum('itEnergyKwh'), facilityEnergyKwh: sum('facilityEnergyKwh'), co2eKg: sum('co2eKg'), heatReusedKwh: sum('heatReusedKwh') };
}
