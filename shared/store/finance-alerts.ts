/**
 * Alerts for finance: what billing could not settle on its own and a person must look at (a Stripe
 * invoice that did not add up to ours and was deleted or voided). Written in the same transaction as
 * the invoice change it reports, read by finance through `GET /v1/billing/alerts`.
 */
import { prefixPage } from './cursor.ts';
import type { Db } from './db.ts';
import { keys } from './keys.ts';
import type { TransactItem } from './transact.ts';

export const FINANCE_ALERT_KINDS = ['stripe_invoice_mismatch'] as const;
export type FinanceAlertKind = (typeof FINANCE_ALERT_KINDS)[number];

export interface FinanceAlert {
  id: string;
  at: string;
  kind: FinanceAlertKind;
  orgId: string;
  invoiceId: string;
  stripeInvoiceId: string | null;
  /** What was done in Stripe: the draft deleted before it was sent, the finalized invoice voided, or nothing. */
  stripeAction: 'draft_deleted' | 'voided' | 'none';
  /** For finance only: the amounts that differed. */
  detail: string;
}

export const financeAlertPut = (db: Db, alert: FinanceAlert): TransactItem => ({
  Put: { TableName: db.table, Item: { ...keys.financeAlert(alert.at, alert.id), entity: 'financeAlert', alert }, ConditionExpression: 'attribute_not_exists(pk)' },
});

/** Newest first. */
export async function listFinanceAlerts(db: Db, limit: number, cursor: string | undefined): Promise<{ data: FinanceAlert[]; nextCursor: string | null }> {
  const page = await prefixPage(db, { pk: keys.financeAlert('', '').pk, prefix: 'AT#', sk: /^AT#/, newestFirst: true }, { limit, cursor });
  return { data: page.items.map((i) => i.alert as FinanceAlert), nextCursor: page.nextCursor };
}
