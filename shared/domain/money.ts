/**
 * Exact money. Amounts are integer EUR cents held in safe integers; every multiplication by a rate,
 * a percentage or a fraction goes through BigInt and is rounded once, half away from zero
 * ("half up" on magnitudes: 0.5 → 1, −0.5 → −1). The rounding rules are written in docs/pricing.md.
 */
export type Currency = 'EUR';

export interface Money {
  /** Integer cents; negative for discount and credit lines. */
  amount: number;
  currency: Currency;
}

/** Basis points in one whole: 10000 bps = 100 % = ×1.0. */
export const BPS_PER_UNIT = 10_000;

const assertSafeInteger = (value: number, what: string): void => {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} must be a safe integer, got ${value}`);
};

const toBigInt = (value: number | bigint, what: string): bigint => {
  if (typeof value === 'bigint') return value;
  assertSafeInteger(value, what);
  return BigInt(value);
};

/** An amount of euro cents. Throws RangeError unless `amount` is a safe integer; −0 becomes 0. */
export const eur = (amount: number): Money => {
  assertSafeInteger(amount, 'Money amount (cents)');
  return { amount: amount + 0, currency: 'EUR' };
};

const assertSameCurrency = (a: Money, b: Money): void => {
  if (a.currency !== b.currency) throw new RangeError(`Cannot combine ${a.currency} with ${b.currency}`);
};

export const addMoney = (a: Money, b: Money): Money => {
  assertSameCurrency(a, b);
  return eur(a.amount + b.amount);
};

export const subtractMoney = (a: Money, b: Money): Money => {
  assertSameCurrency(a, b);
  return eur(a.amount - b.amount);
};

/** Exact sum; the empty list sums to €0.00. */
export const sumMoney = (list: readonly Money[]): Money => list.reduce<Money>((acc, m) => addMoney(acc, m), eur(0));

export const negate = (m: Money): Money => eur(-m.amount);

export const moneyEquals = (a: Money, b: Money): boolean => a.currency === b.currency && a.amount === b.amount;

/**
 * Divides `numerator` by a positive `denominator`, rounding half away from zero:
 * 5/2 → 3, −5/2 → −3, 4/3 → 1, −4/3 → −1.
 */
export const divideRoundHalfUp = (numerator: bigint, denominator: bigint): bigint => {
  if (denominator === 0n) throw new RangeError('Division by zero');
  const sign = (numerator < 0n) !== (denominator < 0n) ? -1n : 1n;
  const n = numerator < 0n ? -numerator : numerator;
  const d = denominator < 0n ? -denominator : denominator;
  const quotient = n / d;
  const remainder = n % d;
  const rounded = 2n * remainder >= d ? quotient + 1n : quotient;
  return sign * rounded;
};

const toSafeNumber = (value: bigint, what: string): number => {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`${what} ${value} is outside the safe integer range`);
  }
  return Number(value);
};

/**
 * `amount × numerator / denominator`, computed exactly and rounded once, half away from zero.
 * All three must be integers (numbers must be safe integers); the result must be a safe integer.
 */
export const mulRound = (amount: number, numerator: number | bigint, denominator: number | bigint): number => {
  const a = toBigInt(amount, 'amount');
  const n = toBigInt(numerator, 'numerator');
  const d = toBigInt(denominator, 'denominator');
  return toSafeNumber(divideRoundHalfUp(a * n, d), 'Rounded product');
};

/** `amount × bps / 10000`, exact, rounded half away from zero (e.g. 5 cents × 1000 bps = 0.5 → 1; −0.5 → −1). */
export const applyBps = (amount: number, bps: number): number => mulRound(amount, bps, BPS_PER_UNIT);

const groupThousands = (digits: string): string => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/**
 * "€1,234.56"; negatives as "-€1,234.56" (the en-US currency layout). Built from the integer cents,
 * never through floating point.
 */
export const formatMoney = (m: Money): string => {
  const cents = BigInt(m.amount);
  const magnitude = cents < 0n ? -cents : cents;
  const whole = groupThousands((magnitude / 100n).toString());
  const fraction = (magnitude % 100n).toString().padStart(2, '0');
  return `${cents < 0n ? '-' : ''}€${whole}.${fraction}`;
};

/** A basis-point quantity as a percent number: 500 → "5", 1250 → "12.5", 3 → "0.03", −500 → "−5" (U+2212). */
export const formatBpsAsPercent = (bps: number): string => {
  assertSafeInteger(bps, 'bps');
  const magnitude = Math.abs(bps);
  const whole = Math.floor(magnitude / 100);
  const rest = magnitude % 100;
  const fraction = rest === 0 ? '' : `.${String(rest).padStart(2, '0').replace(/0+$/, '')}`;
  return `${bps < 0 ? '−' : ''}${whole}${fraction}`;
};
