/**
 * Delivery retry schedule (Standard Webhooks): attempts immediately, then 5 s, 5 min, 30 min, 2 h,
 * 5 h, 10 h, 14 h, 20 h and 24 h after the previous one: ten attempts over about three days.
 *
 * Jitter only ever delays an attempt (by up to 20 %), never brings it forward: with a symmetric ±20 %
 * the last attempt could come after 60.5 h, which would break SPEC invariant 7 (retried for ≥ 72 h).
 * The published schedule is therefore a floor: the last attempt comes between 75.6 h and 90.7 h after
 * the first.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** RETRY_DELAYS_MS[n] is the wait before attempt n + 1 (the first attempt waits 0). */
export const RETRY_DELAYS_MS: readonly number[] = [
  0,
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  14 * HOUR,
  20 * HOUR,
  24 * HOUR,
];

export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length;

/** Largest share of a delay added at random so that many failed deliveries do not retry in lockstep. */
export const RETRY_JITTER = 0.2;

/** A `Retry-After` longer than this is shortened to it. */
export const MAX_RETRY_AFTER_MS = DAY;

/** An endpoint whose deliveries have failed without a success for this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * DAY;

export interface NextAttemptInput {
  /** Attempts already made for this delivery (≥ 1). */
  attempt: number;
  now: Date;
  /** Uniform in [0, 1), e.g. Math.random; passed in so tests can pin it. */
  random: () => number;
  /** The receiver's `Retry-After` (on 429 or 503), in milliseconds from now. */
  retryAfterMs?: number;
}

/** When to try again, or null when every attempt of the schedule has been made. */
export function nextAttemptAt(input: NextAttemptInput): Date | null {
  const { attempt, now, random, retryAfterMs } = input;
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer ≥ 1, got ${attempt}`);
  const scheduled = RETRY_DELAYS_MS[attempt];
  if (scheduled === undefined) return null;
  const jittered = Math.round(scheduled * (1 + RETRY_JITTER * clampUnit(random())));
  const requested = retryAfterMs !== undefined && Number.isFinite(retryAfterMs) ? Math.min(Math.max(retryAfterMs, 0), MAX_RETRY_AFTER_MS) : 0;
  return new Date(now.getTime() + Math.max(jittered, requested));
}

export type ResponseOutcome = 'success' | 'retry' | 'disable' | 'retry_after';

/**
 * What a delivery attempt's response means: 2xx success; 410 Gone disables the endpoint; 429 and 503
 * retry, honouring Retry-After; anything else (3xx included: redirects are never followed) and no
 * response at all (network error, timeout: null) retry on the schedule.
 */
export function classifyResponse(status: number | null): ResponseOutcome {
  if (status === null) return 'retry';
  if (status >= 200 && status < 300) return 'success';
  if (status === 410) return 'disable';
  if (status === 429 || status === 503) return 'retry_after';
  return 'retry';
}

/** True once an endpoint has been failing (no successful delivery) for DISABLE_AFTER_FAILING_MS. */
export function shouldDisableEndpoint(input: { failingSince: Date; now: Date }): boolean {
  return input.now.getTime() - input.failingSince.getTime() >= DISABLE_AFTER_FAILING_MS;
}

function clampUnit(value: number): number {
  return Number.isFinite(value) ? Math.min(Math.max(value, 0), 1) : 0;
}
