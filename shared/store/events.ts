import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { IdGenerator } from '../ids.ts';
import type { Db } from './db.ts';
import { keys, pad, prefixes } from './keys.ts';
import { putVersioned, type TransactItem } from './transact.ts';

export interface EventDraft {
  type: string;
  data: Record<string, unknown>;
}

/** An event as the API and webhooks deliver it. */
export interface DomainEvent {
  id: string;
  type: string;
  createdAt: string;
  orgId: string;
  sequence: number;
  data: Record<string, unknown>;
}

/** An org's event counter as read: the last sequence number given out and the item's version (0 = none yet). */
export interface SequenceState {
  last: number;
  version: number;
}

export const sequenceOf = (item: Record<string, unknown> | undefined): SequenceState => ({
  last: Number(item?.sequence ?? 0),
  version: Number(item?.version ?? 0),
});

export async function readSequence(db: Db, orgId: string): Promise<SequenceState> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.orgSequence(orgId), ConsistentRead: true }));
  return sequenceOf(res.Item);
}

/**
 * The outbox: events to write in the same transaction as the change they describe. The org's
 * sequence counter as read (`seq`) is written with a version condition, so two changes racing for
 * the same number cannot both commit: sequences are gapless and increase in commit order. Several
 * changes of one org in one transaction (a group commit) pass all their drafts at once and get
 * consecutive numbers.
 */
export function outboxItems(db: Db, orgId: string, drafts: EventDraft[], now: Date, ids: IdGenerator, seq: SequenceState): { items: TransactItem[]; events: DomainEvent[] } {
  if (drafts.length === 0) return { items: [], events: [] };
  const events = drafts.map((d, i) => ({
    id: ids.next('evt'),
    type: d.type,
    createdAt: now.toISOString(),
    orgId,
    sequence: seq.last + i + 1,
    data: d.data,
  }));
  const items: TransactItem[] = [
    putVersioned(db, { ...keys.orgSequence(orgId), entity: 'sequence', sequence: seq.last + drafts.length, version: seq.version + 1 }, seq.version),
    ...events.map(
      (e): TransactItem => ({
        Put: {
          TableName: db.table,
          Item: { ...keys.event(orgId, e.sequence), ...keys.eventIndex(e.id), entity: 'event', event: e },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      }),
    ),
  ];
  return { items, events };
}

/** The outbox items of one change: reads the org's counter, then `outboxItems`. */
export async function outboxWrites(
  db: Db,
  orgId: string,
  drafts: EventDraft[],
  now: Date,
  ids: IdGenerator,
): Promise<{ items: TransactItem[]; events: DomainEvent[] }> {
  if (drafts.length === 0) return { items: [], events: [] };
  return outboxItems(db, orgId, drafts, now, ids, await readSequence(db, orgId));
}

/** Largest sequence the 12-digit sort key holds. */
const MAX_SEQUENCE = 999_999_999_999;

export async function listEvents(db: Db, orgId: string, after: number, limit: number): Promise<{ data: DomainEvent[]; nextCursor: string | null }> {
  // Nothing comes after the last possible sequence; DynamoDB also rejects a BETWEEN whose bounds are reversed.
  if (after >= MAX_SEQUENCE) return { data: [], nextCursor: null };
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': keys.org(orgId).pk,
        ':from': `${prefixes.event}${pad(after + 1)}`,
        ':to': `${prefixes.event}${'9'.repeat(12)}`,
      },
      Limit: limit,
    }),
  );
  const data = (res.Items ?? []).map((i) => i.event as DomainEvent);
  const last = data.at(-1);
  return { data, nextCursor: res.LastEvaluatedKey && last ? String(last.sequence) : null };
}

/** Sequence number of an event id, to accept `after=<eventId>` as well as `after=<sequence>`. */
export async function sequenceOfEvent(db: Db, orgId: string, eventId: string): Promise<number | null> {
  const res = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.eventIndex(eventId).gsi1pk },
    }),
  );
  const e = res.Items?.[0]?.event as DomainEvent | undefined;
  return e && e.orgId === orgId ? e.sequence : null;
}
