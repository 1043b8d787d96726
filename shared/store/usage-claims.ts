/**
 * The claim of a metered event id (docs/metering.md): written in the transaction that counts the
 * event, so an id is counted at most once; read to recognise duplicates and a writer's own commit.
 * Key shapes are usage.ts' (`usageKeys.claim`).
 */
import { BatchGetCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { ttlAfter } from './keys.ts';
import type { TransactItem } from './transact.ts';
import { CLAIM_TTL_SECONDS, usageKeys } from './usage.ts';

export interface UsageClaim {
  eventId: string;
  reservationId: string;
  start: string;
  end: string;
  gpus: number;
  gpuSeconds: number;
  /** The transaction that wrote the claim: a retry that finds its own token knows it committed. */
  claimToken: string;
}

/**
 * Takes an event id: fails (ConditionalCheckFailed, returning the existing claim) when the id was
 * already counted. Kept 40 days.
 */
export function claimItem(db: Db, claim: UsageClaim, now: Date): TransactItem {
  return {
    Put: {
      TableName: db.table,
      Item: { ...usageKeys.claim(claim.eventId), entity: 'usageClaim', ...claim, claimedAt: now.toISOString(), ttl: ttlAfter(now, CLAIM_TTL_SECONDS) },
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  };
}

/**
 * The `claimToken` of an existing claim as returned in a cancellation reason. The document client
 * does not unmarshall errors, so the item arrives as raw attribute values (`{ S: "…" }`).
 */
export function claimTokenInReason(item: Record<string, unknown> | undefined): string | undefined {
  const value = item?.claimToken;
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { S?: unknown }).S === 'string') return (value as { S: string }).S;
  return undefined;
}

/**
 * Event ids among `eventIds` that are already claimed (eventually consistent: a cheap pre-filter
 * only; the claim's condition in the transaction is what decides).
 */
export async function existingClaims(db: Db, eventIds: string[]): Promise<Set<string>> {
  return new Set((await claimTokensOf(db, eventIds)).keys());
}

/**
 * The claims among `eventIds` that exist, each with the token of the transaction that wrote it
 * (eventually consistent, like `existingClaims`): a writer recognises its own committed transaction.
 */
export async function claimTokensOf(db: Db, eventIds: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const chunks: string[][] = [];
  for (let i = 0; i < eventIds.length; i += 100) chunks.push(eventIds.slice(i, i + 100));
  await Promise.all(
    chunks.map(async (chunk) => {
      let pending: Record<string, unknown>[] = chunk.map((id) => usageKeys.claim(id));
      for (let round = 0; pending.length > 0; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(500, 10 * 2 ** round)));
        const res = await db.doc.send(
          new BatchGetCommand({ RequestItems: { [db.table]: { Keys: pending, ProjectionExpression: 'eventId, claimToken' } } }),
        );
        for (const item of res.Responses?.[db.table] ?? []) found.set(String(item.eventId), String(item.claimToken ?? ''));
        pending = res.UnprocessedKeys?.[db.table]?.Keys ?? [];
      }
    }),
  );
  return found;
}

export async function getClaim(db: Db, eventId: string): Promise<UsageClaim | null> {
  const res = await db.doc.send(new GetCommand({ TableName: db.table, Key: usageKeys.claim(eventId), ConsistentRead: true }));
  return res.Item ? (res.Item as unknown as UsageClaim) : null;
}
