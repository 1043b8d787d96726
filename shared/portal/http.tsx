/**
 * Rendering and guarding portal requests: every page goes out with the same security headers, every
 * signed-in route passes one guard (session, role, same-origin POST, CSRF token), and every error is
 * rendered as a page, DomainErrors with their own status and message, anything else as a 500 page
 * naming the request id only.
 */
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { HtmlEscapedString } from 'hono/utils/html';
import { DomainError, ERROR_CODES } from '#domain/errors.ts';
import type { Role } from '#domain/principal.ts';
import type { AppEnv, Services } from '#http/context.ts';
import { errorFields, type Logger } from '#shared/log.ts';
import { CSRF_FIELD, clearSessionCookie, csrfTokenMatches, currentSession, isSameOriginPost, type SignedIn } from './session.ts';
import { ErrorPage, ForbiddenPage } from './views/key.tsx';
import type { Viewer } from './views/layout.tsx';
import { budgetBanner } from './budget-banner.ts';

export type PortalContext = Context<AppEnv>;
export type FormFields = Record<string, string>;
export type Who = SignedIn & { viewer: Viewer };

const CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
export const MAX_FORM_BYTES = 16 * 1024;

export async function page(c: PortalContext, node: HtmlEscapedString | Promise<HtmlEscapedString>, status = 200): Promise<Response> {
  const html = `<!DOCTYPE html>${String(await node)}`;
  c.header('cache-control', 'no-store');
  c.header('content-security-policy', CSP);
  c.header('x-frame-options', 'DENY');
  c.header('x-content-type-options', 'nosniff');
  c.header('referrer-policy', 'same-origin');
  return c.html(html, status as 200);
}

/** A piece of a page (the Book page's script swaps it in), with the same headers as a page. */
export async function fragment(c: PortalContext, node: HtmlEscapedString | Promise<HtmlEscapedString>): Promise<Response> {
  const html = String(await node);
  c.header('cache-control', 'no-store');
  c.header('content-security-policy', CSP);
  c.header('x-content-type-options', 'nosniff');
  return c.html(html, 200);
}

/** POST-redirect-GET: 303 so the browser follows with a GET. */
export const seeOther = (c: PortalContext, location: string): Response => c.redirect(location, 303);

/** A `next` target after sign-in: a path of this site only (never `//host` or a scheme). */
export function localPath(raw: string | undefined | null, fallback = '/'): string {
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\') || raw.length > 500 || /[\u0000-\u001f]/.test(raw)) return fallback;
  return raw;
}

export async function readForm(c: PortalContext): Promise<FormFields> {
  const body = await c.req.parseBody();
  const out: FormFields = {};
  for (const [name, value] of Object.entries(body)) if (typeof value === 'string') out[name] = value;
  return out;
}

/** Form bodies are small; anything larger is refused before it is read. */
export const formBodyLimit = bodyLimit({
  maxSize: MAX_FORM_BYTES,
  onError: (c) => page(c as PortalContext, <ErrorPage viewer={null} title="Form too large" message={`Forms are limited to ${MAX_FORM_BYTES} bytes.`} />, 413),
});

export async function renderError(c: PortalContext, logger: Logger, error: unknown, viewer: Viewer | null): Promise<Response> {
  if (error instanceof DomainError) {
    return page(c, <ErrorPage viewer={viewer} title={ERROR_CODES[error.code].title} message={error.message} />, error.status);
  }
  const requestId = c.get('requestId');
  logger.error('portal request failed', {
    requestId,
    path: c.req.path,
    error: errorFields(error, { stack: true }),
  });
  return page(c, <ErrorPage viewer={viewer} title="Something went wrong" message={`Something went wrong on our side; quote request id ${requestId} to support.`} />, 500);
}

/** The HTML 404 page for a browser (signed in or not). */
export async function notFoundPage(c: PortalContext, services: Services): Promise<Response> {
  let viewer: Viewer | null = null;
  try {
    const who = await currentSession(c, services);
    if (who) viewer = { role: who.principal.role, label: who.session.label, csrfToken: who.session.csrfToken, orgAdmin: who.principal.orgRole === 'admin' };
  } catch {
    viewer = null;
  }
  const html = `<!DOCTYPE html>${String(await (<ErrorPage viewer={viewer} title="Page not found" message={`There is no page at ${c.req.path.slice(0, 200)}.`} />))}`;
  return new Response(html, {
    status: 404,
    headers: {
      'content-type': 'text/html; charset=UTF-8',
      'cache-control': 'no-store',
      'content-security-policy': CSP,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
    },
  });
}

type Handler = (c: PortalContext, who: Who, form: FormFields) => Promise<Response>;

/**
 * A page or form action for signed-in people with one of `roles`. Without a session: GETs go to the
 * sign-in page (and come back after), POSTs too. A POST must be same-origin and carry the session's
 * CSRF token, else 403.
 */
export function signedIn(services: Services, roles: Role[] | 'any', what: string, handler: Handler) {
  return async (c: PortalContext): Promise<Response> => {
    let viewer: Viewer | null = null;
    try {
      const who = await currentSession(c, services);
      if (!who) {
        clearSessionCookie(c);
        const url = new URL(c.req.url);
        return seeOther(c, c.req.method === 'GET' ? `/sign-in?next=${encodeURIComponent(url.pathname + url.search)}` : '/sign-in');
      }
      viewer = { role: who.principal.role, label: who.session.label, csrfToken: who.session.csrfToken, orgAdmin: who.principal.orgRole === 'admin' };
      if (who.principal.role === 'customer' && who.principal.orgId) {
        const { budgets, clock } = services;
        viewer.budgetAlert = budgetBanner(await budgets.spendOf(who.principal.orgId), clock());
      }
      let form: FormFields = {};
      if (c.req.method === 'POST') {
        if (!isSameOriginPost(c)) {
          return page(c, <ErrorPage viewer={viewer} title="Form refused" message="This form was sent from another site, so it was refused." />, 403);
        }
        form = await readForm(c);
        if (!csrfTokenMatches(who.session, form[CSRF_FIELD])) {
          return page(
            c,
            <ErrorPage viewer={viewer} title="Form refused" message="This form is out of date or did not come from this portal. Reload the page and try again." />,
            403,
          );
        }
      }
      if (roles !== 'any' && !roles.includes(who.principal.role)) {
        return page(c, <ForbiddenPage viewer={viewer} what={what} allowed={roles} />, 403);
      }
      return await handler(c, { ...who, viewer }, form);
    } catch (error) {
      return renderError(c, services.logger, error, viewer);
    }
  };
}
