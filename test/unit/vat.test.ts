import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyBps, eur, sumMoney, type Money } from '#domain/money.ts';
import { EU_COUNTRIES, EXPORT_MENTION, REVERSE_CHARGE_MENTION, invoiceTotals, isEuCountry, lineTaxes, taxOnSubtotal, taxTreatmentFor } from '#domain/vat.ts';

describe('taxTreatmentFor', () => {
  it('charges French VAT 20 % to a French customer, VAT number or not', () => {
    const expected = { treatment: 'fr_vat', rateBps: 2000, legalMention: null };
    expect(taxTreatmentFor({ country: 'FR', vatNumber: 'FR40303265045' })).toEqual(expected);
    expect(taxTreatmentFor({ country: 'FR' })).toEqual(expected);
    expect(taxTreatmentFor({ country: 'fr', vatNumber: null })).toEqual(expected);
  });

  it('treats Monaco as inside the French VAT territory', () => {
    expect(taxTreatmentFor({ country: 'MC', vatNumber: 'FR00000000000' }).treatment).toBe('fr_vat');
  });

  it('reverse-charges another EU business with a VAT number, with the legal mention', () => {
    expect(taxTreatmentFor({ country: 'DE', vatNumber: 'DE129273398' })).toEqual({
      treatment: 'eu_reverse_charge',
      rateBps: 0,
      legalMention: 'Autoliquidation / VAT reverse charge — Article 196 of Council Directive 2006/112/EC',
    });
    expect(taxTreatmentFor({ country: 'EL', vatNumber: 'EL094014201' }).treatment).toBe('eu_reverse_charge');
  });

  it('charges French VAT to an EU customer without a VAT number (blank counts as none)', () => {
    const expected = { treatment: 'eu_vat', rateBps: 2000, legalMention: null };
    expect(taxTreatmentFor({ country: 'IT' })).toEqual(expected);
    expect(taxTreatmentFor({ country: 'IT', vatNumber: null })).toEqual(expected);
    expect(taxTreatmentFor({ country: 'IT', vatNumber: '   ' })).toEqual(expected);
  });

  it('charges no VAT outside the EU, with the CGI mention, VAT number or not', () => {
    const expected = { treatment: 'export_none', rateBps: 0, legalMention: 'VAT not applicable — Article 259-1 of the French CGI' };
    expect(taxTreatmentFor({ country: 'US' })).toEqual(expected);
    expect(taxTreatmentFor({ country: 'GB', vatNumber: 'GB123456789' })).toEqual(expected);
    expect(taxTreatmentFor({ country: 'CH', vatNumber: 'CHE-123.456.789' })).toEqual(expected);
    expect(EXPORT_MENTION).toBe(expected.legalMention);
  });

  it('rejects something that is not a two-letter country code', () => {
    for (const bad of ['', 'FRA', 'F', '12', 'France']) expect(() => taxTreatmentFor({ country: bad }), bad).toThrow(RangeError);
  });

  it('lists the 27 member states once each', () => {
    expect(EU_COUNTRIES).toHaveLength(27);
    expect(new Set(EU_COUNTRIES).size).toBe(27);
    expect(isEuCountry('de')).toBe(true);
    expect(isEuCountry('EL')).toBe(true);
    expect(isEuCountry('GB')).toBe(false);
    expect(isEuCountry('NO')).toBe(false);
  });

  it('gives every EU country but France the reverse charge with a VAT number (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...EU_COUNTRIES.filter((c) => c !== 'FR')), fc.string({ minLength: 1 }).filter((s) => s.trim() !== ''), (country, vatNumber) => {
        const t = taxTreatmentFor({ country, vatNumber });
        expect(t).toEqual({ treatment: 'eu_reverse_charge', rateBps: 0, legalMention: REVERSE_CHARGE_MENTION });
      }),
    );
  });
});

