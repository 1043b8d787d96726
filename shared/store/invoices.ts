/**
 * Billing storage: invoices and credit notes (the ledger rows, Stripe events and the marker
 * partitions are in billing-records.ts). This module owns the billing key shapes (rows of
 * docs/table-design.md, "Billing"), as keys.ts does for the booking core; the billing service asks
 * for items by intent.
 */
import { BatchGetCommand, GetCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Invoice, CreditNote, InvoiceStatus } from '#domain/invoice.ts';
import type { Db } from './db.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';
import { putNew, type TransactItem } from './transact.ts';

const orgPk = (orgId: string) => keys.org(orgId).pk;

export const billingKeys = {
  invoice: (orgId: string, invoiceId: string) => ({ pk: orgPk(orgId), sk: `INV#${invoiceId}` }),
  invoiceIndex: (invoiceId: string) => ({ gsi1pk: `INV#${invoiceId}`, gsi1sk: 'INV' }),
  invoicesByPeriod: (period: string, invoiceId: string) => ({ gsi2pk: 'INVOICES', gsi2sk: `${period}#${invoiceId}` }),
  creditNote: (orgId: string, creditNoteId: string) => ({ pk: orgPk(orgId), sk: `CN#${creditNoteId}` }),
  creditNoteIndex: (creditNoteId: string) => ({ gsi1pk: `CN#${creditNoteId}`, gsi1sk: 'CN' }),
  creditNotesByPeriod: (period: string, creditNoteId: string) => ({ gsi2pk: 'CREDITNOTES', gsi2sk: `${period}#${creditNoteId}` }),
  /** What earlier closes invoiced of an org's on-demand usage in one month and pool. */
  usageLedger: (orgId: string, usagePeriod: string, poolId: string) => ({ pk: orgPk(orgId), sk: `ODLEDGER#${usagePeriod}#${poolId}` }),
  stripeEvent: (stripeEventId: string) => ({ pk: `STRIPEEVT#${stripeEventId}`, sk: 'STRIPEEVT' }),
  /** Stripe's invoice id → ours (a credit note made in Stripe's dashboard names only Stripe's invoice). */
  stripeInvoice: (stripeInvoiceId: string) => ({ pk: `STRIPEINV#${stripeInvoiceId}`, sk: 'STRIPEINV' }),
  /** Work left for the Stripe sync: present while an invoice or credit note is not yet in Stripe. */
  syncMarker: (createdAt: string, kind: 'INV' | 'CN', id: string) => ({ pk: 'BILLSYNC', sk: `${createdAt}#${kind}#${id}` }),
  /** Present while an invoice is open (finalized, not paid, void or uncollectible). */
  receivable: (finalizedAt: string, invoiceId: string) => ({ pk: 'RECEIVABLE', sk: `${finalizedAt}#${invoiceId}` }),
} as const;

const INVOICE_PREFIX = 'INV#';

// ---- invoices ----

function invoiceItem(i: Invoice): Record<string, unknown> {
  return {
    ...billingKeys.invoice(i.orgId, i.id),
    ...billingKeys.invoiceIndex(i.id),
    ...billingKeys.invoicesByPeriod(i.period, i.id),
    entity: 'invoice',
    invoice: i,
  };
}

export const invoiceCreate = (db: Db, i: Invoice): TransactItem => putNew(db, invoiceItem(i));

/** Replace an invoice read at `previous.version`. */
export const invoiceReplace = (db: Db, previous: Invoice, next: Invoice): TransactItem => ({
  Put: {
    TableName: db.table,
    Item: invoiceItem(next),
    ConditionExpression: 'invoice.version = :v',
    ExpressionAttributeValues: { ':v': previous.version },
  },
});

export async function getInvoice(db: Db, orgId: string, invoiceId: string): Promise<Invoice | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: billingKeys.invoice(orgId, invoiceId), ConsistentRead: true }));
  return (res.Item?.invoice as Invoice | undefined) ?? null;
}

/** By id alone (finance, Stripe webhooks): the index gives the org, a consistent read the state. */
export async function findInvoice(db: Db, invoiceId: string): Promise<Invoice | null> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk = :sk',
      ExpressionAttributeValues: { ':pk': billingKeys.invoiceIndex(invoiceId).gsi1pk, ':sk': 'INV' },
    }),
  );
  const hit = res.Items?.[0]?.invoice as Invoice | undefined;
  return hit ? getInvoice(db, hit.orgId, invoiceId) : null;
}

export async function getInvoices(db: Db, refs: readonly { orgId: string; invoiceId: string }[]): Promise<Invoice[]> {
  const out: Invoice[] = [];
  for (let i = 0; i < refs.length; i += 100) {
    let pending: Record<string, unknown>[] | undefined = refs.slice(i, i + 100).map((r) => billingKeys.invoice(r.orgId, r.invoiceId));
    for (let round = 0; pending && pending.length > 0 && round < 10; round++) {
      const res = await db.doc.send(new BatchGetCommand({ RequestItems: { [db.table]: { Keys: pending, ConsistentRead: true } } }));
      out.push(...(res.Responses?.[db.table] ?? []).map((item) => item.invoice as Invoice));
      pending = res.UnprocessedKeys?.[db.table]?.Keys as Record<string, unknown>[] | undefined;
    }
    if (pending && pending.length > 0) throw new Error('BatchGet left invoices unread after 10 rounds');
  }
  return out;
}

export interface InvoiceListQuery {
  orgId?: string | undefined;
  period?: string | undefined;
  status?: InvoiceStatus | undefined;
  limit: number;
  cursor?: string | undefined;
}

