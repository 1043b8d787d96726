/**
 * Billing records around the invoices (key shapes in invoices.ts, `billingKeys`): the on-demand
 * billing ledger, Stripe events already handled and Stripe's invoice ids, the two marker partitions
 * (work left for the Stripe sync, open invoices for receivables), and the cross-org reads the close
 * and the reports need.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Invoice } from '#domain/invoice.ts';
import type { Db } from './db.ts';
import { billingKeys, getInvoice } from './invoices.ts';
import { keys, prefixes, ttlAfter } from './keys.ts';
import { listAllOrgs } from './orgs.ts';
import { queryAll } from './query.ts';
import { putNew, type TransactItem } from './transact.ts';

/** Stripe retries a webhook for up to 3 days; an event id is remembered well beyond that. */
export const STRIPE_EVENT_TTL_SECONDS = 35 * 24 * 3600;

const LEDGER_PREFIX = 'ODLEDGER#';

// ---- on-demand billing ledger ----

/** Of one org, month of usage and pool: what closes have invoiced so far, and which close invoiced what. */
export interface UsageLedgerRow {
  orgId: string;
  usagePeriod: string;
  poolId: string;
  /** GPU-seconds invoiced so far, and their cents: charge(gpuSeconds) at `ratePerGpuHour`, rounded once. */
  gpuSeconds: number;
  amount: number;
  /** Cents per GPU-hour, fixed by the first close that invoiced this usage. */
  ratePerGpuHour: number;
  /** Per closed period: the GPU-seconds and cents that close invoiced, and on which invoice. */
  closes: Record<string, { gpuSeconds: number; amount: number; invoiceId: string }>;
  /**
   * What the GPU-seconds are: `held` (GPUs × seconds from start to stop, how on-demand is billed) or,
   * on rows written before that (absent), metered usage; such a month stays on metered usage.
   */
  basis?: 'held' | 'metered' | undefined;
  version: number;
}

export const ledgerWrite = (db: Db, row: UsageLedgerRow, readVersion: number): TransactItem => {
  const item = { ...billingKeys.usageLedger(row.orgId, row.usagePeriod, row.poolId), entity: 'usageLedger', ledger: row };
  return readVersion === 0
    ? putNew(db, item)
    : {
        Put: {
          TableName: db.table,
          Item: item,
          ConditionExpression: 'ledger.version = :v',
          ExpressionAttributeValues: { ':v': readVersion },
        },
      };
};

/** Ledger rows of an org for usage months in [fromPeriod, toPeriod]. */
export async function ledgerRows(db: Db, orgId: string, fromPeriod: string, toPeriod: string): Promise<UsageLedgerRow[]> {
  const rows: UsageLedgerRow[] = [];
  for await (const items of queryAll(db, {
    TableName: db.table,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': keys.org(orgId).pk, ':from': `${LEDGER_PREFIX}${fromPeriod}#`, ':to': `${LEDGER_PREFIX}${toPeriod}#\uffff` },
    ConsistentRead: true,
  })) {
    rows.push(...items.map((i) => i.ledger as UsageLedgerRow));
  }
  return rows;
}

// ---- Stripe events, id mapping ----

export const stripeEventClaim = (db: Db, stripeEventId: string, type: string, now: Date): TransactItem =>
  putNew(db, { ...billingKeys.stripeEvent(stripeEventId), entity: 'stripeEvent', type, receivedAt: now.toISOString(), ttl: ttlAfter(now, STRIPE_EVENT_TTL_SECONDS) });

export async function stripeEventSeen(db: Db, stripeEventId: string): Promise<boolean> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: billingKeys.stripeEvent(stripeEventId), ConsistentRead: true }));
  return res.Item !== undefined;
}

export const stripeInvoiceLink = (db: Db, stripeInvoiceId: string, invoice: { orgId: string; id: string }): TransactItem => ({
  Put: { TableName: db.table, Item: { ...billingKeys.stripeInvoice(stripeInvoiceId), entity: 'stripeInvoice', orgId: invoice.orgId, invoiceId: invoice.id } },
});

