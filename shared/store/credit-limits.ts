/**
 * Per-org credit limits on unpaid commitments (issue 15, hoarding): finance sets one; while an org's
 * unpaid invoices plus the invoice a confirmation or extension would add exceed it, the booking is
 * refused until invoices are paid. No item: no limit.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Invoice } from '#domain/invoice.ts';
import type { Db } from './db.ts';
import { listInvoices } from './invoices.ts';
import { keys } from './keys.ts';

export interface CreditLimit {
  orgId: string;
  /** Integer EUR cents, VAT included; null: no limit. */
  amount: number | null;
  updatedAt: string;
  updatedBy: string;
}

export async function getCreditLimit(db: Db, orgId: string): Promise<CreditLimit | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.creditLimit(orgId) }));
  return (res.Item?.creditLimit as CreditLimit | undefined) ?? null;
}

export async function putCreditLimit(db: Db, limit: CreditLimit): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: { ...keys.creditLimit(limit.orgId), entity: 'creditLimit', creditLimit: limit } }));
}

/** What is still to pay on an invoice: its total less its credit notes, unless it is paid or void. */
export const unpaidOf = (i: Invoice): number => (i.status === 'paid' || i.status === 'void' ? 0 : Math.max(0, i.total.amount - i.creditedTotal.amount));

/** The org's unpaid invoices, summed (cents, VAT included): drafts, open and uncollectible ones. */
export async function unpaidTotal(db: Db, orgId: string): Promise<number> {
  let sum = 0;
  let cursor: string | undefined;
  do {
    const page = await listInvoices(db, { orgId, limit: 200, cursor });
    for (const i of page.data) sum += unpaidOf(i);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return sum;
}
