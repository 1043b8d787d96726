/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com), made with the `standardwebhooks`
 * package so that partners verifying with it (or any other Standard Webhooks library) agree with us.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export const ENDPOINT_SECRET_PREFIX = 'whsec_';

/** A new endpoint signing secret: `whsec_` + base64 of 32 random bytes. Shown to the partner once. */
export function generateEndpointSecret(): string {
  return `${ENDPOINT_SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

export type SignatureHeaderName = 'webhook-id' | 'webhook-timestamp' | 'webhook-signature';

export interface SignatureInput {
  /** Stable across retries of one delivery: partners use it to drop duplicates. */
  msgId: string;
  timestamp: Date;
  /** The exact body bytes sent (the signature covers this string, so never re-serialise it). */
  payload: string;
  /** The endpoint's current secrets: one, or two while a rotated secret overlaps the new one. */
  secrets: string[];
}

/**
 * The three Standard Webhooks headers. With several secrets, `webhook-signature` carries one
 * `v1,<base64 HMAC-SHA256>` per secret, space separated, so each secret verifies on its own.
 */
export function signatureHeaders(input: SignatureInput): Record<SignatureHeaderName, string> {
  if (input.secrets.length === 0) throw new Error('signatureHeaders needs at least one secret');
  const signatures = input.secrets.map((secret) => new Webhook(secret).sign(input.msgId, input.timestamp, input.payload));
  return {
    'webhook-id': input.msgId,
    'webhook-timestamp': String(Math.floor(input.timestamp.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
