/**
 * Lambda entry, every minute: due timed transitions (hold expiry, start, ending soon, completion),
 * due webhook retries and unfinished Stripe syncs.
 */
import { lambdaSystem } from '../shared/lambda.ts';

const system = lambdaSystem();

export const handler = async () => (await system()).runScheduledTick();
