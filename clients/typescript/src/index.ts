/**
 * @gpu-market/sdk: a typed client of the GPU Market API for Node 20+ and browsers.
 *
 * Types are generated from the API's OpenAPI document (./openapi.ts, `npm run sdk:generate`); calls go
 * through openapi-fetch. Every write carries an `Idempotency-Key` (yours, or one made per call) and a
 * retry of the same call reuses it, so a retried booking never books twice. 429 and 503 answers are
 * retried after their `Retry-After`; network failures with exponential backoff. Errors are thrown:
 * `ApiError` for an RFC 9457 problem from the API, `NetworkError` when no answer came.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, operations, paths } from './openapi.ts';

export type { components, operations, paths } from './openapi.ts';
export type Schemas = components['schemas'];
export type Money = Schemas['Money'];
export type Problem = Schemas['Problem'];
export type Reservation = Schemas['Reservation'];
export type Quote = Schemas['Quote'];
type Query<Op extends keyof operations> = operations[Op]['parameters'] extends { query?: infer Q } ? NonNullable<Q> : never;
type Body<Op extends keyof operations> = operations[Op] extends { requestBody: { content: { 'application/json': infer B } } }
  ? B
  : operations[Op] extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B
    : never;

export type Offer = Schemas['Offer'];
export type OffersQuery = Query<'listOffers'>;

/** Anything the SDK throws. */
export class GpuMarketError extends Error {
  override name = 'GpuMarketError';
}

/** The API answered with an error (RFC 9457 problem details; `code` is the last segment of `type`). */
export class ApiError extends GpuMarketError {
  override name = 'ApiError';
  readonly status: number;
  readonly type: string;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: { path: string; message: string }[];
  readonly requestId: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly problem: Problem;

