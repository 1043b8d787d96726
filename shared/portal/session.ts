/**
 * The portal's session cookie and the checks every signed-in request passes: the cookie holds only
 * the session id (HttpOnly, SameSite=Lax, Path=/); over https (always, in AWS) it is the
 * `__Host-gm_session` cookie, always Secure, bound to this host; plain `gm_session` only over local
 * http (`npm start`). A client-sent `x-forwarded-proto` decides nothing. POSTs must come from this
 * origin and carry the session's CSRF token.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { parse as parseCookieHeader } from 'hono/utils/cookie';
import type { Principal } from '#domain/principal.ts';
import type { AppEnv, Services } from '#http/context.ts';
import type { Db } from '#store/db.ts';
import { SESSION_TTL_SECONDS, apiKeyStillActive, deleteSession, getSession, type PortalSession } from '#store/sessions.ts';

export const SESSION_COOKIE = 'gm_session';
/** The cookie over https: the `__Host-` prefix makes browsers refuse it unless Secure, Path=/ and host-only. */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
export const sessionCookieName = (https: boolean): string => (https ? SECURE_SESSION_COOKIE : SESSION_COOKIE);
export const CSRF_FIELD = 'csrf';

export interface SignedIn {
  sessionId: string;
  session: PortalSession;
  principal: Principal;
}

/**
 * True when the request URL is https: always in AWS (API Gateway terminates TLS and the Lambda adapter
 * builds an https URL), never under `npm start`. Not a client-sent header.
 */
export function isHttps(c: Context<AppEnv>): boolean {
  return new URL(c.req.url).protocol === 'https:';
}

export function setSessionCookie(c: Context<AppEnv>, sessionId: string): void {
  const https = isHttps(c);
  setCookie(c, sessionCookieName(https), sessionId, { httpOnly: true, sameSite: 'Lax', path: '/', secure: https, maxAge: SESSION_TTL_SECONDS });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  const https = isHttps(c);
  deleteCookie(c, sessionCookieName(https), { httpOnly: true, sameSite: 'Lax', path: '/', secure: https });
}

async function liveSession(db: Db, sessionId: string, now: Date): Promise<PortalSession | null> {
  const session = await getSession(db, sessionId, now);
  if (!session) return null;
  if (!(await apiKeyStillActive(db, session.principal.keyId))) {
    await deleteSession(db, sessionId);
    return null;
  }
  return session;
}

/** The signed-in person behind the request's cookie, or null. */
export async function currentSession(c: Context<AppEnv>, { db, clock }: Pick<Services, 'db' | 'clock'>): Promise<SignedIn | null> {
  const sessionId = getCookie(c, sessionCookieName(isHttps(c)));
  if (!sessionId) return null;
  const session = await liveSession(db, sessionId, clock());
  return session ? { sessionId, session, principal: session.principal } : null;
}

/**
 * The principal of a portal session named by a raw `Cookie` header: lets the API accept the portal's
 * session for safe (GET) requests such as the finance CSV export link, if the API's authentication
 * chooses to. Null without a live session.
 */
export async function principalFromSessionCookie(db: Db, cookieHeader: string | undefined, now: Date, https: boolean): Promise<Principal | null> {
  if (!cookieHeader) return null;
  const name = sessionCookieName(https);
  const sessionId = parseCookieHeader(cookieHeader, name)[name];
  if (!sessionId) return null;
  return (await liveSession(db, sessionId, now))?.principal ?? null;
}

/**
 * A form POST must come from a page of this origin: browsers send `Sec-Fetch-Site` and `Origin` on
 * form posts, and a cross-site one is refused even before the CSRF token is looked at.
 */
export function isSameOriginPost(c: Context<AppEnv>): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') return false;
  const origin = c.req.header('origin');
  if (!origin) return true;
  if (origin === 'null') return false;
  try {
    const host = c.req.header('host') ?? new URL(c.req.url).host;
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

export function csrfTokenMatches(session: PortalSession, submitted: unknown): boolean {
  if (typeof submitted !== 'string' || submitted.length !== session.csrfToken.length) return false;
  return timingSafeEqual(Buffer.from(submitted, 'utf8'), Buffer.from(session.csrfToken, 'utf8'));
}
