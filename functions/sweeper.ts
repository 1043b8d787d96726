/** Lambda entry: every minute, applies due timed transitions (hold expiry, start, ending soon, completion). */
import { parseConfig } from '../shared/config.ts';
import { createLambdaRuntime } from '../shared/lambda.ts';

const system = createLambdaRuntime(parseConfig(process.env));

export const handler = async () => system.runScheduledTick();
