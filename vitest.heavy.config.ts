import { defineConfig } from 'vitest/config';
import { HEAVY_TESTS } from './vitest.config.ts';

/** The heavy invariant tests, one file at a time against their own DynamoDB Local (see vitest.config.ts). */
export default defineConfig({
  test: {
    include: HEAVY_TESTS,
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
