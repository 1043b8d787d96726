/**
 * Lambda entry: the table stream (NEW_AND_OLD_IMAGES, filtered to inserted outbox events) becomes
 * webhook deliveries and jobs on the SQS queue. A failed record is reported so Lambda retries from it.
 */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { parseConfig } from '../shared/config.ts';
import { createLambdaRuntime } from '../shared/lambda.ts';
import { webhooksFromConfig } from '../shared/webhooks/webhooks.ts';

const config = parseConfig(process.env);
const { deps } = createLambdaRuntime(config);
const webhooks = webhooksFromConfig(config, deps);

export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => webhooks.dispatchStreamRecords(event.Records);
