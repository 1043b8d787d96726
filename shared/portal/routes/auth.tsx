/** Sign in (API key → server-side session), sign out, and the start page per role. */
import type { Principal } from '#domain/principal.ts';
import type { App, Services } from '#http/context.ts';
import type { Db } from '#store/db.ts';
import { getOrg, principalForKey } from '#store/orgs.ts';
import { createSession, deleteSession } from '#store/sessions.ts';
import { formBodyLimit, localPath, page, readForm, renderError, seeOther, signedIn, type PortalContext } from '../http.tsx';
import { clearSessionCookie, currentSession, isHttps, isSameOriginPost, sessionCookieName, setSessionCookie } from '../session.ts';
import { getCookie } from 'hono/cookie';
import { ErrorPage } from '../views/key.tsx';
import { SignInPage } from '../views/sign-in.tsx';

const API_KEY_SHAPE = /^[A-Za-z0-9_\-.]{8,200}$/;

export const START_PAGE: Record<Principal['role'], string> = { customer: '/find', finance: '/invoices', operator: '/key', meter: '/key' };

async function labelFor(db: Db, p: Principal): Promise<string> {
  switch (p.role) {
    case 'customer': {
      const org = p.orgId ? await getOrg(db, p.orgId) : null;
      return `${org?.name ?? p.orgId ?? 'unknown org'} (customer ${p.orgRole ?? 'member'})`;
    }
    case 'finance':
      return 'finance staff';
    case 'operator':
      return 'operator staff';
    case 'meter':
      return `metering agent of ${p.siteId ?? 'no site'}`;
  }
}

async function signInFailed(c: PortalContext, next: string, message: string, status: 400 | 401): Promise<Response> {
  return page(c, <SignInPage next={next} error={message} />, status);
}

export function registerAuthRoutes(app: App, services: Services) {
  app.get('/', async (c) => {
    try {
      const who = await currentSession(c, services);
      return seeOther(c, who ? START_PAGE[who.principal.role] : '/sign-in');
    } catch (error) {
      return renderError(c, services.logger, error, null);
    }
  });

  app.get('/sign-in', async (c) => {
    try {
      const who = await currentSession(c, services);
      const next = localPath(c.req.query('next'));
      if (who) return seeOther(c, next === '/' ? START_PAGE[who.principal.role] : next);
      return page(c, <SignInPage next={next} signedOut={c.req.query('signed-out') === '1'} />);
    } catch (error) {
      return renderError(c, services.logger, error, null);
    }
  });

  app.post('/sign-in', formBodyLimit, async (c) => {
    try {
      if (!isSameOriginPost(c)) {
        return page(c, <ErrorPage viewer={null} title="Form refused" message="This form was sent from another site, so it was refused." />, 403);
      }
      const form = await readForm(c);
      const next = localPath(form.next);
      const key = (form.apiKey ?? '').trim();
      if (!key) return signInFailed(c, next, 'API key: paste your API key to sign in.', 400);
      const { db, clock } = services;
      const principal = API_KEY_SHAPE.test(key) ? await principalForKey(db, key) : null;
      if (!principal) return signInFailed(c, next, 'API key: this key is not valid or has been revoked.', 401);
      const previous = getCookie(c, sessionCookieName(isHttps(c)));
      if (previous) await deleteSession(db, previous);
      const { id } = await createSession(db, { principal, label: await labelFor(db, principal) }, clock());
      setSessionCookie(c, id);
      return seeOther(c, next === '/' ? START_PAGE[principal.role] : next);
    } catch (error) {
      return renderError(c, services.logger, error, null);
    }
  });

  app.post(
    '/sign-out',
    formBodyLimit,
    signedIn(services, 'any', 'Signing out', async (c, who) => {
      await deleteSession(services.db, who.sessionId);
      clearSessionCookie(c);
      return seeOther(c, '/sign-in?signed-out=1');
    }),
  );
}
