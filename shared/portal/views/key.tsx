import type { FC } from 'hono/jsx';
import type { Role } from '#domain/principal.ts';
import { Layout, type Viewer } from './layout.tsx';

const CAN: Record<Role, { summary: string; routes: string[] }> = {
  customer: {
    summary: 'browse sites, pools and availability; quote, reserve, confirm, extend and cancel reservations; read your usage, invoices and events.',
    routes: ['GET /v1/sites, /v1/pools, /v1/availability', 'POST /v1/quotes, /v1/reservations', 'GET /v1/usage, /v1/invoices, /v1/events'],
  },
  finance: {
    summary: 'read every org’s invoices, export them as CSV, close billing periods and issue credit notes.',
    routes: ['GET /v1/invoices, /v1/invoices/export.csv', 'POST /v1/billing/close', 'GET /v1/billing/reconciliation'],
  },
  operator: {
    summary: 'manage sites, GPU types, pools, price books, maintenance windows, orgs and API keys. Those tasks are done through the API; the portal has no pages for them.',
    routes: ['Operator routes under /v1 (see the API reference)', 'GET /v1/sites, /v1/pools, /v1/availability'],
  },
  meter: {
    summary: 'post usage events for its own site only. A metering agent works through the API; the portal has no pages for it.',
    routes: ['POST /v1/usage (events of reservations at your site, up to 1000 per call)'],
  },
};

export const KeyPage: FC<{ viewer: Viewer; siteId: string | null }> = ({ viewer, siteId }) => (
  <Layout title="What your key can do" viewer={viewer} current="key">
    <p>{`This is a ${viewer.role} key${siteId ? ` for site ${siteId}` : ''}. It can ${CAN[viewer.role].summary}`}</p>
    <ul>
      {CAN[viewer.role].routes.map((r) => (
        <li>
          <code>{r}</code>
        </li>
      ))}
    </ul>
    <p>
      {'Every operation and its fields are described in the '}
      <a href="/docs">API reference</a>.
    </p>
  </Layout>
);

export const ForbiddenPage: FC<{ viewer: Viewer; what: string; allowed: Role[] }> = ({ viewer, what, allowed }) => (
  <Layout title="Not available for this key" viewer={viewer}>
    <div class="alert" role="alert">
      <p>{`${what} is for ${allowed.join(' or ')} keys; you are signed in with a ${viewer.role} key.`}</p>
    </div>
    <p>
      <a href="/">Go to your start page</a>
    </p>
  </Layout>
);

export const ErrorPage: FC<{ viewer: Viewer | null; title: string; message: string }> = ({ viewer, title, message }) => (
  <Layout title={title} viewer={viewer}>
    <div class="alert" role="alert">
      <p>{message}</p>
    </div>
    <p>
      <a href="/">Go to your start page</a>
    </p>
  </Layout>
);
