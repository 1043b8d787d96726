/**
 * Where delivery jobs wait for the sender: SQS in AWS (the sender Lambda consumes it), an in-process
 * queue under `npm start` and in tests. A job is only a reference to a delivery item; the item holds
 * the state, and an attempt re-reads it and takes a lease first, so a job delivered twice, late or
 * after the delivery finished does nothing.
 */
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Logger } from '#shared/log.ts';
import type { DeliveryRef } from '#store/webhook-deliveries.ts';

export type { DeliveryRef } from '#store/webhook-deliveries.ts';

export interface DeliveryQueue {
  /** Hands the jobs over durably (SQS) or schedules them (in-process); resolves once that is done. */
  enqueue(refs: DeliveryRef[]): Promise<void>;
  /** Hands a job over to run no earlier than `delayMs` from now, when the queue can hold it back. */
  enqueueLater?(ref: DeliveryRef, delayMs: number): Promise<void>;
}

const refKey = (ref: DeliveryRef) => `${ref.endpointId}/${ref.deliveryId}`;

export interface InProcessDeliveryQueue extends DeliveryQueue {
  /** Resolves when every job handed over so far has run. */
  idle(): Promise<void>;
}

/**
 * Runs jobs in this process, a few at a time, fairly: each endpoint has its own line, the lines are
 * served in turn (round robin), and one endpoint runs at most `perEndpoint` jobs at once. A slow or
 * failing endpoint with a thousand jobs waiting therefore takes at most `perEndpoint` of the
 * `concurrency` slots; another endpoint's job starts as soon as a slot frees (issue 15, finding 7).
 * A job already waiting or running is not queued twice. A job that throws is logged and dropped: its
 * delivery stays due and the next due-retry pass takes it.
 */
export function createInProcessDeliveryQueue(
  handle: (ref: DeliveryRef) => Promise<unknown>,
  options: { logger: Logger; concurrency?: number; perEndpoint?: number },
): InProcessDeliveryQueue {
  const concurrency = options.concurrency ?? 32;
  const perEndpoint = Math.max(1, Math.min(options.perEndpoint ?? 2, concurrency));
  /** Waiting jobs per endpoint, and the endpoints with waiting jobs in serving order. */
  const lines = new Map<string, DeliveryRef[]>();
  const turns: string[] = [];
  const runningOf = new Map<string, number>();
  const known = new Set<string>();
  let waitingCount = 0;
  let running = 0;
  let idleWaiters: (() => void)[] = [];

  const settleIdle = () => {
    if (running > 0 || waitingCount > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };

  /** The next job: the first endpoint in turn with a free per-endpoint slot; it goes to the back of the turn. */
  const next = (): DeliveryRef | null => {
    for (let i = 0; i < turns.length; i++) {
      const endpointId = turns[i]!;
      if ((runningOf.get(endpointId) ?? 0) >= perEndpoint) continue;
      const line = lines.get(endpointId)!;
      const ref = line.shift()!;
      turns.splice(i, 1);
      if (line.length > 0) turns.push(endpointId);
      else lines.delete(endpointId);
      waitingCount -= 1;
      return ref;
    }
    return null;
  };

  const pump = () => {
    while (running < concurrency) {
      const ref = next();
      if (!ref) return;
      running += 1;
      runningOf.set(ref.endpointId, (runningOf.get(ref.endpointId) ?? 0) + 1);
      handle(ref)
        .catch((error: unknown) =>
          options.logger.error('webhook delivery job failed', {
            ...ref,
            error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
          }),
        )
        .finally(() => {
          running -= 1;
          const left = (runningOf.get(ref.endpointId) ?? 1) - 1;
          if (left > 0) runningOf.set(ref.endpointId, left);
          else runningOf.delete(ref.endpointId);
          known.delete(refKey(ref));
          pump();
          settleIdle();
        });
    }
  };

  return {
    async enqueue(refs) {
      for (const ref of refs) {
        const key = refKey(ref);
        if (known.has(key)) continue;
        known.add(key);
        const line = lines.get(ref.endpointId);
        if (line) line.push(ref);
        else {
          lines.set(ref.endpointId, [ref]);
          turns.push(ref.endpointId);
        }
        waitingCount += 1;
      }
      pump();
    },
    idle() {
      if (running === 0 && waitingCount === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}

/** SQS holds a message back for at most 15 minutes. */
export const MAX_SQS_DELAY_SECONDS = 900;
const SQS_BATCH = 10;

/**
 * Jobs on the SQS queue at `queueUrl` (the stack's WebhookQueue, a standard queue, with its dead-letter
 * queue). Each job's message group is its endpoint: on a standard queue that makes SQS a fair queue, so
 * an endpoint with a backlog of slow or failing jobs does not hold back other endpoints' jobs (their
 * dwell time stays low while the busy group's grows).
 */
export function createSqsDeliveryQueue(options: { client: SQSClient; queueUrl: string }): DeliveryQueue {
  const { client, queueUrl } = options;
  return {
    async enqueue(refs) {
      for (let i = 0; i < refs.length; i += SQS_BATCH) {
        const chunk = refs.slice(i, i + SQS_BATCH);
        const res = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((ref, n) => ({ Id: String(n), MessageBody: JSON.stringify(ref), MessageGroupId: ref.endpointId })),
          }),
        );
        const failed = res.Failed ?? [];
        if (failed.length > 0) {
          const reasons = failed.map((f) => `${chunk[Number(f.Id)]?.deliveryId ?? f.Id}: ${f.Code ?? ''} ${f.Message ?? ''}`.trim());
          throw new Error(`SQS refused ${failed.length} of ${chunk.length} webhook jobs (${reasons.join('; ')})`);
        }
      }
    },
    async enqueueLater(ref, delayMs) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(ref),
          MessageGroupId: ref.endpointId,
          DelaySeconds: Math.min(MAX_SQS_DELAY_SECONDS, Math.max(0, Math.ceil(delayMs / 1000))),
        }),
      );
    },
  };
}

/** Reads a job from a message body; null when it is not one. */
export function parseDeliveryRef(body: string): DeliveryRef | null {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { endpointId, deliveryId } = value as Record<string, unknown>;
  if (typeof endpointId !== 'string' || typeof deliveryId !== 'string' || endpointId === '' || deliveryId === '') return null;
  return { endpointId, deliveryId };
}

/**
 * The sender Lambda's batch: one attempt per message. A failed HTTP attempt is not a failed message
 * (the delivery item schedules its own retry); a message is reported failed only when the attempt
 * could not run (storage error, unreadable message), so SQS redelivers it and, after its receive
 * limit, parks it in the dead-letter queue.
 */
export async function handleDeliveryMessages(
  event: Pick<SQSEvent, 'Records'>,
  attempt: (ref: DeliveryRef) => Promise<unknown>,
  logger: Logger,
): Promise<SQSBatchResponse> {
  const results = await Promise.allSettled(
    event.Records.map(async (record) => {
      const ref = parseDeliveryRef(record.body);
      if (!ref) throw new Error(`message ${record.messageId} is not a webhook delivery job`);
      await attempt(ref);
    }),
  );
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') return;
    const record = event.Records[i]!;
    logger.error('webhook delivery message failed', {
      messageId: record.messageId,
      error: result.reason instanceof Error ? result.reason.message : String(result.reason),
    });
    batchItemFailures.push({ itemIdentifier: record.messageId });
  });
  return { batchItemFailures };
}
