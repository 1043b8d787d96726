/**
 * DynamoDB's transaction conflict semantics for DynamoDB Local. Real DynamoDB cancels a
 * TransactWriteItems with `TransactionCanceledException` (reason `TransactionConflict` on the
 * contested items) when another transaction in flight touches one of its items, and refuses a
 * PutItem/UpdateItem/DeleteItem on an item an ongoing transaction holds with
 * `TransactionConflictException`. DynamoDB Local instead queues them one after another, so a design
 * that only works because the emulator serialises would pass every test and fail in AWS. This
 * wrapper restores the cancellations: an item is "in flight" from the moment a transaction touching
 * it is sent until its answer arrives (longer than in AWS, so it is the harsher of the two).
 *
 * Used by the storm, model, fault and rush tests (each runs with and without it), and by
 * `npm start` when GPU_MARKET_TRANSACTION_CONFLICTS=1 (for bench/rush.ts).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

type Keyed = { TableName?: string; Key?: Record<string, unknown>; Item?: Record<string, unknown> };
type TransactItem = { Put?: Keyed; Update?: Keyed; Delete?: Keyed; ConditionCheck?: Keyed };
type Command = { constructor: { name: string }; input?: unknown };
type Send = (...a: unknown[]) => Promise<unknown>;

const itemKey = (k: Keyed | undefined): string => {
  const key = k?.Key ?? k?.Item ?? {};
  return `${k?.TableName}|${String(key.pk)}|${String(key.sk)}`;
};

const named = (name: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 }, ...extra });

export interface ConflictStats {
  transactions: number;
  cancelled: number;
  writesRefused: number;
}

export function withTransactionConflicts(doc: DynamoDBDocumentClient): { doc: DynamoDBDocumentClient; stats: ConflictStats } {
  /** Items held by transactions in flight (a count, as a retried transaction may overlap its own earlier attempt). */
  const held = new Map<string, number>();
  const stats: ConflictStats = { transactions: 0, cancelled: 0, writesRefused: 0 };
  const hold = (keys: string[], delta: number) => {
    for (const k of keys) {
      const n = (held.get(k) ?? 0) + delta;
      if (n <= 0) held.delete(k);
      else held.set(k, n);
    }
  };

  const wrapped = new Proxy(doc, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return async (command: Command, ...rest: unknown[]) => {
        const send = () => (target.send as Send).call(target, command, ...rest);
        const name = command.constructor.name;
        if (name === 'TransactWriteCommand') {
          stats.transactions++;
          const items = ((command.input as { TransactItems?: TransactItem[] }).TransactItems ?? []).map((i) =>
            itemKey(i.Put ?? i.Update ?? i.Delete ?? i.ConditionCheck),
          );
          const contested = items.map((k) => held.has(k));
          if (contested.some(Boolean)) {
            stats.cancelled++;
            const codes = contested.map((c) => (c ? 'TransactionConflict' : 'None'));
            throw named('TransactionCanceledException', `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`, {
              CancellationReasons: contested.map((c) => (c ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' } : { Code: 'None' })),
            });
          }
          const keys = [...new Set(items)];
          hold(keys, 1);
          try {
            return await send();
          } finally {
            hold(keys, -1);
          }
        }
        if (name === 'PutCommand' || name === 'UpdateCommand' || name === 'DeleteCommand') {
          if (held.has(itemKey(command.input as Keyed))) {
            stats.writesRefused++;
            throw named('TransactionConflictException', 'Transaction is ongoing for the item');
          }
        }
        return send();
      };
    },
  });
  return { doc: wrapped as DynamoDBDocumentClient, stats };
}

/** The two ways the storm, model, fault and rush tests run: plain DynamoDB Local, and with DynamoDB's conflict semantics. */
export const CONFLICT_MODES: { name: string; wrap: ((doc: DynamoDBDocumentClient) => DynamoDBDocumentClient) | undefined }[] = [
  { name: 'on DynamoDB Local', wrap: undefined },
  { name: 'with TransactionConflict semantics', wrap: (doc) => withTransactionConflicts(doc).doc },
];