  constructor(problem: Problem, retryAfterSeconds?: number) {
    super(`${problem.title}: ${problem.detail}`);
    this.problem = problem;
    this.status = problem.status;
    this.type = problem.type;
    this.code = problem.type.split('/').pop() ?? problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
    this.requestId = problem.requestId;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** The problem in a response, or one made up from the status when the body is not a problem. */
  static from(response: Response, body: unknown): ApiError {
    const retryAfter = retryAfterMs(response.headers.get('retry-after'), Date.now());
    const retryAfterSeconds = retryAfter === null ? undefined : Math.ceil(retryAfter / 1000);
    if (isProblem(body)) return new ApiError(body, retryAfterSeconds);
    return new ApiError(
      { type: 'about:blank', title: response.statusText || `HTTP ${response.status}`, status: response.status, detail: typeof body === 'string' && body ? body.slice(0, 500) : `HTTP ${response.status}` },
      retryAfterSeconds,
    );
  }
}

/** No answer from the API (refused, DNS, timeout, aborted), after the retries. */
export class NetworkError extends GpuMarketError {
  override name = 'NetworkError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const isProblem = (body: unknown): body is Problem =>
  typeof body === 'object' && body !== null && typeof (body as Problem).type === 'string' && typeof (body as Problem).status === 'number' && typeof (body as Problem).title === 'string';

/** `Retry-After` (seconds or an HTTP date) in milliseconds from now; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export interface RetryOptions {
  /** Attempts after the first (default 3). */
  retries?: number;
  /** First backoff delay without a Retry-After (default 250 ms, doubled each attempt, with jitter). */
  baseDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the error is returned (default 30 s). */
  maxDelayMs?: number;
  /** Abort one attempt after this long (default 30 s). */
  timeoutMs?: number;
}

export interface GpuMarketOptions extends RetryOptions {
  /** e.g. `http://localhost:3000` or the deployed API's URL. */
  baseUrl: string;
  /** `gm_live_…` (customer), `gm_fin_…`, `gm_op_…` or `gm_meter_…`. */
  apiKey?: string;
  /** Defaults to globalThis.fetch. */
  fetch?: (request: Request) => Promise<Response>;
  /** Makes the Idempotency-Key of a write that has none (default crypto.randomUUID()). */
  idempotencyKey?: () => string;
  /** Called before each retry (for progress output); the delay is in milliseconds. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  /** For tests: how to wait. */
  sleep?: (ms: number) => Promise<void>;
}

const RETRY_STATUSES = new Set([408, 429, 502, 503, 504]);
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A fetch that gives every write an Idempotency-Key once, then retries the identical request (same key)
 * on network failures and on 408/429/502/503/504, waiting what Retry-After says when it says something.
 */
export function retryingFetch(options: Omit<GpuMarketOptions, 'baseUrl' | 'apiKey'> = {}): (request: Request) => Promise<Response> {
  const inner = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const retries = options.retries ?? 3;
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const sleep = options.sleep ?? defaultSleep;
  const makeKey = options.idempotencyKey ?? (() => globalThis.crypto.randomUUID());
  return async (original) => {
    let request = original;
    if (WRITES.has(request.method) && !request.headers.has('idempotency-key')) {
      const headers = new Headers(request.headers);
      headers.set('idempotency-key', makeKey());
      request = new Request(request, { headers });
    }
    for (let attempt = 0; ; attempt++) {
      const signal = AbortSignal.timeout(timeoutMs);
      let outcome: Response | Error;
      try {
        outcome = await inner(new Request(request.clone(), { signal: request.signal.aborted ? request.signal : signal }));
      } catch (error) {
        if (request.signal.aborted) throw error;
        outcome = error instanceof Error ? error : new Error(String(error));
      }
      const retriable = outcome instanceof Error || RETRY_STATUSES.has(outcome.status);
      if (!retriable || attempt >= retries) {
        if (outcome instanceof Error) {
          throw new NetworkError(`Could not reach ${new URL(request.url).origin}: ${describe(outcome)}`, { cause: outcome });
        }
        return outcome;
      }
      const told = outcome instanceof Error ? null : retryAfterMs(outcome.headers.get('retry-after'), Date.now());
      if (told !== null && told > max) return outcome as Response;
      const delayMs = told ?? Math.round(base * 2 ** attempt * (0.5 + Math.random() / 2));
      options.onRetry?.({ attempt: attempt + 1, delayMs, reason: outcome instanceof Error ? describe(outcome) : `HTTP ${outcome.status}` });
      if (!(outcome instanceof Error)) await outcome.body?.cancel();
      await sleep(delayMs);
    }
  };
}

const describe = (error: Error): string => {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (error.name === 'TimeoutError') return 'timed out';
  return cause?.code ?? cause?.message ?? error.message;
};

type FetchResult<T> = { data?: T; error?: unknown; response: Response };

/** The data of a successful answer, or the ApiError of a failed one. */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw ApiError.from(response, error);
  return data as T;
}

/** Per-call options of writes: pass your own key to make a call idempotent across processes. */
export interface WriteOptions {
  idempotencyKey?: string;
}
const keyHeader = (o?: WriteOptions) => (o?.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : undefined);

export type GpuMarket = ReturnType<typeof createGpuMarket>;

