import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './db.ts';
import { keys, ttlAfter } from './keys.ts';

/** Keys are kept 48 h (the spec asks for at least 24 h). */
export const IDEMPOTENCY_TTL_SECONDS = 48 * 3600;
/** A request that has not finished after this long is presumed crashed; its key can be taken over. */
export const IN_FLIGHT_LEASE_MS = 60_000;

export interface StoredResponse {
  status: number;
  contentType: string;
  /** With `redacted`, the body with every secret replaced: it is never replayed as such. */
  body: string;
  /** The answer carried a secret (an API key, a webhook signing secret), stored redacted. */
  redacted?: boolean;
}

export type BeginResult =
  | { outcome: 'started' }
  | { outcome: 'replay'; response: StoredResponse }
  | { outcome: 'in_flight' }
  | { outcome: 'mismatch' };

export async function beginIdempotent(db: Db, principal: string, key: string, requestHash: string, now: Date): Promise<BeginResult> {
  const k = keys.idempotency(principal, key);
  try {
    await db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: {
          ...k,
          entity: 'idempotency',
          requestHash,
          state: 'in_flight',
          leaseUntil: now.getTime() + IN_FLIGHT_LEASE_MS,
          ttl: ttlAfter(now, IDEMPOTENCY_TTL_SECONDS),
        },
        ConditionExpression: 'attribute_not_exists(pk) OR (#state = :inflight AND leaseUntil < :now AND requestHash = :hash)',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':inflight': 'in_flight', ':now': now.getTime(), ':hash': requestHash },
      }),
    );
    return { outcome: 'started' };
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
  const existing = await db.doc.send(new GetCommand({ TableName: db.table, Key: k, ConsistentRead: true }));
  const item = existing.Item;
  if (!item) return beginIdempotent(db, principal, key, requestHash, now);
  if (item.requestHash !== requestHash) return { outcome: 'mismatch' };
  if (item.state === 'done') return { outcome: 'replay', response: item.response as StoredResponse };
  return { outcome: 'in_flight' };
}

export async function completeIdempotent(db: Db, principal: string, key: string, response: StoredResponse): Promise<void> {
  await db.doc.send(
    new UpdateCommand({
      TableName: db.table,
      Key: keys.idempotency(principal, key),
      UpdateExpression: 'SET #state = :done, #response = :r REMOVE leaseUntil',
      ExpressionAttributeNames: { '#state': 'state', '#response': 'response' },
      ExpressionAttributeValues: { ':done': 'done', ':r': response },
    }),
  );
}

/** The request failed without a definite answer (5xx): free the key so the client can retry. */
export async function releaseIdempotent(db: Db, principal: string, key: string): Promise<void> {
  await db.doc.send(
    new DeleteCommand({
      TableName: db.table,
      Key: keys.idempotency(principal, key),
      ConditionExpression: '#state = :inflight',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':inflight': 'in_flight' },
    }),
  ).catch((error) => {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  });
}