describe('VAT on an invoice: on the subtotal, rounded once, half up (docs/pricing.md)', () => {
  /** The written rule recomputed independently: subtotal × rate / 10000 in exact rationals, rounded half away from zero. */
  const rule = (ls: Money[], rateBps: number): number => {
    const n = BigInt(ls.reduce((acc, l) => acc + l.amount, 0)) * BigInt(rateBps);
    const magnitude = n < 0n ? -n : n;
    const rounded = (magnitude + 5000n) / 10000n;
    return Number(n < 0n ? -rounded : rounded);
  };

  it('a €18,293.99 subtotal carries €3,658.80 of VAT at 20 %, not the €3,658.81 that rounding each line gives', () => {
    // Lines that sum to €18,293.99, three of whose VAT (x.6 cents) each round up on their own.
    const lines = [eur(1_000_003), eur(729_323), eur(100_003), eur(70)];
    expect(sumMoney(lines)).toEqual(eur(1_829_399));
    expect(lines.reduce((acc, l) => acc + applyBps(l.amount, 2000), 0)).toBe(365_881);
    expect(invoiceTotals(lines, 2000)).toEqual({ subtotal: eur(1_829_399), tax: eur(365_880), total: eur(2_195_279) });
    expect(taxOnSubtotal(eur(1_829_399), 2000)).toEqual(eur(365_880));
    const shares = lineTaxes(lines, 2000);
    expect(shares).toEqual([eur(200_000), eur(145_865), eur(20_001), eur(14)]);
    expect(sumMoney(shares)).toEqual(eur(365_880));
  });

  it('rounds half away from zero, once: ties go up, negative subtotals mirror positive ones', () => {
    // Three lines of 2 cents at 20 %: 1.2 → 1 (each line alone would round to 0)
    expect(invoiceTotals([eur(2), eur(2), eur(2)], 2000).tax).toEqual(eur(1));
    // 25 cents at 10 %: 2.5 → 3; −25 cents: −2.5 → −3
    expect(taxOnSubtotal(eur(25), 1000)).toEqual(eur(3));
    expect(taxOnSubtotal(eur(-25), 1000)).toEqual(eur(-3));
    // The worked example of docs/pricing.md: €4,055.46 × 20 % = 811.092 → €811.09
    expect(invoiceTotals([eur(396_480), eur(-19_824), eur(-11_300), eur(40_190)], 2000)).toEqual({ subtotal: eur(405_546), tax: eur(81_109), total: eur(486_655) });
  });

  it('has no tax on an empty invoice or at 0 %', () => {
    expect(invoiceTotals([], 2000)).toEqual({ subtotal: eur(0), tax: eur(0), total: eur(0) });
    expect(lineTaxes([], 2000)).toEqual([]);
    expect(invoiceTotals([eur(405546), eur(-19824)], 0)).toEqual({ subtotal: eur(385722), tax: eur(0), total: eur(385722) });
  });

  it('rejects a negative or fractional rate', () => {
    expect(() => taxOnSubtotal(eur(100), -1)).toThrow(RangeError);
    expect(() => invoiceTotals([eur(100)], 19.6)).toThrow(RangeError);
  });

  const lines = fc.array(fc.integer({ min: -1e11, max: 1e12 }).map(eur), { maxLength: 40 });
  const rate = fc.oneof(fc.constantFrom(0, 550, 1000, 2000), fc.integer({ min: 0, max: 10000 }));

  it('tax = the written rule exactly, total = subtotal + tax, and the line shares sum to the tax (property)', () => {
    fc.assert(
      fc.property(lines, rate, (ls, rateBps) => {
        const t = invoiceTotals(ls, rateBps);
        expect(t.subtotal).toEqual(sumMoney(ls));
        expect(t.tax.amount).toBe(rule(ls, rateBps));
        expect(t.total.amount).toBe(t.subtotal.amount + t.tax.amount);
        // Within half a cent of the exact VAT: |2 × 10000 × tax − 2 × subtotal × rate| ≤ 10000.
        const twiceErrorTimes10000 = 2n * BigInt(t.tax.amount) * 10000n - 2n * BigInt(t.subtotal.amount) * BigInt(rateBps);
        expect(twiceErrorTimes10000 <= 10000n && twiceErrorTimes10000 >= -10000n).toBe(true);
        const shares = lineTaxes(ls, rateBps);
        expect(shares).toHaveLength(ls.length);
        expect(shares.reduce((acc, m) => acc + m.amount, 0)).toBe(ls.length === 0 ? 0 : t.tax.amount);
        // Every line but the largest carries its own VAT rounded half up; the largest takes the difference.
        const largest = ls.reduce((best, l, i) => (l.amount > ls[best]!.amount ? i : best), 0);
        ls.forEach((l, i) => {
          if (i !== largest) expect(shares[i]!.amount).toBe(rule([l], rateBps));
        });
      }),
    );
  });

  it('never taxes a non-negative invoice negatively, nor a 0 % one at all (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1e12 }).map(eur), { maxLength: 40 }), rate, (ls, rateBps) => {
        expect(invoiceTotals(ls, rateBps).tax.amount).toBeGreaterThanOrEqual(0);
        expect(invoiceTotals(ls, 0).tax).toEqual(eur(0));
        expect(lineTaxes(ls, 0).every((m) => m.amount === 0)).toBe(true);
      }),
    );
  });

  it('taxes a credited invoice exactly opposite to its charge (property)', () => {
    fc.assert(
      fc.property(lines, rate, (ls, rateBps) => {
        const credit = ls.map((l) => eur(-l.amount));
        expect(invoiceTotals(credit, rateBps).tax.amount).toBe(-invoiceTotals(ls, rateBps).tax.amount + 0);
      }),
    );
  });
});
