/**
 * Portal sessions (docs/portal.md). Signing in exchanges an API key for a random 256-bit session id;
 * the browser holds only that id (in a cookie), the table holds only its SHA-256, the principal the
 * key resolved to and a per-session CSRF token. The API key itself is never stored. Sessions last
 * 12 hours from sign-in; DynamoDB's TTL removes them later, so reads check `expiresAt` themselves.
 */
import { createHash, randomBytes } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Principal } from '#domain/principal.ts';
import type { Db } from './db.ts';
import { keys, ttlAfter } from './keys.ts';
import { apiKeyItemById } from './orgs.ts';

export const SESSION_TTL_SECONDS = 12 * 3600;
const SESSION_ID_BYTES = 32;
const SESSION_ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface PortalSession {
  principal: Principal;
  /** Who is signed in, as the header shows it (e.g. "Lumière AI SAS (customer admin)"). */
  label: string;
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
}

const digestOf = (sessionId: string): string => createHash('sha256').update(sessionId, 'utf8').digest('hex');
const randomToken = (): string => randomBytes(SESSION_ID_BYTES).toString('base64url');

/** Starts a session for `principal`; returns the id to put in the cookie (shown nowhere else). */
export async function createSession(db: Db, who: { principal: Principal; label: string }, now: Date): Promise<{ id: string; session: PortalSession }> {
  const id = randomToken();
  const session: PortalSession = {
    principal: who.principal,
    label: who.label,
    csrfToken: randomToken(),
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + SESSION_TTL_SECONDS * 1000).toISOString(),
  };
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: { ...keys.session(digestOf(id)), entity: 'portalSession', ...session, ttl: ttlAfter(now, SESSION_TTL_SECONDS) },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
  return { id, session };
}

/** The live session behind a cookie value, or null (malformed, unknown, signed out or expired). */
export async function getSession(db: Db, id: string, now: Date): Promise<PortalSession | null> {
  if (!SESSION_ID_SHAPE.test(id)) return null;
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.session(digestOf(id)), ConsistentRead: true }));
  const item = res.Item;
  if (!item || Date.parse(String(item.expiresAt)) <= now.getTime()) return null;
  return {
    principal: item.principal as Principal,
    label: String(item.label),
    csrfToken: String(item.csrfToken),
    createdAt: String(item.createdAt),
    expiresAt: String(item.expiresAt),
  };
}

export async function deleteSession(db: Db, id: string): Promise<void> {
  if (!SESSION_ID_SHAPE.test(id)) return;
  await db.doc.send(new DeleteCommand({ TableName: db.table, Key: keys.session(digestOf(id)) }));
}

/**
 * Whether the API key a session was opened with still exists unrevoked: revoking a key ends the
 * portal sessions opened with it at their next request.
 */
export async function apiKeyStillActive(db: Db, keyId: string): Promise<boolean> {
  const item = await apiKeyItemById(db, keyId);
  return item !== null && item.revoked !== true;
}
