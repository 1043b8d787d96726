/**
 * The operator audit log: who changed what in the catalog, with the item before and after. An entry is
 * written in the same transaction as the change it records, so the log has an entry for every change
 * that committed and none for one that did not.
 */
import { prefixPage } from './cursor.ts';
import type { Db } from './db.ts';
import { keys } from './keys.ts';
import type { TransactItem } from './transact.ts';

export interface AuditEntry {
  id: string;
  at: string;
  /** Key id of the operator who made the change (`key_…`), or `bootstrap` for the first start of a stack. */
  actor: string;
  /** e.g. `site.created`, `pool.updated`, `pool.capacity_changed`. */
  action: string;
  /** What changed, e.g. `pool:marseille-b200`. */
  target: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export const auditWrite = (db: Db, entry: AuditEntry): TransactItem => ({
  Put: { TableName: db.table, Item: { ...keys.audit(entry.at, entry.id), entity: 'audit', entry }, ConditionExpression: 'attribute_not_exists(pk)' },
});

/** Newest first. */
export async function listAudit(db: Db, limit: number, cursor: string | undefined): Promise<{ data: AuditEntry[]; nextCursor: string | null }> {
  const page = await prefixPage(db, { pk: keys.audit('', '').pk, prefix: 'AT#', sk: /^AT#/, newestFirst: true }, { limit, cursor });
  return { data: page.items.map((i) => i.entry as AuditEntry), nextCursor: page.nextCursor };
}
