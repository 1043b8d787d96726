import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addMoney,
  applyBps,
  divideRoundHalfUp,
  eur,
  formatBpsAsPercent,
  formatMoney,
  moneyEquals,
  mulRound,
  negate,
  subtractMoney,
  sumMoney,
} from '#domain/money.ts';

const MAX = Number.MAX_SAFE_INTEGER;

/** Checks that r is n/d rounded to nearest with ties away from zero, by cross-multiplication only. */
const isHalfAwayFromZero = (n: bigint, d: bigint, r: bigint): boolean => {
  const abs = (x: bigint): bigint => (x < 0n ? -x : x);
  const ad = abs(d);
  const error = abs(2n * n * (d < 0n ? -1n : 1n) - 2n * r * ad); // |2n/d − 2r| × |d|
  if (error > ad) return false;
  if (error === ad) return abs(r) * ad > abs(n); // a tie goes to the larger magnitude
  return true;
};

describe('eur', () => {
  it('accepts safe integers, negative ones included', () => {
    expect(eur(0)).toEqual({ amount: 0, currency: 'EUR' });
    expect(eur(-1250)).toEqual({ amount: -1250, currency: 'EUR' });
    expect(eur(MAX).amount).toBe(MAX);
  });

  it('rejects fractions, NaN, infinities and unsafe integers with RangeError', () => {
    for (const bad of [0.5, 1.0000001, Number.NaN, Number.POSITIVE_INFINITY, MAX + 1, -(MAX + 1)]) {
      expect(() => eur(bad)).toThrow(RangeError);
    }
  });

  it('turns −0 into 0', () => {
    expect(Object.is(eur(-0).amount, 0)).toBe(true);
    expect(Object.is(negate(eur(0)).amount, 0)).toBe(true);
  });
});

describe('arithmetic', () => {
  it('adds, subtracts, negates and sums exactly', () => {
    expect(addMoney(eur(199), eur(-50))).toEqual(eur(149));
    expect(subtractMoney(eur(100), eur(250))).toEqual(eur(-150));
    expect(negate(eur(42))).toEqual(eur(-42));
    expect(sumMoney([eur(1), eur(2), eur(-4)])).toEqual(eur(-1));
    expect(moneyEquals(eur(5), eur(5))).toBe(true);
    expect(moneyEquals(eur(5), eur(-5))).toBe(false);
  });

  it('sums the empty list to €0.00', () => {
    expect(sumMoney([])).toEqual(eur(0));
  });

  it('refuses a sum that leaves the safe integer range instead of losing cents', () => {
    expect(() => addMoney(eur(MAX), eur(1))).toThrow(RangeError);
    expect(() => sumMoney([eur(MAX - 1), eur(1), eur(1)])).toThrow(RangeError);
  });

  it('sums like BigInt whatever the order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1e12, max: 1e12 }), { maxLength: 50 }), (amounts) => {
        const exact = amounts.reduce((acc, a) => acc + BigInt(a), 0n);
        expect(BigInt(sumMoney(amounts.map(eur)).amount)).toBe(exact);
        expect(sumMoney([...amounts].reverse().map(eur))).toEqual(sumMoney(amounts.map(eur)));
      }),
    );
  });
});

describe('formatMoney', () => {
  it.each([
    [0, '€0.00'],
    [5, '€0.05'],
    [295, '€2.95'],
    [123456, '€1,234.56'],
    [100000000, '€1,000,000.00'],
    [-123456, '-€1,234.56'],
    [-7, '-€0.07'],
    [MAX, '€90,071,992,547,409.91'],
  ])('%i cents → %s', (cents, text) => {
    expect(formatMoney(eur(cents))).toBe(text);
  });
});

describe('formatBpsAsPercent', () => {
  it.each([
    [500, '5'],
    [1250, '12.5'],
    [3, '0.03'],
    [10, '0.1'],
    [0, '0'],
    [-500, '−5'],
    [7250, '72.5'],
  ])('%i bps → %s', (bps, text) => {
    expect(formatBpsAsPercent(bps)).toBe(text);
  });
});

