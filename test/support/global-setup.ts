/** One DynamoDB Local for the whole run (in memory); each test file creates its own table in it. */
import type { TestProject } from 'vitest/node';
import { freePort, startDynamoDbLocal, type LocalDynamo } from '../../scripts/dynamodb-local.ts';

let dynamo: LocalDynamo | undefined;

export async function setup(project: TestProject) {
  const external = process.env.TEST_DYNAMODB_ENDPOINT;
  if (external) {
    project.provide('dynamoEndpoint', external);
    return;
  }
  dynamo = await startDynamoDbLocal({ port: await freePort() });
  project.provide('dynamoEndpoint', dynamo.endpoint);
}

export async function teardown() {
  await dynamo?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}
