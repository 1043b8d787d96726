/**
 * Sealed list cursors: what a client gets as `nextCursor` is opaque and tamper-proof. The store's
 * cursor (a table key as base64url JSON, or a pool id) is encrypted and authenticated with AES-256-GCM
 * under a key derived (HKDF-SHA256) from a secret kept in the table; the GCM tag is the MAC (a
 * changed byte anywhere fails it). The additional data binds a cursor to the list and the caller it
 * was made for (`scope`: route and org or key), so a cursor of one list, org or query is refused by
 * another with the same 400 as a forged one.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { invalidField } from '#domain/errors.ts';

const VERSION = 'c1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface CursorSealer {
  /** The opaque cursor a client gets for the store's `inner` cursor (null stays null). */
  seal(scope: string, inner: string | null): Promise<string | null>;
  /** The store's cursor inside a client's `cursor`, or 400 naming `cursor` when it is not one this API made for `scope`. */
  open(scope: string, sealed: string | undefined): Promise<string | undefined>;
}

/** `secret`: read once per process (the table's cursor secret, shared by every instance). */
export function createCursorSealer(secret: () => Promise<Buffer>): CursorSealer {
  let key: Promise<Buffer> | null = null;
  const keyOnce = () => {
    key ??= secret()
      .then((s) => Buffer.from(hkdfSync('sha256', s, Buffer.alloc(0), 'gpu-market list cursors v1', 32)))
      .catch((error: unknown) => {
        key = null;
        throw error;
      });
    return key;
  };
  const refuse = () => invalidField('cursor', 'is not a cursor this API returned for this list');
  return {
    async seal(scope, inner) {
      if (inner === null) return null;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', await keyOnce(), iv);
      cipher.setAAD(Buffer.from(scope));
      const body = Buffer.concat([cipher.update(inner, 'utf8'), cipher.final()]);
      return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
    },
    async open(scope, sealed) {
      if (sealed === undefined || sealed === '') return undefined;
      const [version, payload, ...rest] = sealed.split('.');
      if (version !== VERSION || !payload || rest.length > 0 || !/^[A-Za-z0-9_-]+$/.test(payload)) throw refuse();
      const raw = Buffer.from(payload, 'base64url');
      if (raw.length < IV_BYTES + TAG_BYTES + 1) throw refuse();
      try {
        const decipher = createDecipheriv('aes-256-gcm', await keyOnce(), raw.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(scope));
        decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw refuse();
      }
    },
  };
}

/**
 * What a list's cursors are bound to: the list, the caller's org (platform keys: their role) and any
 * filter that shapes the list. A cursor made under one scope opens under no other.
 */
export const listScope = (list: string, caller: { orgId: string | null; role: string }, ...filters: (string | undefined)[]): string =>
  [list, caller.orgId ?? `role:${caller.role}`, ...filters.map((f) => f ?? '')].join('|');
