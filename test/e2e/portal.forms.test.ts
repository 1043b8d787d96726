/** The Book form's parsing: UTC inputs, sites and GPU types by id or name, field errors by label. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeFieldError, parseBookingForm, parseUtcInput, slugify } from '../../shared/portal/booking-form.ts';
import { toUtcInput } from '../../shared/portal/format.ts';
import { GPU_TYPES, POOLS, SITES } from '../../shared/store/seed.ts';

const catalog = { sites: SITES, gpuTypes: GPU_TYPES, pools: POOLS };
const form = (over: Partial<Record<'site' | 'gpuType' | 'gpus' | 'start' | 'end', string>> = {}) => ({
  site: 'valence-rovaltain',
  gpuType: 'h100-sxm-80gb',
  gpus: '16',
  start: '2026-12-01T08:00',
  end: '2026-12-03T08:00',
  ...over,
});

describe('parseUtcInput', () => {
  it('reads what a datetime-local field sends as UTC, with optional seconds, Z, UTC or an offset', () => {
    const at = '2026-12-01T08:00:00.000Z';
    for (const text of ['2026-12-01T08:00', '2026-12-01 08:00', '2026-12-01T08:00:00', '2026-12-01T08:00:00Z', '2026-12-01T08:00Z', ' 2026-12-01T08:00 UTC ', '2026-12-01T09:00+01:00', '2026-12-01T03:00-0500']) {
      expect(parseUtcInput(text)?.toISOString(), text).toBe(at);
    }
  });

  it('refuses what is not a real date and time', () => {
    for (const text of ['', 'tomorrow', '2026-02-30T08:00', '2026-12-01T24:00', '2026-12-01', '2026-12-01T08:00+15:00', '12/01/2026 08:00']) {
      expect(parseUtcInput(text), text).toBeNull();
    }
  });

  it('round-trips every minute it shows in the Start and End fields', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1) / 60_000, max: Date.UTC(2100, 0, 1) / 60_000 }), (minute) => {
        const iso = new Date(minute * 60_000).toISOString();
        expect(parseUtcInput(toUtcInput(iso))?.toISOString()).toBe(iso);
      }),
    );
  });
});

describe('parseBookingForm', () => {
  it('accepts sites and GPU types by id, display name or an unambiguous beginning', () => {
    for (const [site, gpuType] of [
      ['valence-rovaltain', 'h100-sxm-80gb'],
      ['Valence–Rovaltain', 'H100 SXM 80GB'],
      ['VALENCE ROVALTAIN', 'h100'],
    ] as const) {
      const parsed = parseBookingForm(form({ site, gpuType }), catalog);
      expect(parsed).toEqual({ ok: true, request: { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 16, start: '2026-12-01T08:00:00.000Z', end: '2026-12-03T08:00:00.000Z' } });
    }
    expect(slugify('Valence–Rovaltain')).toBe('valence-rovaltain');
  });

  it('names every wrong field by the label the person sees', () => {
    const parsed = parseBookingForm(form({ site: 'lyon', gpuType: 'sxm', gpus: '8.5', start: 'now', end: '' }), catalog);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors.map(describeFieldError)).toEqual([
      'Site: unknown site "lyon"; choose one of valence-rovaltain, marseille, grand-est',
      'GPU type: unknown GPU type "sxm"; choose one of h100-sxm-80gb, h200-sxm-141gb, b200-sxm-192gb',
      'GPUs: enter a whole number of GPUs greater than 0, e.g. 8',
      'Start: "now" is not a UTC date and time like 2026-12-01T08:00',
      'End: enter a UTC date and time, e.g. 2026-12-01T08:00',
    ]);
    const backwards = parseBookingForm(form({ start: '2026-12-03T08:00', end: '2026-12-01T08:00' }), catalog);
    expect(backwards).toEqual({ ok: false, errors: [{ path: 'end', message: 'must be after Start' }] });
    expect(parseBookingForm(form({ gpus: '0' }), catalog).ok).toBe(false);
  });
});
