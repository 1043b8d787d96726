import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { DomainError } from '#domain/errors.ts';
import { beginIdempotent, completeIdempotent, releaseIdempotent } from '#store/idempotency.ts';
import type { AppEnv } from './context.ts';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * Idempotency-Key on POST: same key and body → the first response replayed (header
 * `Idempotent-Replayed: true`); same key, other body → 422; same key while the first is running →
 * 409. Responses below 500 are kept 48 h; a 5xx frees the key so the client may retry.
 */
export const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  const key = c.req.header('idempotency-key');
  const principal = c.get('principal');
  if (c.req.method !== 'POST' || key === undefined || !principal) return next();
  if (!KEY_PATTERN.test(key)) {
    throw new DomainError('validation_failed', 'Idempotency-Key: 1 to 255 visible ASCII characters', {
      errors: [{ path: 'Idempotency-Key', message: '1 to 255 visible ASCII characters' }],
    });
  }
  const { db, clock } = c.get('deps');
  const body = await c.req.text();
  const requestHash = createHash('sha256').update(`${c.req.method} ${c.req.path}\n${body}`).digest('hex');
  const scope = principal.orgId ? `org:${principal.orgId}` : `key:${principal.keyId}`;
  const begun = await beginIdempotent(db, scope, key, requestHash, clock());
  switch (begun.outcome) {
    case 'mismatch':
      throw new DomainError('idempotency_key_reused', 'This Idempotency-Key was used with another request (method, path or body); use a new key');
    case 'in_flight':
      throw new DomainError('idempotency_in_flight', 'A request with this Idempotency-Key is still being processed; retry later', { retryAfterSeconds: 1 });
    case 'replay':
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
  const text = await res.clone().text();
  await completeIdempotent(db, scope, key, {
    status: res.status,
    contentType: res.headers.get('content-type') ?? 'application/json',
    body: text,
  });
};
