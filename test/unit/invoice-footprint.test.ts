import { describe, expect, it } from 'vitest';
import { footprintOf } from '../../shared/domain/footprint.ts';
import { withLineFootprints, type InvoiceLine } from '../../shared/domain/invoice.ts';
import { eur } from '../../shared/domain/money.ts';

const factors = { boardPowerWatts: 700, pue: 1.2, gridCarbonGramsPerKwh: 50, heatReuseFraction: 0.3 };
const line = (kind: InvoiceLine['kind'], gpuSeconds: number | null): InvoiceLine => ({
  kind,
  description: kind,
  amount: eur(100),
  tax: eur(20),
  site: 'valence-rovaltain',
  gpuType: 'h100-sxm-80gb',
  poolId: 'valence-rovaltain-h100',
  gpuSeconds,
  unitPrice: null,
  usagePeriod: kind === 'usage' ? '2026-11' : null,
});

describe('footprint per invoice line', () => {
  it('a booking line from its GPU-hours (reserved), a usage line from its metered GPU-seconds, none for lines without GPU-seconds', () => {
    const invoice = withLineFootprints({ lines: [line('base', 192 * 3600), line('usage', 48 * 3600), line('utilization', null)] }, () => factors);
    expect(invoice.lines[0]!.footprint).toEqual(footprintOf({ factors, reservedGpuHours: 192, metered: null }));
    expect(invoice.lines[0]!.footprint).toMatchObject({ basis: 'reserved', itEnergyKwh: 134.4, facilityEnergyKwh: 161.28 });
    expect(invoice.lines[1]!.footprint).toMatchObject({ basis: 'metered', itEnergyKwh: 33.6, facilityEnergyKwh: 40.32, heatReusedKwh: 12.096 });
    expect(invoice.lines[2]!.footprint).toBeNull();
  });

  it('unknown factors (a site or GPU type gone from the catalog) give null, never a guess', () => {
    expect(withLineFootprints({ lines: [line('base', 3600)] }, () => null).lines[0]!.footprint).toBeNull();
  });
});
