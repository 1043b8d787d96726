/**
 * Webhook delivery as a part (see foundation.ts), without the endpoints API: what the outbox
 * dispatcher, the webhook sender and the sweeper run. Wired as `webhooksFromConfig` wires it: jobs go
 * to SQS when `WEBHOOK_QUEUE_URL` is set, and are attempted in this process otherwise.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { createDeliveryEngine, type AttemptReport, type DeliveryEngine } from '#webhooks/deliveries.ts';
import { createDispatcher } from '#webhooks/dispatcher.ts';
import { createInProcessDeliveryQueue, createSqsDeliveryQueue, type DeliveryQueue } from '#webhooks/queue.ts';
import { parseAllowedHosts } from '#webhooks/ssrf.ts';
import type { Foundation } from './foundation.ts';

export function createWebhookDelivery(foundation: Foundation, onAttempt?: (report: AttemptReport) => void) {
  const { config, db, clock, ids, logger } = foundation;
  const sqs = config.WEBHOOK_QUEUE_URL
    ? createSqsDeliveryQueue({ client: new SQSClient({ region: config.AWS_REGION }), queueUrl: config.WEBHOOK_QUEUE_URL })
    : undefined;
  let engine: DeliveryEngine | undefined;
  const queue: DeliveryQueue = sqs ?? createInProcessDeliveryQueue((ref) => engine!.attemptDelivery(ref), { logger });
  engine = createDeliveryEngine({
    db,
    clock,
    ids,
    logger,
    allowedHosts: parseAllowedHosts(config.WEBHOOK_ALLOWED_HOSTS),
    queue,
    ...(onAttempt ? { onAttempt } : {}),
  });
  const dispatcher = createDispatcher({ db, engine, queue, logger });
  return {
    dispatchStreamRecords: dispatcher.dispatchStreamRecords,
    attemptDelivery: engine.attemptDelivery,
    retryDueDeliveries: engine.retryDueDeliveries,
  };
}
export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;