/**
 * A page of invoices, newest first: of one org (its partition) or of every org (the `INVOICES` index,
 * by period). Filters run in DynamoDB; the page is filled up to `limit` across query pages, and the
 * cursor is the key of the last invoice returned.
 */
export async function listInvoices(db: Db, q: InvoiceListQuery): Promise<{ data: Invoice[]; nextCursor: string | null }> {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const filters: string[] = [];
  let input: QueryCommandInput;
  let cursorShape: Record<string, string | RegExp>;
  if (q.orgId) {
    const pk = orgPk(q.orgId);
    values[':pk'] = pk;
    values[':prefix'] = INVOICE_PREFIX;
    if (q.period) {
      names['#invoice'] = 'invoice';
      names['#period'] = 'period';
      values[':period'] = q.period;
      filters.push('#invoice.#period = :period');
    }
    input = { TableName: db.table, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)' };
    cursorShape = { pk, sk: /^INV#/ };
  } else {
    values[':pk'] = 'INVOICES';
    input = { TableName: db.table, IndexName: 'gsi2', KeyConditionExpression: 'gsi2pk = :pk' };
    if (q.period) {
      values[':prefix'] = `${q.period}#`;
      input.KeyConditionExpression += ' AND begins_with(gsi2sk, :prefix)';
    }
    cursorShape = { pk: /^ORG#/, sk: /^INV#/, gsi2pk: 'INVOICES', gsi2sk: /^\d{4}-\d{2}#/ };
  }
  if (q.status) {
    names['#invoice'] = 'invoice';
    names['#status'] = 'status';
    values[':status'] = q.status;
    filters.push('#invoice.#status = :status');
  }
  const base: QueryCommandInput = {
    ...input,
    ExpressionAttributeValues: values,
    ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
    ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
    ScanIndexForward: false,
  };
  const items: Record<string, unknown>[] = [];
  let start = decodeCursor(q.cursor, cursorShape);
  let more = true;
  while (items.length < q.limit && more) {
    const res = await db.doc.send(new QueryCommand({ ...base, Limit: Math.max(q.limit * 2, 25), ExclusiveStartKey: start }));
    items.push(...(res.Items ?? []));
    start = res.LastEvaluatedKey;
    more = start !== undefined;
  }
  const page = items.slice(0, q.limit);
  const last = page.at(-1);
  const hasMore = items.length > q.limit || more;
  const keyOf = (item: Record<string, unknown>) =>
    q.orgId ? { pk: item.pk, sk: item.sk } : { pk: item.pk, sk: item.sk, gsi2pk: item.gsi2pk, gsi2sk: item.gsi2sk };
  return { data: page.map((i) => i.invoice as Invoice), nextCursor: hasMore && last ? encodeCursor(keyOf(last)) : null };
}

/** Invoices of a period across orgs, a query page at a time (exports and reports stream through it). */
export async function* invoicesOfPeriod(db: Db, period: string): AsyncGenerator<Invoice[]> {
  for await (const items of queryAll(db, {
    TableName: db.table,
    IndexName: 'gsi2',
    KeyConditionExpression: 'gsi2pk = :pk AND begins_with(gsi2sk, :prefix)',
    ExpressionAttributeValues: { ':pk': 'INVOICES', ':prefix': `${period}#` },
  })) {
    yield items.map((i) => i.invoice as Invoice);
  }
}

// ---- credit notes ----

function creditNoteItem(n: CreditNote): Record<string, unknown> {
  return {
    ...billingKeys.creditNote(n.orgId, n.id),
    ...billingKeys.creditNoteIndex(n.id),
    ...billingKeys.creditNotesByPeriod(n.period, n.id),
    entity: 'creditNote',
    creditNote: n,
  };
}

export const creditNoteCreate = (db: Db, n: CreditNote): TransactItem => putNew(db, creditNoteItem(n));

export const creditNoteReplace = (db: Db, previous: CreditNote, next: CreditNote): TransactItem => ({
  Put: {
    TableName: db.table,
    Item: creditNoteItem(next),
    ConditionExpression: 'creditNote.version = :v',
    ExpressionAttributeValues: { ':v': previous.version },
  },
});

export async function getCreditNote(db: Db, orgId: string, creditNoteId: string): Promise<CreditNote | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: billingKeys.creditNote(orgId, creditNoteId), ConsistentRead: true }));
  return (res.Item?.creditNote as CreditNote | undefined) ?? null;
}

export async function findCreditNote(db: Db, creditNoteId: string): Promise<CreditNote | null> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': billingKeys.creditNoteIndex(creditNoteId).gsi1pk },
    }),
  );
  const hit = res.Items?.[0]?.creditNote as CreditNote | undefined;
  return hit ? getCreditNote(db, hit.orgId, creditNoteId) : null;
}

export async function getCreditNotes(db: Db, orgId: string, ids: readonly string[]): Promise<CreditNote[]> {
  const notes = await Promise.all(ids.map((id) => getCreditNote(db, orgId, id)));
  return notes.filter((n): n is CreditNote => n !== null);
}

export async function* creditNotesOfPeriod(db: Db, period: string): AsyncGenerator<CreditNote[]> {
  for await (const items of queryAll(db, {
    TableName: db.table,
    IndexName: 'gsi2',
    KeyConditionExpression: 'gsi2pk = :pk AND begins_with(gsi2sk, :prefix)',
    ExpressionAttributeValues: { ':pk': 'CREDITNOTES', ':prefix': `${period}#` },
  })) {
    yield items.map((i) => i.creditNote as CreditNote);
  }
}