/** A client: `client` is the raw typed openapi-fetch client; the methods unwrap answers and throw errors. */
export function createGpuMarket(options: GpuMarketOptions) {
  const client: Client<paths> = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    fetch: retryingFetch(options),
    headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
  });
  return {
    client,
    me: () => unwrap(client.GET('/v1/me')),
    health: () => unwrap(client.GET('/healthz')),
    sites: () => unwrap(client.GET('/v1/sites')),
    site: (id: string) => unwrap(client.GET('/v1/sites/{id}', { params: { path: { id } } })),
    gpuTypes: () => unwrap(client.GET('/v1/gpu-types')),
    pools: (query: Query<'listPools'> = {}) => unwrap(client.GET('/v1/pools', { params: { query } })),
    /** Every matching pool: follows `nextCursor` (the API pages large answers by pool) and returns them in one answer. */
    availability: async (query: Query<'getAvailability'>) => {
      const first = await unwrap(client.GET('/v1/availability', { params: { query } }));
      const pools = [...first.pools];
      for (let next = first.nextCursor; next; ) {
        const page = await unwrap(client.GET('/v1/availability', { params: { query: { ...query, cursor: next } } }));
        pools.push(...page.pools);
        next = page.nextCursor;
      }
      return { ...first, pools, nextCursor: null };
    },
    offers: (query: OffersQuery) => unwrap(client.GET('/v1/offers', { params: { query } })),
    quote: (body: Body<'createQuote'>, o?: WriteOptions) => unwrap(client.POST('/v1/quotes', { body, headers: keyHeader(o) })),
    hold: (quoteId: string, o?: WriteOptions) => unwrap(client.POST('/v1/reservations', { body: { kind: 'reserved', quoteId }, headers: keyHeader(o) })),
    startOnDemand: (body: { site: string; gpuType: string; gpus: number }, o?: WriteOptions) =>
      unwrap(client.POST('/v1/reservations', { body: { kind: 'on_demand', ...body }, headers: keyHeader(o) })),
    confirm: (id: string, o?: WriteOptions) => unwrap(client.POST('/v1/reservations/{id}/confirm', { params: { path: { id } }, headers: keyHeader(o) })),
    extend: (id: string, end: string, o?: WriteOptions) =>
      unwrap(client.POST('/v1/reservations/{id}/extend', { params: { path: { id } }, body: { end }, headers: keyHeader(o) })),
    cancel: (id: string, o?: WriteOptions) => unwrap(client.POST('/v1/reservations/{id}/cancel', { params: { path: { id } }, headers: keyHeader(o) })),
    stop: (id: string, o?: WriteOptions) => unwrap(client.POST('/v1/reservations/{id}/stop', { params: { path: { id } }, headers: keyHeader(o) })),
    reservations: (query: Query<'listReservations'> = {}) => unwrap(client.GET('/v1/reservations', { params: { query } })),
    reservation: (id: string) => unwrap(client.GET('/v1/reservations/{id}', { params: { path: { id } } })),
    usage: (query: Query<'getUsage'>) => unwrap(client.GET('/v1/usage', { params: { query } })),
    invoices: (query: Query<'listInvoices'> = {}) => unwrap(client.GET('/v1/invoices', { params: { query } })),
    invoice: (id: string) => unwrap(client.GET('/v1/invoices/{id}', { params: { path: { id } } })),
    events: (query: Query<'listEvents'> = {}) => unwrap(client.GET('/v1/events', { params: { query } })),
    webhookEndpoints: (query: Query<'listWebhookEndpoints'> = {}) => unwrap(client.GET('/v1/webhook-endpoints', { params: { query } })),
    createWebhookEndpoint: (body: Body<'createWebhookEndpoint'>, o?: WriteOptions) =>
      unwrap(client.POST('/v1/webhook-endpoints', { body, headers: keyHeader(o) })),
    deleteWebhookEndpoint: (id: string) => unwrap(client.DELETE('/v1/webhook-endpoints/{id}', { params: { path: { id } } })),
    testWebhookEndpoint: (id: string, o?: WriteOptions) =>
      unwrap(client.POST('/v1/webhook-endpoints/{id}/test', { params: { path: { id } }, headers: keyHeader(o) })),
    deliveries: (id: string, query: Query<'listWebhookDeliveries'> = {}) =>
      unwrap(client.GET('/v1/webhook-endpoints/{id}/deliveries', { params: { path: { id }, query } })),
    retryDelivery: (id: string, deliveryId: string, o?: WriteOptions) =>
      unwrap(client.POST('/v1/webhook-endpoints/{id}/deliveries/{deliveryId}/retry', { params: { path: { id, deliveryId } }, headers: keyHeader(o) })),
  };
}
