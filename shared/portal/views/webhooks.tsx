/**
 * Webhook endpoints for org admins: the list and the form to add one (its signing secret shown once),
 * and one endpoint's page (send a test event, rotate the secret, delete it, the delivery log with every
 * attempt and a Retry button per delivery). Everything goes through the same endpoint service as
 * /v1/webhook-endpoints.
 */
import type { FC } from 'hono/jsx';
import type { ApiDelivery, ApiEndpoint } from '#webhooks/deliveries.ts';
import { ALL_EVENTS, EVENT_TYPES } from '#webhooks/endpoints.ts';
import { CsrfField, InputField, Outcome, PostButton, StatusBadge, TableHead, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

export interface EndpointForm {
  url: string;
  description: string;
  events: string[];
  errors: Partial<Record<'url' | 'events' | 'description', string>>;
}

export const EMPTY_ENDPOINT_FORM: EndpointForm = { url: '', description: '', events: [], errors: {} };

/** An attempt's answer: the HTTP status, or why there was none, without saying the status twice. */
const answerText = (a: { responseStatus: number | null; error: string | null }) => {
  const status = a.responseStatus === null ? 'no HTTP answer' : `HTTP ${a.responseStatus}`;
  return a.error && a.error !== status ? `${status}, ${a.error}` : status;
};

const eventsText = (events: string[]) => (events.includes(ALL_EVENTS) ? 'All events' : events.join(', '));
const endpointHref = (id: string) => `/webhooks/${encodeURIComponent(id)}`;

/** The secret of an endpoint, shown once: right after it is created or rotated, never again. */
const SecretPanel: FC<{ endpoint: ApiEndpoint; secret: string; rotated?: string | undefined }> = ({ endpoint, secret, rotated }) => (
  <section class="preview" aria-labelledby="secret-heading">
    <h2 id="secret-heading">{rotated ? 'New signing secret' : 'Signing secret'}</h2>
    <p>
      {`Copy the signing secret of ${endpoint.url} now: it is shown only this once. Verify each delivery's webhook-signature header with it (Standard Webhooks).`}
      {rotated ? ` The previous secret keeps signing next to it until ${rotated.slice(0, 16).replace('T', ' ')} UTC.` : ''}
    </p>
    <p>
      <label for="webhook-secret">Signing secret</label>
      <br />
      <input type="text" id="webhook-secret" readonly value={secret} size={48} spellcheck={false} autocomplete="off" />
    </p>
  </section>
);

export const WebhooksPage: FC<{
  viewer: Viewer;
  endpoints: ApiEndpoint[];
  form: EndpointForm;
  created: { endpoint: ApiEndpoint; secret: string } | null;
  notice: string | null;
  alerts: string[];
}> = (p) => (
  <Layout title="Webhook endpoints" viewer={p.viewer} current="webhooks">
    <Outcome alerts={p.alerts} notice={p.notice} />
    {p.created ? <SecretPanel endpoint={p.created.endpoint} secret={p.created.secret} /> : null}
    <p>Your systems hear about reservations, invoices and budgets through signed webhooks. Each endpoint gets the event types it subscribes to, retried with backoff for 72 hours.</p>
    {p.endpoints.length === 0 ? (
      <p>No webhook endpoints yet.</p>
    ) : (
      <table>
        <caption>Your org’s webhook endpoints</caption>
        <TableHead columns={['Endpoint', 'Event types', 'Status', 'Created']} />
        <tbody>
          {p.endpoints.map((e) => (
            <tr>
              <th scope="row">
                <a href={endpointHref(e.id)}>{e.url}</a>
                {e.description ? (
                  <>
                    <br />
                    <span class="muted">{e.description}</span>
                  </>
                ) : null}
              </th>
              <td>{eventsText(e.events)}</td>
              <td>
                <StatusBadge status={e.status} />
                {e.failingSince ? (
                  <>
                    {' failing since '}
                    <Time iso={e.failingSince} />
                  </>
                ) : null}
              </td>
              <td>
                <Time iso={e.createdAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    <section aria-labelledby="add-heading">
      <h2 id="add-heading">Add an endpoint</h2>
      <form method="post" action="/webhooks" class="stack" novalidate>
        <CsrfField token={p.viewer.csrfToken} />
        <InputField
          id="webhook-url"
          name="url"
          label="Endpoint URL"
          type="url"
          value={p.form.url}
          placeholder="https://partner.example/webhooks/gpu-market"
          hint="https, on a public address."
          error={p.form.errors.url}
        />
        <InputField id="webhook-description" name="description" label="Description (optional)" type="text" value={p.form.description} error={p.form.errors.description} />
        <fieldset aria-describedby={p.form.errors.events ? 'webhook-events-error' : undefined}>
          <legend>Event types</legend>
          <label class="check">
            <input type="checkbox" name="events" value={ALL_EVENTS} checked={p.form.events.includes(ALL_EVENTS)} />
            All events, including types added later
          </label>
          {EVENT_TYPES.map((type) => (
            <label class="check">
              <input type="checkbox" name="events" value={type} checked={p.form.events.includes(type)} />
              {type}
            </label>
          ))}
          {p.form.errors.events ? (
            <p class="field-error" id="webhook-events-error">
              {`Error: ${p.form.errors.events}`}
            </p>
          ) : null}
        </fieldset>
        <div class="buttons">
          <button type="submit">Add endpoint</button>
        </div>
      </form>
    </section>
  </Layout>
);

const AttemptList: FC<{ d: ApiDelivery }> = ({ d }) =>
  d.attempts.length === 0 ? (
    <>No attempt yet</>
  ) : (
    <details>
      <summary>{`${d.attempts.length} attempt${d.attempts.length === 1 ? '' : 's'} of ${d.id}`}</summary>
      <ol>
        {d.attempts.map((a) => (
          <li>
            <Time iso={a.at} />
            {`: ${answerText(a)}${a.latencyMs === null ? '' : ` in ${a.latencyMs} ms`}`}
          </li>
        ))}
      </ol>
    </details>
  );

export const WebhookEndpointPage: FC<{
  viewer: Viewer;
  endpoint: ApiEndpoint;
  deliveries: ApiDelivery[];
  olderHref: string | null;
  secret: { secret: string; previousSecretExpiresAt: string } | null;
  confirmDelete: boolean;
  notice: string | null;
  alerts: string[];
}> = (p) => {
  const e = p.endpoint;
  const base = endpointHref(e.id);
  return (
    <Layout title={`Webhook endpoint ${e.id}`} viewer={p.viewer} current="webhooks">
      <Outcome alerts={p.alerts} notice={p.notice} />
      {p.secret ? <SecretPanel endpoint={e} secret={p.secret.secret} rotated={p.secret.previousSecretExpiresAt} /> : null}
      <dl class="facts">
        <dt>URL</dt>
        <dd>{e.url}</dd>
        {e.description ? (
          <>
            <dt>Description</dt>
            <dd>{e.description}</dd>
          </>
        ) : null}
        <dt>Event types</dt>
        <dd>{eventsText(e.events)}</dd>
        <dt>Status</dt>
        <dd>
          <StatusBadge status={e.status} />
          {e.disabledReason ? ` ${e.disabledReason}` : ''}
        </dd>
        {e.failingSince ? (
          <>
            <dt>Failing since</dt>
            <dd>
              <Time iso={e.failingSince} />
            </dd>
          </>
        ) : null}
        <dt>Created</dt>
        <dd>
          <Time iso={e.createdAt} />
        </dd>
      </dl>
      {p.confirmDelete ? (
        <section class="preview" aria-labelledby="delete-heading">
          <h2 id="delete-heading">Delete this endpoint?</h2>
          <p>{`Deleting ${e.url} stops every delivery to it; pending deliveries are dropped. This cannot be undone.`}</p>
          <div class="buttons">
            <PostButton action={`${base}/delete`} csrf={p.viewer.csrfToken} label="Yes, delete the endpoint" className="danger" hidden={{ confirm: 'yes' }} />
            <a href={base}>Keep it</a>
          </div>
        </section>
      ) : (
        <div class="buttons">
          <PostButton action={`${base}/test`} csrf={p.viewer.csrfToken} label="Send test event" />
          <PostButton action={`${base}/rotate`} csrf={p.viewer.csrfToken} label="Rotate secret" className="secondary" />
          <PostButton action={`${base}/delete`} csrf={p.viewer.csrfToken} label="Delete endpoint" className="danger" />
        </div>
      )}
      <section aria-labelledby="log-heading">
        <h2 id="log-heading">Delivery log</h2>
        {p.deliveries.length === 0 ? (
          <p>No deliveries yet. Send a test event to see one.</p>
        ) : (
          <table>
            <caption>{`Deliveries to ${e.url}, newest first (kept 30 days)`}</caption>
            <TableHead columns={['Event', 'Status', 'Last attempt', 'Attempts', 'Next attempt', 'Action']} />
            <tbody>
              {p.deliveries.map((d) => (
                <tr>
                  <th scope="row">
                    {d.eventType}
                    <br />
                    <span class="muted">{d.id}</span>
                  </th>
                  <td>
                    <StatusBadge status={d.status} />
                  </td>
                  <td>
                    {d.lastAttemptAt ? (
                      <>
                        <Time iso={d.lastAttemptAt} />
                        {`: ${answerText(d)}`}
                      </>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td>
                    <AttemptList d={d} />
                  </td>
                  <td>
                    <Time iso={d.nextAttemptAt} />
                  </td>
                  <td>
                    {e.status === 'enabled' ? (
                      <form method="post" action={`${base}/deliveries/${encodeURIComponent(d.id)}/retry`} class="inline">
                        <CsrfField token={p.viewer.csrfToken} />
                        <button type="submit" class="secondary">
                          Retry
                          <span class="visually-hidden">{` delivery ${d.id}`}</span>
                        </button>
                      </form>
                    ) : (
                      '—'
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {p.olderHref ? (
          <p>
            <a href={p.olderHref}>Older deliveries</a>
          </p>
        ) : null}
      </section>
      <p>
        <a href="/webhooks">All webhook endpoints</a>
      </p>
    </Layout>
  );
};
