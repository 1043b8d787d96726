/**
 * Lambda entry: one delivery attempt per SQS message (reportBatchItemFailures). Each attempt counts
 * as `WebhookDeliverySucceeded` or `WebhookDeliveryFailed` (Powertools Metrics, namespace and service
 * from the environment), the metrics the stack's alarm watches. Composes webhook delivery only.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { perColdStart } from '../shared/compose/lambda.ts';
import { createFoundation } from '../shared/compose/foundation.ts';
import { webhooksOf } from '../shared/compose/webhooks.ts';
import { handleDeliveryMessages } from '../shared/webhooks/queue.ts';

const metrics = new Metrics();
const sender = perColdStart((config) => {
  const foundation = createFoundation({ config });
  const webhooks = webhooksOf(foundation, (report) =>
    metrics.addMetric(report.succeeded ? 'WebhookDeliverySucceeded' : 'WebhookDeliveryFailed', MetricUnit.Count, 1),
  );
  return { webhooks, logger: foundation.logger };
});

export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const { webhooks, logger } = await sender();
  try {
    return await handleDeliveryMessages(event, (ref) => webhooks.attemptDelivery(ref), logger);
  } finally {
    metrics.publishStoredMetrics();
  }
};
