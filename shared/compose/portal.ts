/**
 * What the portal reads through ports, wired here: billing's invoices (the portal knows nothing of
 * their storage).
 */
import { toApiInvoice } from '#billing/invoice-wire.ts';
import type { PortalInvoices } from '#portal/invoices.ts';
import type { Db } from '#store/db.ts';
import { listInvoices } from '#store/invoices.ts';

/** The portal's view of billing's invoices: one org's (or every org's, for finance), newest first, at most 200. */
export const portalInvoicesOf = (db: Db): PortalInvoices => ({
  async list(orgId, filters) {
    const page = await listInvoices(db, { orgId: orgId ?? filters.orgId, period: filters.period, status: filters.status, limit: 200 });
    // The portal shows the note to finance only (its views decide), so it reads finance's view.
    return page.data.map((i) => toApiInvoice(i, 'finance'));
  },
});
