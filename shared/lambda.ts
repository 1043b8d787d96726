import type { Config } from './config.ts';
import { createSystem } from './system.ts';

/** Built once per cold start by each Lambda entry point. No I/O happens here. */
export function createLambdaRuntime(config: Config) {
  return createSystem({ config });
}
