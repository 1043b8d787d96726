/**
 * Lambda entry: the table stream (NEW_AND_OLD_IMAGES, filtered to inserted outbox events) becomes
 * webhook deliveries and jobs on the SQS queue. A failed record is reported so Lambda retries from it.
 * Composes webhook delivery only (no HTTP app, no billing).
 */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { perColdStart } from '../shared/compose/lambda.ts';
import { createFoundation } from '../shared/compose/foundation.ts';
import { webhooksOf } from '../shared/compose/webhooks.ts';

const webhooks = perColdStart((config) => webhooksOf(createFoundation({ config })));

export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> =>
  (await webhooks()).dispatchStreamRecords(event.Records);
