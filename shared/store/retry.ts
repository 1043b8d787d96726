import pRetry from 'p-retry';
import { DomainError } from '#domain/errors.ts';

/**
 * What an attempt read was already overtaken by another writer (e.g. capacity given back between
 * reading a reservation and reading its buckets): the attempt is retried and re-reads both.
 */
export class StaleReadError extends Error {
  override readonly name = 'StaleReadError';
}

/** Transient DynamoDB failures: another writer won, throttling, or the network. */
const TRANSIENT_NAMES = new Set([
  'StaleReadError',
  'TransactionCanceledException',
  'TransactionConflictException',
  'TransactionInProgressException',
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
]);

export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code;
  return TRANSIENT_NAMES.has(error.name) || (code !== undefined && TRANSIENT_NAMES.has(code));
}

export interface RetryPolicy {
  retries: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  maxRetryTimeMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 60, minTimeoutMs: 5, maxTimeoutMs: 250, maxRetryTimeMs: 15_000 };

/**
 * Runs a read-check-write attempt until it commits. Each attempt must re-read what it checks, so a
 * retry after a lost race sees the winner's write and answers from the new state. Domain errors end
 * the loop at once; transient errors retry with full jitter; exhausting the budget answers 503.
 */
export async function withOptimisticRetry<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  busyDetail = 'The resource is busy; retry the request',
): Promise<T> {
  try {
    return await pRetry(attempt, {
        shouldRetry: ({ error }) => isTransient(error),
        retries: policy.retries,
        minTimeout: policy.minTimeoutMs,
        maxTimeout: policy.maxTimeoutMs,
        factor: 1.6,
        randomize: true,
        maxRetryTime: policy.maxRetryTimeMs,
      });
  } catch (error) {
    if (isTransient(error)) {
      throw new DomainError('contention', busyDetail, { retryAfterSeconds: 1 });
    }
    throw error;
  }
}
