/** Invoices (a customer's own; finance: every org's by period, with the CSV link), receivables, and the key page. */
import type { BillingService } from '#billing/service.ts';
import { DomainError, notFound } from '#domain/errors.ts';
import { eur } from '#domain/money.ts';
import { periodOf } from '#domain/time.ts';
import type { App, Services } from '#http/context.ts';
import type { Db } from '#store/db.ts';
import { getOrg, listAllOrgs } from '#store/orgs.ts';
import { INVOICE_STATUSES, type InvoiceStatus } from '#domain/invoice.ts';
import type { PortalInvoice, PortalInvoices } from '../invoices.ts';
import { formBodyLimit, page, seeOther, signedIn } from '../http.tsx';
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

export function registerInvoiceRoutes(app: App, services: Services, invoices: PortalInvoices, billing: BillingService | null) {
  app.get(
    '/invoices',
    signedIn(services, ['customer', 'finance'], 'The Invoices page', async (c, who) => {
      const { db, clock } = services;
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
      const orgs = (await listAllOrgs(db)).map((o) => ({ id: o.id, name: o.name })).sort((a, b) => a.name.localeCompare(b.name));
      const orgInput = (c.req.query('org') ?? '').trim().slice(0, 100);
      const org = orgs.find((o) => o.id === orgInput)?.id ?? null;
      if (orgInput && !org) alerts.push(`Org: "${orgInput}" is not an org; showing every org.`);
      const list = await invoices.list(org, { period, ...(status ? { status } : {}) });
      return page(
        c,
        <FinanceInvoicesPage viewer={who.viewer} period={period} periodInput={periodInput || period} status={status} orgs={orgs} org={org} byOrg={await byOrg(db, list)} alerts={alerts} />,
        alerts.length ? 400 : 200,
      );
    }),
  );

  app.get(
    '/invoices/:id',
    signedIn(services, ['customer', 'finance'], 'The invoice page', async (c, who) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      if (!billing) throw notFound('Invoice', id);
      const { invoice, creditNotes } = await billing.invoiceFor(who.principal, id);
      const org = await getOrg(services.db, invoice.orgId);
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

  app.post(
    '/invoices/:id/credit-notes',
    formBodyLimit,
    signedIn(services, ['finance'], 'Issuing a credit note', async (c, who, form) => {
      const id = (c.req.param('id') ?? '').slice(0, 100);
      if (!billing) throw notFound('Invoice', id);
      const amountText = (form.amount ?? '').trim().slice(0, 30);
      const reason = (form.reason ?? '').trim().slice(0, 500);
      const errors: Partial<Record<'amount' | 'reason', string>> = {};
      const cents = parseCreditNoteAmount(amountText);
      if (!amountText) errors.amount = 'enter the amount to credit, excluding VAT, e.g. 120.00';
      else if (cents === null || cents <= 0) errors.amount = `"${amountText}" is not an amount in euros like 120.00`;
      if (!reason) errors.reason = 'say why the invoice is credited';
      const again = async (alerts: string[], errs: typeof errors, status: number) => {
        const { invoice, creditNotes } = await billing.invoiceFor(who.principal, id);
        const org = await getOrg(services.db, invoice.orgId);
        return page(
          c,
          <InvoicePage viewer={who.viewer} invoice={invoice} creditNotes={creditNotes} orgName={org?.name ?? invoice.orgId} notice={null} alerts={alerts} creditForm={{ amount: amountText, reason, errors: errs }} />,
          status,
        );
      };
      if (cents === null || errors.amount || errors.reason) {
        return again(Object.entries(errors).map(([f, m]) => `${f === 'amount' ? 'Amount excluding VAT' : 'Reason'}: ${m}`), errors, 400);
      }
      try {
        // The form's CSRF token is per session; with the invoice and amount it makes a retry of the same submission idempotent.
        await billing.issueCreditNote(who.principal, id, { subtotal: eur(cents), reason, idempotencyKey: `portal:${who.sessionId.slice(0, 16)}:${cents}:${reason}` });
        return seeOther(c, `/invoices/${encodeURIComponent(id)}?done=credited`);
      } catch (error) {
        if (!(error instanceof DomainError) || error.code === 'not_found') throw error;
        const amount = error.errors?.find((e) => e.path === 'amount')?.message;
        return again([error.errors?.length ? error.errors.map((e) => `${e.path === 'amount' ? 'Amount excluding VAT' : e.path}: ${e.message}`).join('; ') : error.message], amount ? { amount } : {}, error.status);
      }
    }),
  );

  app.get(
    '/receivables',
    signedIn(services, ['finance'], 'The Receivables page', async (c, who) => {
      const [open, uncollectible] = await Promise.all([invoices.list(null, { status: 'open' }), invoices.list(null, { status: 'uncollectible' })]);
      const groups = await byOrg(services.db, [...open, ...uncollectible]);
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
    signedIn(services, 'any', 'This page', async (c, who) => page(c, <KeyPage viewer={who.viewer} siteId={who.principal.siteId} />)),
  );
}

const sumOf = (list: PortalInvoice[]) => list.reduce((s, i) => s + i.total.amount, 0);

/**
 * A credit note's amount as finance types it: `1,234.56`, `1234.5`, `€120` or `120,50` (decimal comma)
 * → cents; null when it is not an amount. It accepts more than `parseEuros` (format.ts): the euro
 * sign and thousands separators, as an amount copied from an invoice carries them.
 */
export function parseCreditNoteAmount(text: string): number | null {
  let t = text.replace(/[€\s]/g, '');
  if (/^\d+,\d{1,2}$/.test(t)) t = t.replace(',', '.');
  else t = t.replace(/,(?=\d{3}(\D|$))/g, '');
  if (!/^\d{1,9}(\.\d{1,2})?$/.test(t)) return null;
  const [whole, fraction = ''] = t.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'));
}
