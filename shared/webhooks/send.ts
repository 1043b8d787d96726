/**
 * One webhook delivery attempt: POST the signed body to the partner, with the SSRF check repeated at
 * send time and the connection pinned to the addresses that passed it (DNS rebinding), no redirects,
 * one overall timeout, and a capped read of the answer. Never throws: every failure is a result the
 * caller records in the delivery log and feeds to classifyResponse/nextAttemptAt.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { checkWebhookUrl, UnsafeWebhookUrlError, type ResolveHost } from './ssrf.ts';

export const DEFAULT_SEND_TIMEOUT_MS = 15_000;
export const RESPONSE_SNIPPET_BYTES = 4096;
export const WEBHOOK_USER_AGENT = 'gpu-market-webhooks/1';

export interface SendWebhookInput {
  url: string;
  /** Typically the signatureHeaders; content-type, content-length, host and user-agent are set here. */
  headers: Record<string, string>;
  body: string;
  /** Whole attempt, DNS included. */
  timeoutMs?: number;
  allowedHosts: string[];
  resolve?: ResolveHost;
  /** Clock used to read a `Retry-After` given as an HTTP date. */
  now?: () => Date;
}

export interface SendWebhookResult {
  /** The HTTP status, or null when there was none (unsafe URL, DNS failure, network error, timeout). */
  status: number | null;
  latencyMs: number;
  /** From `Retry-After`, when the response carried one. */
  retryAfterMs?: number;
  /** Why the attempt failed; starts with `unsafe_url:` when the SSRF check refused the destination. */
  error?: string;
  /** The first RESPONSE_SNIPPET_BYTES of the response body, for the delivery log. */
  responseBodySnippet?: string;
}

export async function sendWebhook(input: SendWebhookInput): Promise<SendWebhookResult> {
  const startedAt = performance.now();
  const elapsed = () => Math.round(performance.now() - startedAt);
  const timeoutMs = input.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new SendTimeoutError(timeoutMs)), timeoutMs);
  try {
    let checked;
    try {
      checked = await untilAborted(checkWebhookUrl(input.url, { allowedHosts: input.allowedHosts, resolve: input.resolve }), abort.signal);
    } catch (error) {
      if (error instanceof UnsafeWebhookUrlError) {
        const prefix = error.code === 'host_not_resolved' ? 'dns' : 'unsafe_url';
        return { status: null, latencyMs: elapsed(), error: `${prefix}: ${error.reason}` };
      }
      throw error;
    }
    const response = await post(checked.url, checked.addresses, input, abort.signal);
    const result: SendWebhookResult = { status: response.status, latencyMs: elapsed(), responseBodySnippet: response.snippet };
    const retryAfterMs = parseRetryAfter(response.retryAfter, (input.now ?? (() => new Date()))());
    if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
    if (response.status >= 300 && response.status < 400) {
      result.error = `redirect not followed${response.location ? ` (Location: ${response.location})` : ''}`;
    }
    return result;
  } catch (error) {
    return { status: null, latencyMs: elapsed(), error: describeNetworkError(error) };
  } finally {
    clearTimeout(timer);
  }
}

interface RawResponse {
  status: number;
  snippet: string;
  retryAfter: string | undefined;
  location: string | undefined;
}

function post(url: URL, addresses: string[], input: SendWebhookInput, signal: AbortSignal): Promise<RawResponse> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const secure = url.protocol === 'https:';
  const body = Buffer.from(input.body, 'utf8');
  const headers: Record<string, string | number> = {
    ...lowercaseKeys(input.headers),
    'content-type': 'application/json',
    'content-length': body.length,
    host: url.host,
    'user-agent': WEBHOOK_USER_AGENT,
  };
  const options: https.RequestOptions = {
    method: 'POST',
    host,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path: `${url.pathname}${url.search}`,
    headers,
    agent: false,
    lookup: pinnedLookup(addresses),
    signal,
    ...(secure && isIP(host) === 0 ? { servername: host } : {}),
  };

  return new Promise<RawResponse>((resolve, reject) => {
    const request = (secure ? https : http).request(options, (response) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        response.removeAllListeners('data');
        const snippet = new TextDecoder().decode(Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES));
        resolve({
          status: response.statusCode ?? 0,
          snippet,
          retryAfter: headerValue(response.headers['retry-after']),
          location: headerValue(response.headers.location),
        });
        request.destroy();
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received >= RESPONSE_SNIPPET_BYTES) finish();
      });
      response.on('end', finish);
      // The status line is what counts; a body cut short (timeout, reset) still yields the status.
      response.on('error', finish);
      response.on('aborted', finish);
      response.on('close', finish);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** A lookup that answers only with the addresses checked by checkWebhookUrl, so Node never re-resolves. */
function pinnedLookup(addresses: string[]): LookupFunction {
  const entries: LookupAddress[] = addresses.map((address) => ({ address, family: isIP(address.split('%')[0]!) }));
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    const matching = family === 0 ? entries : entries.filter((entry) => entry.family === family);
    const first = matching[0];
    if (!first) {
      const error: NodeJS.ErrnoException = new Error(`no checked IPv${family} address for ${hostname}`);
      error.code = 'ENOTFOUND';
      callback(error, '', undefined);
      return;
    }
    if (options.all) callback(null, matching);
    else callback(null, first.address, first.family);
  };
}

/**
 * `Retry-After` as milliseconds from `now`: either delay-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`; a date in the past gives 0). Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/[a-z]/i.test(trimmed)) return undefined; // "-5", "1.5": neither delay-seconds nor a date
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

class SendTimeoutError extends Error {
  override readonly name = 'SendTimeoutError';
  constructor(timeoutMs: number) {
    super(`timeout: no complete response within ${timeoutMs} ms`);
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function describeNetworkError(error: unknown): string {
  if (error instanceof SendTimeoutError) return error.message;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof SendTimeoutError) return cause.message;
  const err = error as NodeJS.ErrnoException | undefined;
  const code = err?.code ? `${err.code} ` : '';
  return `network: ${code}${err?.message ?? String(error)}`.trim();
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function lowercaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
