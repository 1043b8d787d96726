/**
 * Assembles the whole system from configuration: the one place that decides which modules run
 * (booking core, and the metering, billing and webhook modules as they are wired in). Used by the
 * Lambda entry points, `npm start` and end-to-end tests.
 */
import type { Config } from './config.ts';
import { consoleLogger, silentLogger, type Logger } from '#http/context.ts';
import { createRuntime } from './runtime.ts';
import { meteringModule } from '#http/routes/usage.ts';
import { portalModule } from '#portal/module.tsx';
import { sweepDueReservations } from './services/sweeper.ts';
import { createDocumentClient, type Db } from '#store/db.ts';
import { systemClock, type Clock } from './ids.ts';

export interface SystemOptions {
  config: Config;
  db?: Db;
  clock?: Clock;
  logger?: Logger;
}

export function createSystem(options: SystemOptions) {
  const { config } = options;
  const db = options.db ?? { doc: createDocumentClient({ endpoint: config.DYNAMODB_ENDPOINT, region: config.AWS_REGION }), table: config.TABLE_NAME };
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? (config.LOG_LEVEL === 'SILENT' ? silentLogger : consoleLogger);
  const runtime = createRuntime({ db, clock, logger, modules: [meteringModule, portalModule] });
  const { deps } = runtime;
  return {
    ...runtime,
    config,
    /** One pass of every scheduled job that runs "every minute" in AWS. */
    async runScheduledTick(): Promise<{ reservations: number }> {
      const reservations = await sweepDueReservations({ db, clock, booking: deps.booking });
      return { reservations };
    },
  };
}
export type System = ReturnType<typeof createSystem>;
