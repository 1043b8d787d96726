/** Invoices (a customer's own; finance: every org's by period, with the CSV link), receivables, and the key page. */
import type { BillingService } from '#billing/service.ts';
import { notFound } from '#domain/errors.ts';
import { periodOf } from '#domain/time.ts';
import type { App } from '#http/context.ts';
import type { Db } from '#store/db.ts';
import { getOrg } from '#store/orgs.ts';
import { INVOICE_STATUSES, type InvoiceStatus, type PortalInvoice, type PortalInvoices } from '../invoices.ts';
import { page, signedIn } from '../http.tsx';
import { CustomerInvoicesPage, FinanceInvoicesPage, ReceivablesPage, type OrgInvoices, type Receivable } from '../views/invoices.tsx';
import { InvoicePage } from '../views/invoice.tsx';
import { KeyPage } from '../views/key.tsx';

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;

/** Invoices grouped by org (named), orgs by name. */
async function byOrg(db: Db, invoices: PortalInvoice[]): Promise<OrgInvoices[]> {
  const ids = [...new Set(invoices.map((i) => i.orgId))];
  const names = new Map(await Promise.all(ids.map(async (id) => [id, (await getOrg(db, id))?.name ?? id] as const)));
  return ids
    .map((orgId) => ({ orgId, orgName: names.get(orgId)!, invoices: invoices.filter((i) => i.orgId === orgId) }))
    .sort((a, b) => a.orgName.localeCompare(b.orgName));
}

export function registerInvoiceRoutes(app: App, invoices: PortalInvoices, billing: BillingService | null) {
  app.get(
    '/invoices',
    signedIn(['customer', 'finance'], 'The Invoices page', async (c, who) => {
      const { db, clock } = c.get('deps');
      if (who.principal.role === 'customer') {
        const orgId = who.principal.orgId!;
        const own = (await invoices.list(orgId, {})).filter((i) => i.orgId === orgId);
        return page(c, <CustomerInvoicesPage viewer={who.viewer} invoices={own} />);
      }
      const alerts: string[] = [];
      const periodInput = (c.req.query('period') ?? '').trim().slice(0, 20);
      let period = periodOf(clock());
      if (periodInput && PERIOD.test(periodInput)) period = periodInput;
      else if (periodInput) alerts.push(`Period: "${periodInput}" is not a month like 2026-11 (YYYY-MM); showing ${period}.`);
      const statusInput = (c.req.query('status') ?? '').trim();
      const status = (INVOICE_STATUSES as readonly string[]).includes(statusInput) ? (statusInput as InvoiceStatus) : null;
      if (statusInput && !status) alerts.push(`Status: "${statusInput.slice(0, 20)}" is not one of ${INVOICE_STATUSES.join(', ')}; showing any status.`);
      const list = await invoices.list(null, { period, ...(status ? { status } : {}) });
      return page(
        c,
        <FinanceInvoicesPage viewer={who.viewer} period={period} periodInput={periodInput || period} status={status} byOrg={await byOrg(db, list)} alerts={alerts} />,
        alerts.length ? 400 : 200,
      );
    }),
  );

  app.get(
    '/invoices/:id',
    signedIn(['customer', 'finance'], 'The invoice page', async (c, who) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      if (!billing) throw notFound('Invoice', id);
      const { invoice, creditNotes } = await billing.invoiceFor(who.principal, id);
      const org = await getOrg(c.get('deps').db, invoice.orgId);
      const done = c.req.query('done');
      return page(
        c,
        <InvoicePage
          viewer={who.viewer}
          invoice={invoice}
          creditNotes={creditNotes}
          orgName={org?.name ?? invoice.orgId}
          notice={done === 'credited' ? `Credit note ${creditNotes.at(-1)?.id ?? ''} was issued on ${invoice.id}.` : null}
          alerts={[]}
        />,
      );
    }),
  );

  app.get(
    '/receivables',
    signedIn(['finance'], 'The Receivables page', async (c, who) => {
      const [open, uncollectible] = await Promise.all([invoices.list(null, { status: 'open' }), invoices.list(null, { status: 'uncollectible' })]);
      const groups = await byOrg(c.get('deps').db, [...open, ...uncollectible]);
      const receivables: Receivable[] = groups
        .map((g) => ({
          orgId: g.orgId,
          orgName: g.orgName,
          open: g.invoices.filter((i) => i.status === 'open'),
          uncollectible: g.invoices.filter((i) => i.status === 'uncollectible'),
        }))
        .sort((a, b) => sumOf(b.open) - sumOf(a.open));
      return page(c, <ReceivablesPage viewer={who.viewer} receivables={receivables} />);
    }),
  );

  app.get(
    '/key',
    signedIn('any', 'This page', async (c, who) => page(c, <KeyPage viewer={who.viewer} siteId={who.principal.siteId} />)),
  );
}

const sumOf = (list: PortalInvoice[]) => list.reduce((s, i) => s + i.total.amount, 0);
