/**
 * Lambda entry: one delivery attempt per SQS message (reportBatchItemFailures). Each attempt counts
 * as `WebhookDeliverySucceeded` or `WebhookDeliveryFailed` (Powertools Metrics, namespace and service
 * from the environment), the metrics the stack's alarm watches.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { lambdaSystem } from '../shared/lambda.ts';
import { handleDeliveryMessages } from '../shared/webhooks/queue.ts';

const metrics = new Metrics();
const system = lambdaSystem({
  onWebhookAttempt: (report) => metrics.addMetric(report.succeeded ? 'WebhookDeliverySucceeded' : 'WebhookDeliveryFailed', MetricUnit.Count, 1),
});

export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const { webhooks, deps } = await system();
  try {
    return await handleDeliveryMessages(event, (ref) => webhooks.attemptDelivery(ref), deps.logger);
  } finally {
    metrics.publishStoredMetrics();
  }
};
