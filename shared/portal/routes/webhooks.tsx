/**
 * Webhook endpoint pages for org admins, over the same endpoint service as /v1/webhook-endpoints
 * (`services.webhooks`): a member or any other role is refused with a 403 page; every form carries the
 * session's CSRF token (signedIn). The signing secret is rendered in the answer to the POST that made
 * it (no-store), never put in a URL and never shown again.
 */
import { DomainError, notFound } from '#domain/errors.ts';
import type { App, Services } from '#http/context.ts';
import { listScope } from '#http/cursor.ts';
import type { ApiDelivery } from '#webhooks/deliveries.ts';
import type { EndpointService } from '#webhooks/endpoints.ts';
import { formBodyLimit, page, seeOther, signedIn, type FormFields, type PortalContext, type Who } from '../http.tsx';
import { ErrorPage } from '../views/key.tsx';
import { EMPTY_ENDPOINT_FORM, WebhookEndpointPage, WebhooksPage, type EndpointForm } from '../views/webhooks.tsx';

const LOG_PAGE = 20;

type Action = (c: PortalContext, who: Who, form: FormFields, service: EndpointService) => Promise<Response>;

/** Customers who are org admins, with the webhook service wired in; anyone else gets a page saying why not. */
function forAdmins(services: Services, what: string, action: Action) {
  return signedIn(services, ['customer'], what, async (c, who, form) => {
    if (who.principal.orgRole !== 'admin') {
      return page(
        c,
        <ErrorPage viewer={who.viewer} title="Not available for this key" message={`${what} is for your org’s admins; you are signed in with a member key.`} />,
        403,
      );
    }
    const service = services.webhooks;
    if (!service) throw notFound('Page', c.req.path);
    return action(c, who, form, service);
  });
}

const idParam = (c: PortalContext, name = 'id') => (c.req.param(name) ?? '').slice(0, 200);

/** The fields of the add form, read from a URL-encoded body (checkboxes repeat `events`). */
async function endpointForm(c: PortalContext, form: FormFields): Promise<EndpointForm> {
  const all = await c.req.parseBody({ all: true });
  const raw = all.events;
  const events = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((v): v is string => typeof v === 'string').map((v) => v.slice(0, 100)).slice(0, 50);
  return { url: (form.url ?? '').trim().slice(0, 2048), description: (form.description ?? '').trim().slice(0, 500), events, errors: {} };
}

/** A refusal of the service, its field errors put next to the fields they name. */
function formErrors(error: DomainError): EndpointForm['errors'] {
  const errors: EndpointForm['errors'] = {};
  for (const e of error.errors ?? []) {
    if (e.path === 'url') errors.url = e.message;
    else if (e.path.startsWith('events')) errors.events = e.message;
    else if (e.path === 'description') errors.description = e.message;
  }
  if (Object.keys(errors).length === 0) errors.url = error.message;
  return errors;
}

const alertsOf = (errors: EndpointForm['errors']) =>
  Object.entries(errors).map(([field, message]) => `${field === 'url' ? 'Endpoint URL' : field === 'events' ? 'Event types' : 'Description'}: ${message}`);

function outcome(d: ApiDelivery, now: Date): string {
  if (d.status === 'pending' && d.nextAttemptAt !== null && Date.parse(d.nextAttemptAt) <= now.getTime()) {
    return `Delivery ${d.id} (${d.eventType}) is queued: its attempt runs in a moment; reload this page to see the answer.`;
  }
  const answer = d.responseStatus === null ? (d.error ? `no HTTP answer (${d.error})` : 'no answer yet') : `HTTP ${d.responseStatus}`;
  const state = d.status === 'pending' ? 'will be retried' : d.status;
  return `Delivery ${d.id} (${d.eventType}): ${state} after ${d.attemptCount} attempt${d.attemptCount === 1 ? '' : 's'}; last answer: ${answer}.`;
}

