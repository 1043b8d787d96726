import { defineConfig } from 'vitest/config';

/**
 * The storm, model-based, fault-injection and fuzz tests drive DynamoDB Local as hard as it goes;
 * run alongside the rest they starve each other of the one emulator. `npm test` runs every other
 * file in parallel first, then these one at a time (vitest.heavy.config.ts).
 */
export const HEAVY_TESTS = [
  'test/integration/capacity-storm.test.ts',
  'test/integration/capacity-model.test.ts',
  'test/integration/booking-faults.test.ts',
  'test/integration/api-fuzz.test.ts',
  'test/integration/webhooks-outbox.test.ts',
  'test/integration/budgets-storm.test.ts',
  'test/integration/rush.test.ts',
  'test/integration/capacity-schedule-storm.test.ts',
  'test/integration/resale-storm.test.ts',
  'test/integration/webhooks-fairness.test.ts',
];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    exclude: ['**/node_modules/**', ...HEAVY_TESTS],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 3,
  },
});
