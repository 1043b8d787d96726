/** Lambda entry: the HTTP API (API Gateway HTTP API → Hono). Clients are built once per cold start. */
import { handle } from 'hono/aws-lambda';
import { parseConfig } from '../shared/config.ts';
import { createLambdaRuntime } from '../shared/lambda.ts';

const runtime = createLambdaRuntime(parseConfig(process.env));
export const handler = handle(runtime.app);
