/** The page frame: skip link, header with the role's navigation and Sign out, one main landmark. */
import type { Child, FC } from 'hono/jsx';
import type { Role } from '#domain/principal.ts';
import { CsrfField } from './components.tsx';

export interface Viewer {
  role: Role;
  /** e.g. "Lumière AI SAS (customer, admin)" */
  label: string;
  csrfToken: string;
  /** Customers: an admin of their org (sees the admin-only entries, e.g. Webhooks). */
  orgAdmin?: boolean;
  /** Customers: the budget alert of this month, shown as a banner on every page (null: none). */
  budgetAlert?: string | null;
}

/** Which nav entry a page belongs to (its `key` in NAV). */
export type NavKey = string;

export interface NavEntry {
  key: NavKey;
  href: string;
  text: string;
  /** Shown to org admins only. */
  orgAdmin?: boolean;
}

/** One list of nav entries per role: a new page adds its entry to its roles' lists. */
export const NAV: Record<Role, NavEntry[]> = {
  customer: [
    { key: 'find', href: '/find', text: 'Find capacity' },
    { key: 'sites', href: '/sites', text: 'Sites' },
    { key: 'book', href: '/book', text: 'Book' },
    { key: 'reservations', href: '/reservations', text: 'Reservations' },
    { key: 'listings', href: '/listings', text: 'Listings' },
    { key: 'market', href: '/market', text: 'Market prices' },
    { key: 'invoices', href: '/invoices', text: 'Invoices' },
    { key: 'budget', href: '/budget', text: 'Budget' },
    { key: 'webhooks', href: '/webhooks', text: 'Webhooks', orgAdmin: true },
  ],
  finance: [
    { key: 'invoices', href: '/invoices', text: 'Invoices' },
    { key: 'close', href: '/billing/close', text: 'Monthly close' },
    { key: 'reconciliation', href: '/billing/reconciliation', text: 'Reconciliation' },
    { key: 'revenue', href: '/billing/revenue', text: 'Revenue' },
    { key: 'receivables', href: '/receivables', text: 'Receivables' },
    { key: 'market', href: '/market', text: 'Market prices' },
  ],
  operator: [
    { key: 'fleet', href: '/fleet', text: 'Fleet' },
    { key: 'audit', href: '/audit', text: 'Audit log' },
    { key: 'market', href: '/market', text: 'Market prices' },
    { key: 'key', href: '/key', text: 'Your key' },
  ],
  meter: [{ key: 'key', href: '/key', text: 'Your key' }],
};

export const Layout: FC<{ title: string; viewer: Viewer | null; current?: NavKey; script?: boolean; children?: Child }> = ({ title, viewer, current, script, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${title} · GPU Market`}</title>
      <link rel="stylesheet" href="/portal.css" />
      {script ? <script src="/portal.js" defer></script> : null}
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to main content
      </a>
      <header class="top">
        <p class="brand">
          <a href="/">GPU Market</a>
        </p>
        {viewer ? (
          <>
            <nav aria-label="Portal">
              <ul>
                {NAV[viewer.role].filter((item) => !item.orgAdmin || viewer.orgAdmin).map((item) => (
                  <li>
                    <a href={item.href} aria-current={item.key === current ? 'page' : undefined}>
                      {item.text}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
            <div class="who">
              <span>{`Signed in as ${viewer.label}`}</span>
              <form method="post" action="/sign-out">
                <CsrfField token={viewer.csrfToken} />
                <button type="submit" class="secondary">
                  Sign out
                </button>
              </form>
            </div>
          </>
        ) : null}
      </header>
      <main id="main" tabindex={-1}>
        {viewer?.budgetAlert ? (
          <div class="banner" role="status">
            <p>
              {viewer.budgetAlert} <a href="/budget">See the budget</a>
            </p>
          </div>
        ) : null}
        <h1>{title}</h1>
        {children}
      </main>
      <footer>
        <p>
          {'Times are UTC. API reference: '}
          <a href="/docs">GPU Market API reference</a>
        </p>
      </footer>
    </body>
  </html>
);