export function registerWebhookRoutes(app: App, services: Services) {
  const list = async (c: PortalContext, who: Who, service: EndpointService, extra: Partial<Parameters<typeof WebhooksPage>[0]> = {}, status = 200) => {
    const endpoints = (await service.list(who.principal, { limit: 100 })).data;
    return page(c, <WebhooksPage viewer={who.viewer} endpoints={endpoints} form={EMPTY_ENDPOINT_FORM} created={null} notice={null} alerts={[]} {...extra} />, status);
  };

  const endpointPage = async (
    c: PortalContext,
    who: Who,
    service: EndpointService,
    extra: { secret?: { secret: string; previousSecretExpiresAt: string }; notice?: string | null; alerts?: string[]; confirmDelete?: boolean } = {},
    status = 200,
  ) => {
    const id = idParam(c);
    const endpoint = await service.get(who.principal, id);
    const { cursors } = services;
    const scope = listScope('portal:deliveries', who.principal, endpoint.id);
    const cursor = c.req.method === 'GET' ? await cursors.open(scope, c.req.query('cursor') || undefined) : undefined;
    const log = await service.listDeliveries(who.principal, endpoint.id, { limit: LOG_PAGE, cursor });
    const next = await cursors.seal(scope, log.nextCursor);
    let notice = extra.notice ?? null;
    const tested = c.req.query('tested') ?? c.req.query('retried');
    if (!notice && tested) {
      const d = log.data.find((x) => x.id === tested);
      notice = d ? `${c.req.query('tested') ? 'Test event sent. ' : 'Delivery retried. '}${outcome(d, services.clock())}` : null;
    }
    if (!notice && c.req.query('done') === 'created') notice = 'Endpoint added.';
    return page(
      c,
      <WebhookEndpointPage
        viewer={who.viewer}
        endpoint={endpoint}
        deliveries={log.data}
        olderHref={next ? `/webhooks/${encodeURIComponent(endpoint.id)}?cursor=${encodeURIComponent(next)}` : null}
        secret={extra.secret ?? null}
        confirmDelete={extra.confirmDelete ?? false}
        notice={notice}
        alerts={extra.alerts ?? []}
      />,
      status,
    );
  };

  /** A refusal of a test or retry (a disabled endpoint, an attempt in flight, too many outstanding) shown on the endpoint's page. */
  const refusedOn = async (c: PortalContext, who: Who, service: EndpointService, error: unknown) => {
    if (!(error instanceof DomainError) || error.code === 'not_found' || error.status >= 500) throw error;
    if (error.retryAfterSeconds) c.header('retry-after', String(error.retryAfterSeconds));
    return endpointPage(c, who, service, { alerts: [error.message] }, error.status);
  };

  /**
   * A test or retry from the portal counts against the same limits as the API call it stands for
   * (per key, per org, and the org's webhook-tests): over them, the page says so with 429.
   */
  const limited = async (c: PortalContext, who: Who, service: EndpointService, apiPath: string): Promise<Response | null> => {
    const refused = await c.get('chargeWrite')(who.principal, apiPath);
    if (!refused) return null;
    return refusedOn(c, who, service, new DomainError('rate_limited', refused.detail, { retryAfterSeconds: refused.retryAfterSeconds }));
  };

  /** A test event or a retry: charged like the API call at `apiPath`, then the endpoint's page naming the delivery. */
  const deliver = async (c: PortalContext, who: Who, service: EndpointService, apiPath: string, shown: 'tested' | 'retried', send: () => Promise<ApiDelivery>) => {
    const refused = await limited(c, who, service, apiPath);
    if (refused) return refused;
    try {
      const delivery = await send();
      return seeOther(c, `/webhooks/${encodeURIComponent(idParam(c))}?${shown}=${encodeURIComponent(delivery.id)}`);
    } catch (error) {
      return refusedOn(c, who, service, error);
    }
  };

  app.get(
    '/webhooks',
    forAdmins(services, 'The Webhooks page', async (c, who, _form, service) =>
      list(c, who, service, { notice: c.req.query('deleted') ? `Endpoint ${c.req.query('deleted')!.slice(0, 100)} was deleted.` : null }),
    ),
  );

  app.post(
    '/webhooks',
    formBodyLimit,
    forAdmins(services, 'Adding a webhook endpoint', async (c, who, form, service) => {
      const values = await endpointForm(c, form);
      const errors: EndpointForm['errors'] = {};
      if (!values.url) errors.url = 'enter the https URL that should receive the events';
      if (values.events.length === 0) errors.events = 'choose at least one event type';
      if (Object.keys(errors).length > 0) return list(c, who, service, { form: { ...values, errors }, alerts: alertsOf(errors) }, 400);
      try {
        const created = await service.create(who.principal, { url: values.url, events: values.events, ...(values.description ? { description: values.description } : {}) });
        return list(c, who, service, { created, notice: `Endpoint ${created.endpoint.id} added for ${created.endpoint.url}.` }, 201);
      } catch (error) {
        if (!(error instanceof DomainError) || error.status >= 500 || error.code === 'forbidden') throw error;
        const fieldErrors = formErrors(error);
        return list(c, who, service, { form: { ...values, errors: fieldErrors }, alerts: alertsOf(fieldErrors) }, error.status);
      }
    }),
  );

  app.get(
    '/webhooks/:id',
    forAdmins(services, 'The webhook endpoint page', async (c, who, _form, service) => endpointPage(c, who, service)),
  );

  app.post(
    '/webhooks/:id/test',
    formBodyLimit,
    forAdmins(services, 'Sending a test event', async (c, who, _form, service) => {
      const id = idParam(c);
      return deliver(c, who, service, `/v1/webhook-endpoints/${encodeURIComponent(id)}/test`, 'tested', () => service.sendTest(who.principal, id));
    }),
  );

  app.post(
    '/webhooks/:id/rotate',
    formBodyLimit,
    forAdmins(services, 'Rotating a signing secret', async (c, who, _form, service) => {
      try {
        const { secret, previousSecretExpiresAt } = await service.rotateSecret(who.principal, idParam(c));
        return endpointPage(c, who, service, { secret: { secret, previousSecretExpiresAt }, notice: 'Secret rotated.' });
      } catch (error) {
        return refusedOn(c, who, service, error);
      }
    }),
  );

  app.post(
    '/webhooks/:id/delete',
    formBodyLimit,
    forAdmins(services, 'Deleting a webhook endpoint', async (c, who, form, service) => {
      const id = idParam(c);
      if (form.confirm !== 'yes') return endpointPage(c, who, service, { confirmDelete: true });
      await service.remove(who.principal, id);
      return seeOther(c, `/webhooks?deleted=${encodeURIComponent(id)}`);
    }),
  );

  app.post(
    '/webhooks/:id/deliveries/:deliveryId/retry',
    formBodyLimit,
    forAdmins(services, 'Retrying a delivery', async (c, who, _form, service) => {
      const id = idParam(c);
      const deliveryId = idParam(c, 'deliveryId');
      const apiPath = `/v1/webhook-endpoints/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(deliveryId)}/retry`;
      return deliver(c, who, service, apiPath, 'retried', () => service.retryDelivery(who.principal, id, deliveryId));
    }),
  );
}
