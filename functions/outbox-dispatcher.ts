/**
 * Lambda entry: the table stream (NEW_AND_OLD_IMAGES, filtered to inserted outbox events) becomes
 * webhook deliveries and jobs on the SQS queue. A failed record is reported so Lambda retries from it.
 */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { lambdaSystem } from '../shared/lambda.ts';

const system = lambdaSystem();

export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> =>
  (await system()).webhooks.dispatchStreamRecords(event.Records);
