/**
 * Typed domain errors. One code enum; the HTTP status, the problem `type` URI and the OpenAPI error
 * responses are all derived from this table (see shared/http/problem.ts), so they cannot drift.
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, title: 'Request validation failed' },
  malformed_json: { status: 400, title: 'Malformed JSON body' },
  unauthenticated: { status: 401, title: 'Missing or invalid API key' },
  forbidden: { status: 403, title: 'Not allowed for this role' },
  not_found: { status: 404, title: 'Resource not found' },
  invalid_state: { status: 409, title: 'Invalid state transition' },
  capacity_unavailable: { status: 409, title: 'Capacity unavailable' },
  hold_limit: { status: 409, title: 'Hold limit reached' },
  capacity_conflict: { status: 409, title: 'The change would overbook sold capacity' },
  site_closed: { status: 409, title: 'The site is closed for maintenance' },
  already_exists: { status: 409, title: 'A resource with this id already exists' },
  bookings_exist: { status: 409, title: 'Bookings stand in the way of this change' },
  idempotency_in_flight: { status: 409, title: 'A request with this Idempotency-Key is in flight' },
  secret_shown_once: { status: 409, title: 'The answer to this Idempotency-Key carried a secret, shown once' },
  budget_exceeded: { status: 402, title: 'Budget exceeded' },
  credit_limit: { status: 402, title: 'Credit limit reached: pay open invoices first' },
  quote_expired: { status: 410, title: 'Quote expired' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  idempotency_key_reused: { status: 422, title: 'Idempotency-Key reused with another request' },
  unprocessable: { status: 422, title: 'Request cannot be processed' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal server error' },
  contention: { status: 503, title: 'Temporarily contended, retry' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  path: string;
  message: string;
}

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly errors: FieldError[] | undefined;
  readonly retryAfterSeconds: number | undefined;
  /** Extra members of the problem document (RFC 9457 extensions), e.g. the limit a budget refusal names. */
  readonly extensions: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, detail: string, options: { errors?: FieldError[]; retryAfterSeconds?: number; extensions?: Record<string, unknown> } = {}) {
    super(detail);
    this.name = 'DomainError';
    this.code = code;
    this.errors = options.errors;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.extensions = options.extensions;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

export const notFound = (what: string, id: string) => new DomainError('not_found', `${what} ${id} was not found`);
export const invalidField = (path: string, message: string) =>
  new DomainError('validation_failed', `${path}: ${message}`, { errors: [{ path, message }] });