describe('rounding: half away from zero', () => {
  it('rounds ties away from zero on both signs', () => {
    expect(applyBps(5, 1000)).toBe(1); // 0.5 → 1
    expect(applyBps(-5, 1000)).toBe(-1); // −0.5 → −1
    expect(applyBps(15, 1000)).toBe(2); // 1.5 → 2
    expect(applyBps(25, 1000)).toBe(3); // 2.5 → 3 (banker's rounding would give 2)
    expect(applyBps(-25, 1000)).toBe(-3);
  });

  it('rounds non-ties to the nearest cent', () => {
    expect(applyBps(14, 1000)).toBe(1); // 1.4
    expect(applyBps(16, 1000)).toBe(2); // 1.6
    expect(applyBps(-14, 1000)).toBe(-1);
    expect(applyBps(-16, 1000)).toBe(-2);
    expect(applyBps(396480, 2000)).toBe(79296);
  });

  it('mulRound handles any sign of numerator and denominator', () => {
    expect(mulRound(7, 1, 2)).toBe(4);
    expect(mulRound(7, -1, 2)).toBe(-4);
    expect(mulRound(7, 1, -2)).toBe(-4);
    expect(mulRound(-7, -1, -2)).toBe(-4);
    expect(mulRound(-7, 1, -2)).toBe(4);
    expect(mulRound(10, 1, 3)).toBe(3);
    expect(mulRound(20, 1, 3)).toBe(7);
  });

  it('divideRoundHalfUp matches the definition', () => {
    expect(divideRoundHalfUp(5n, 2n)).toBe(3n);
    expect(divideRoundHalfUp(-5n, 2n)).toBe(-3n);
    expect(divideRoundHalfUp(4n, 3n)).toBe(1n);
    expect(divideRoundHalfUp(-4n, 3n)).toBe(-1n);
    expect(divideRoundHalfUp(0n, -3n)).toBe(0n);
  });

  it('is exact where floating point is not', () => {
    // 1.005 € × 1 in floats is 1.00499999…; in cents × bps it is exact.
    expect(mulRound(100500, 1, 1000)).toBe(101); // 100.5 → 101
    // A product far beyond 2^53 before the division stays exact.
    expect(mulRound(MAX, MAX, MAX)).toBe(MAX);
    expect(mulRound(9_007_199_254_740_000, 10_000, 10_000)).toBe(9_007_199_254_740_000);
    expect(applyBps(9_007_199_254_740_991, 5000)).toBe(4_503_599_627_370_496); // …495.5 → …496
  });

  it('accepts bigint factors', () => {
    expect(mulRound(396480, 9500n * 9700n * 11100n, 10000n ** 3n)).toBe(405546);
  });

  it('rejects non-integers, a zero denominator and an unsafe result', () => {
    expect(() => mulRound(1.5, 1, 1)).toThrow(RangeError);
    expect(() => mulRound(1, 0.5, 1)).toThrow(RangeError);
    expect(() => mulRound(1, 1, 0)).toThrow(RangeError);
    expect(() => mulRound(MAX, 2, 1)).toThrow(RangeError);
    expect(() => applyBps(1, 0.1)).toThrow(RangeError);
  });

  it('always returns the nearest integer, ties away from zero (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -MAX, max: MAX }),
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }).filter((d) => d !== 0n),
        (amount, numerator, denominator) => {
          const exact = BigInt(amount) * numerator;
          const fits = (() => {
            const r = divideRoundHalfUp(exact, denominator);
            return r <= BigInt(MAX) && r >= BigInt(-MAX);
          })();
          if (!fits) {
            expect(() => mulRound(amount, numerator, denominator)).toThrow(RangeError);
            return;
          }
          const r = BigInt(mulRound(amount, numerator, denominator));
          expect(isHalfAwayFromZero(exact, denominator, r)).toBe(true);
        },
      ),
    );
  });

  it('is symmetric: round(−x) = −round(x) (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e12, max: 1e12 }), fc.integer({ min: 0, max: 20000 }), (amount, bps) => {
        expect(applyBps(-amount, bps)).toBe(-applyBps(amount, bps) + 0);
      }),
    );
  });
});
