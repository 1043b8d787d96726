import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyBps, eur, sumMoney } from '#domain/money.ts';
import { EU_COUNTRIES, EXPORT_MENTION, REVERSE_CHARGE_MENTION, invoiceTotals, isEuCountry, taxForLines, taxTreatmentFor } from '#domain/vat.ts';

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

describe('tax on invoice lines', () => {
  it('rounds tax per line, half up, as Stripe does with line-item tax rates', () => {
    // Stripe's example: $0.43 and $4.84 at 15 % → 0.0645 → 0.06 and 0.726 → 0.73, tax 0.79
    expect(taxForLines([eur(43), eur(484)], 1500)).toEqual(eur(79));
    // Three lines of 2 cents at 20 %: 0.4 → 0 each, while the subtotal's 20 % would be 1.2 → 1
    expect(taxForLines([eur(2), eur(2), eur(2)], 2000)).toEqual(eur(0));
    // Ties go away from zero on discount lines too: −2.5 → −3
    expect(taxForLines([eur(100), eur(-25)], 1000)).toEqual(eur(10 - 3));
  });

  it('has no tax on an empty invoice or at 0 %', () => {
    expect(invoiceTotals([], 2000)).toEqual({ subtotal: eur(0), tax: eur(0), total: eur(0) });
    expect(invoiceTotals([eur(405546), eur(-19824)], 0)).toEqual({ subtotal: eur(385722), tax: eur(0), total: eur(385722) });
  });

  it('rejects a negative or fractional rate', () => {
    expect(() => taxForLines([eur(100)], -1)).toThrow(RangeError);
    expect(() => taxForLines([eur(100)], 19.6)).toThrow(RangeError);
  });

  const lines = fc.array(fc.integer({ min: -1e11, max: 1e12 }).map(eur), { maxLength: 40 });
  const rate = fc.oneof(fc.constantFrom(0, 550, 1000, 2000), fc.integer({ min: 0, max: 10000 }));

  it('total = subtotal + tax; tax = Σ per-line rounded tax; within half a cent per line of the exact tax (property)', () => {
    fc.assert(
      fc.property(lines, rate, (ls, rateBps) => {
        const t = invoiceTotals(ls, rateBps);
        expect(t.subtotal).toEqual(sumMoney(ls));
        expect(t.total.amount).toBe(t.subtotal.amount + t.tax.amount);
        expect(t.tax.amount).toBe(ls.reduce((acc, l) => acc + applyBps(l.amount, rateBps), 0));
        const twiceErrorTimes10000 = 2n * BigInt(t.tax.amount) * 10000n - 2n * BigInt(t.subtotal.amount) * BigInt(rateBps);
        const bound = BigInt(ls.length) * 10000n;
        expect(twiceErrorTimes10000 <= bound && twiceErrorTimes10000 >= -bound).toBe(true);
      }),
    );
  });

  it('never taxes a non-negative invoice negatively, nor a 0 % one at all (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1e12 }).map(eur), { maxLength: 40 }), rate, (ls, rateBps) => {
        expect(taxForLines(ls, rateBps).amount).toBeGreaterThanOrEqual(0);
        expect(taxForLines(ls, 0)).toEqual(eur(0));
      }),
    );
  });

  it('taxes a credit line exactly opposite to its charge (property)', () => {
    fc.assert(
      fc.property(lines, rate, (ls, rateBps) => {
        const credit = ls.map((l) => eur(-l.amount));
        expect(taxForLines(credit, rateBps).amount).toBe(-taxForLines(ls, rateBps).amount + 0);
      }),
    );
  });
});
