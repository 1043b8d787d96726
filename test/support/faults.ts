/**
 * Fault injection for the document client. DynamoDB Local never raises TransactionConflictException
 * and never throttles, so tests wrap the client and raise them, before or after the real call (a
 * timeout after the write committed is the nastiest case: the caller cannot know it succeeded).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export type FaultKind = 'conflict' | 'throttle' | 'timeout_before' | 'timeout_after_commit' | 'canceled_conflict';

export interface FaultPlan {
  /** Which commands are eligible, by constructor name (e.g. 'TransactWriteCommand'). */
  commands: string[];
  /** Chooses a fault (or none) for each eligible call. */
  pick: (callIndex: number) => FaultKind | null;
}

function makeError(kind: FaultKind): Error {
  const named = (name: string, message: string) => Object.assign(new Error(message), { name, $fault: 'client', $metadata: {} });
  switch (kind) {
    case 'conflict':
      return named('TransactionConflictException', 'Transaction is ongoing for the item (injected)');
    case 'canceled_conflict':
      return Object.assign(named('TransactionCanceledException', 'Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict] (injected)'), {
        CancellationReasons: [{ Code: 'TransactionConflict' }],
      });
    case 'throttle':
      return named('ProvisionedThroughputExceededException', 'Rate of requests exceeds the allowed throughput (injected)');
    case 'timeout_before':
    case 'timeout_after_commit':
      return named('TimeoutError', 'Connection timed out (injected)');
  }
}

export function withFaults(doc: DynamoDBDocumentClient, plan: FaultPlan) {
  const stats = { calls: 0, injected: {} as Record<FaultKind, number> };
  const wrapped = new Proxy(doc, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return async (command: { constructor: { name: string } }, ...rest: unknown[]) => {
        const send = () => (target.send as (...a: unknown[]) => Promise<unknown>).call(target, command, ...rest);
        if (!plan.commands.includes(command.constructor.name)) return send();
        const fault = plan.pick(stats.calls++);
        if (!fault) return send();
        stats.injected[fault] = (stats.injected[fault] ?? 0) + 1;
        if (fault === 'timeout_after_commit') {
          await send();
          throw makeError(fault);
        }
        throw makeError(fault);
      };
    },
  });
  return { doc: wrapped as DynamoDBDocumentClient, stats };
}

/** A seeded pseudo-random generator so fault runs are repeatable. */
export function seededRandom(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