export async function invoiceForStripeId(db: Db, stripeInvoiceId: string): Promise<Invoice | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: billingKeys.stripeInvoice(stripeInvoiceId), ConsistentRead: true }));
  return res.Item ? getInvoice(db, String(res.Item.orgId), String(res.Item.invoiceId)) : null;
}

// ---- markers ----

export interface SyncMarker {
  kind: 'INV' | 'CN';
  orgId: string;
  id: string;
}

export const syncMarkerPut = (db: Db, createdAt: string, marker: SyncMarker): TransactItem => ({
  Put: { TableName: db.table, Item: { ...billingKeys.syncMarker(createdAt, marker.kind, marker.id), entity: 'billingSync', ...marker } },
});

export const syncMarkerDelete = (db: Db, createdAt: string, kind: 'INV' | 'CN', id: string): TransactItem => ({
  Delete: { TableName: db.table, Key: billingKeys.syncMarker(createdAt, kind, id) },
});

/** Oldest first. */
export async function listSyncMarkers(db: Db, limit: number): Promise<SyncMarker[]> {
  const res = await db.doc.send(
    new QueryCommand({ TableName: db.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'BILLSYNC' }, Limit: limit, ConsistentRead: true }),
  );
  return (res.Items ?? []).map((i) => ({ kind: i.kind as 'INV' | 'CN', orgId: String(i.orgId), id: String(i.id) }));
}

export const receivablePut = (db: Db, finalizedAt: string, invoice: { orgId: string; id: string }): TransactItem => ({
  Put: { TableName: db.table, Item: { ...billingKeys.receivable(finalizedAt, invoice.id), entity: 'receivable', orgId: invoice.orgId, invoiceId: invoice.id } },
});

export const receivableDelete = (db: Db, finalizedAt: string, invoiceId: string): TransactItem => ({
  Delete: { TableName: db.table, Key: billingKeys.receivable(finalizedAt, invoiceId) },
});

/** Every open invoice, oldest first. */
export async function openInvoiceRefs(db: Db): Promise<{ orgId: string; invoiceId: string }[]> {
  const refs: { orgId: string; invoiceId: string }[] = [];
  for await (const items of queryAll(db, { TableName: db.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'RECEIVABLE' } })) {
    refs.push(...items.map((i) => ({ orgId: String(i.orgId), invoiceId: String(i.invoiceId) })));
  }
  return refs;
}

/** Open invoices finalized at or before `finalizedBefore` (ISO), oldest first: what is past its due date. */
export async function openInvoiceRefsFinalizedBefore(db: Db, finalizedBefore: string): Promise<{ orgId: string; invoiceId: string }[]> {
  const refs: { orgId: string; invoiceId: string }[] = [];
  for await (const items of queryAll(db, {
    TableName: db.table,
    KeyConditionExpression: 'pk = :pk AND sk <= :before',
    ExpressionAttributeValues: { ':pk': 'RECEIVABLE', ':before': `${finalizedBefore}~` },
  })) {
    refs.push(...items.map((i) => ({ orgId: String(i.orgId), invoiceId: String(i.invoiceId) })));
  }
  return refs;
}

/** Every org id (the `ORGS` index), for the monthly close and the reports. */
export async function allOrgIds(db: Db): Promise<string[]> {
  return (await listAllOrgs(db)).map((o) => o.id);
}

/** An org's events of the given types created in `period`, for the reconciliation. */
export async function orgEventsOfPeriod(db: Db, orgId: string, period: string, types: readonly string[]): Promise<{ type: string; createdAt: string; data: Record<string, unknown> }[]> {
  const out: { type: string; createdAt: string; data: Record<string, unknown> }[] = [];
  const typeValues = Object.fromEntries(types.map((t, i) => [`:t${i}`, t]));
  for await (const items of queryAll(db, {
    TableName: db.table,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    FilterExpression: `begins_with(#event.createdAt, :period) AND #event.#type IN (${Object.keys(typeValues).join(', ')})`,
    ExpressionAttributeNames: { '#event': 'event', '#type': 'type' },
    ExpressionAttributeValues: { ':pk': keys.org(orgId).pk, ':prefix': prefixes.event, ':period': period, ...typeValues },
  })) {
    out.push(...items.map((i) => i.event as { type: string; createdAt: string; data: Record<string, unknown> }));
  }
  return out;
}
