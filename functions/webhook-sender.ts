/**
 * Lambda entry: one delivery attempt per SQS message (reportBatchItemFailures). Each attempt counts
 * as `WebhookDeliverySucceeded` or `WebhookDeliveryFailed` (Powertools Metrics, namespace and service
 * from the environment), the metrics the stack's alarm watches.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parseConfig } from '../shared/config.ts';
import { createLambdaRuntime } from '../shared/lambda.ts';
import { handleDeliveryMessages } from '../shared/webhooks/queue.ts';
import { webhooksFromConfig } from '../shared/webhooks/webhooks.ts';

const config = parseConfig(process.env);
const { deps } = createLambdaRuntime(config);
const metrics = new Metrics();
const webhooks = webhooksFromConfig(config, {
  ...deps,
  onAttempt: (report) => metrics.addMetric(report.succeeded ? 'WebhookDeliverySucceeded' : 'WebhookDeliveryFailed', MetricUnit.Count, 1),
});

export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  try {
    return await handleDeliveryMessages(event, (ref) => webhooks.attemptDelivery(ref), deps.logger);
  } finally {
    metrics.publishStoredMetrics();
  }
};
