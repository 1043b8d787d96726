/** Lambda entry: the HTTP API (API Gateway HTTP API → Hono). The system is built once per cold start. */
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { lambdaSystem } from '../shared/lambda.ts';

const system = lambdaSystem();
let handler_: ReturnType<typeof handle> | undefined;

export const handler = async (event: LambdaEvent, context: LambdaContext) => {
  handler_ ??= handle((await system()).app);
  return handler_(event, context);
};
