import { createHash } from 'node:crypto';
import type { Context, Next } from 'hono';
import { DomainError } from '#domain/errors.ts';
import { KEY_PREFIX } from '#store/orgs.ts';
import { beginIdempotent, completeIdempotent, releaseIdempotent, type StoredResponse } from '#store/idempotency.ts';
import { ENDPOINT_SECRET_PREFIX } from '#webhooks/signing.ts';
import type { AppEnv } from './context.ts';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** Values that are secrets wherever they appear in an answer: API keys and webhook signing secrets. */
const SECRET_PREFIXES = [...Object.values(KEY_PREFIX), ENDPOINT_SECRET_PREFIX];
const isSecret = (v: unknown): v is string => typeof v === 'string' && SECRET_PREFIXES.some((p) => v.startsWith(p));
export const REDACTED = '[redacted: shown once]';

/** The JSON body with every secret replaced, and whether there was one. Non-JSON is kept as is. */
export function redactSecrets(text: string): { body: string; redacted: boolean } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { body: text, redacted: false };
  }
  let redacted = false;
  const walk = (v: unknown): unknown => {
    if (isSecret(v)) {
      redacted = true;
      return REDACTED;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const out = walk(parsed);
  return redacted ? { body: JSON.stringify(out), redacted } : { body: text, redacted };
}

/**
 * Validates the `Idempotency-Key` header of an authenticated POST and notes it; the record is only
 * looked at once the route has authorized the caller (`runIdempotent`, called by `requireRole`), so
 * a replay never answers a caller the route would refuse.
 */
export async function idempotency(c: Context<AppEnv>, next: Next): Promise<void> {
  const key = c.req.header('idempotency-key');
  if (c.req.method !== 'POST' || key === undefined || !c.get('principal')) return next();
  if (!KEY_PATTERN.test(key)) {
    throw new DomainError('validation_failed', 'Idempotency-Key: 1 to 255 visible ASCII characters', {
      errors: [{ path: 'Idempotency-Key', message: '1 to 255 visible ASCII characters' }],
    });
  }
  c.set('idempotencyKey', key);
  await next();
}

/**
 * Idempotency-Key on POST, after authorization: same key and body from the same API key → the first
 * response replayed (header `Idempotent-Replayed: true`); same key, other body → 422; same key while
 * the first is running → 409. Records are per API key (another key of the org, even an admin's, never
 * sees them). Responses below 500 are kept 48 h; a 5xx frees the key so the client may retry. An answer
 * that carried a secret is stored redacted and its replay is `409 …/secret-shown-once` naming the
 * resource (rotate the secret or issue a new key if it was lost).
 */
export async function runIdempotent(c: Context<AppEnv>, next: Next): Promise<Response | void> {
  const key = c.get('idempotencyKey');
  const principal = c.get('principal');
  if (!key || !principal) return next();
  c.set('idempotencyKey', undefined); // once per request
  const { db, clock } = c.get('deps');
  const body = await c.req.text();
  const requestHash = createHash('sha256').update(`${c.req.method} ${c.req.path}\n${body}`).digest('hex');
  const scope = `key:${principal.keyId}`;
  const begun = await beginIdempotent(db, scope, key, requestHash, clock());
  switch (begun.outcome) {
    case 'mismatch':
      throw new DomainError('idempotency_key_reused', 'This Idempotency-Key was used with another request (method, path or body); use a new key');
    case 'in_flight':
      throw new DomainError('idempotency_in_flight', 'A request with this Idempotency-Key is still being processed; retry later', { retryAfterSeconds: 1 });
    case 'replay':
      if (begun.response.redacted) throw shownOnce(begun.response);
      return c.body(begun.response.body, begun.response.status as 200, {
        'content-type': begun.response.contentType,
        'idempotent-replayed': 'true',
      });
    case 'started':
      break;
  }
  try {
    await next();
  } catch (error) {
    await releaseIdempotent(db, scope, key);
    throw error;
  }
  const res = c.res;
  if (res.status >= 500) {
    await releaseIdempotent(db, scope, key);
    return;
  }
  const stored = redactSecrets(await res.clone().text());
  await completeIdempotent(db, scope, key, {
    status: res.status,
    contentType: res.headers.get('content-type') ?? 'application/json',
    body: stored.body,
    ...(stored.redacted ? { redacted: true } : {}),
  });
}

function shownOnce(response: StoredResponse): DomainError {
  let id: unknown;
  try {
    id = (JSON.parse(response.body) as { id?: unknown }).id;
  } catch {
    id = undefined;
  }
  const what = typeof id === 'string' ? ` (${id})` : '';
  return new DomainError(
    'secret_shown_once',
    `The first request with this Idempotency-Key succeeded${what} and its answer carried a secret, which is shown only once and not replayed. If it was lost: rotate the webhook secret, or revoke the key and issue a new one.`,
  );
}
