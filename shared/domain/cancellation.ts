/**
 * Cancellation refunds of confirmed reservations (docs/pricing.md). The notice is the exact time
 * from the cancellation to the reservation's start:
 *   ≥ 7 days → 100 %, ≥ 48 hours → 50 %, less (or already started) → 0 %.
 * Refund = paid × percent / 100, rounded half up to the cent, issued as a credit note.
 */
import { eur, mulRound, type Money } from './money.ts';
import { DAY_MS, HOUR_MS } from './time.ts';

export type RefundPercent = 0 | 50 | 100;

export interface RefundDecision {
  percent: RefundPercent;
  amount: Money;
  rule: string;
}

export interface CancellationRule {
  /** Minimum notice before the start, in milliseconds. */
  minNoticeMs: number;
  percent: RefundPercent;
  label: string;
}

/** Most generous rule first; the first rule whose notice is met applies. */
export const CANCELLATION_RULES: readonly CancellationRule[] = Object.freeze([
  { minNoticeMs: 7 * DAY_MS, percent: 100, label: 'cancelled at least 7 days before the start' },
  { minNoticeMs: 48 * HOUR_MS, percent: 50, label: 'cancelled at least 48 hours (but less than 7 days) before the start' },
  { minNoticeMs: Number.NEGATIVE_INFINITY, percent: 0, label: 'cancelled less than 48 hours before the start, or after it' },
]);

export const CANCELLATION_POLICY =
  'Cancellation of a confirmed reservation: cancelled at least 7 days (168 hours) before the start, 100 % of the price paid is refunded; ' +
  'at least 48 hours before the start, 50 %; later, or after the start, nothing. ' +
  'The notice is measured from the moment of cancellation to the start, to the millisecond. ' +
  'Refunds are rounded half up to the cent and issued as a credit note. ' +
  'A hold released before confirmation was never charged and costs nothing.';

const describeNotice = (ms: number): string => {
  if (ms <= 0) return 'after the start';
  const days = Math.floor(ms / DAY_MS);
  const hours = Math.floor((ms % DAY_MS) / HOUR_MS);
  const minutes = Math.floor((ms % HOUR_MS) / 60_000);
  const parts = days > 0 ? [`${days} d`, `${hours} h`] : hours > 0 ? [`${hours} h`, `${minutes} min`] : [`${minutes} min`];
  return `${parts.join(' ')} before the start`;
};

export const refundFor = (input: { paid: Money; start: Date; now: Date }): RefundDecision => {
  const { paid, start, now } = input;
  if (!Number.isSafeInteger(paid.amount) || paid.amount < 0) throw new RangeError(`paid must be a non-negative amount, got ${paid.amount}`);
  if (Number.isNaN(start.getTime()) || Number.isNaN(now.getTime())) throw new RangeError('start and now must be valid dates');
  const noticeMs = start.getTime() - now.getTime();
  const rule = CANCELLATION_RULES.find((r) => noticeMs >= r.minNoticeMs)!;
  return {
    percent: rule.percent,
    amount: eur(mulRound(paid.amount, rule.percent, 100)),
    rule: `${rule.percent} % refund: ${rule.label} (${describeNotice(noticeMs)})`,
  };
};
