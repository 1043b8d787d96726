/** Lambda entry: the HTTP API (API Gateway HTTP API → Hono). The whole system is built once per cold start. */
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { perColdStart, withStripeSecret } from '../shared/compose/lambda.ts';
import { createSystem } from '../shared/compose/system.ts';

const system = perColdStart(async (config) => createSystem({ config: await withStripeSecret(config) }));
let handler_: ReturnType<typeof handle> | undefined;

export const handler = async (event: LambdaEvent, context: LambdaContext) => {
  handler_ ??= handle((await system()).app);
  return handler_(event, context);
};
