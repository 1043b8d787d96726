/**
 * The parts the system is assembled from live in this folder, one per file, each buildable on its
 * own: a Lambda that needs one part (the outbox dispatcher needs webhook delivery, the monthly close
 * needs billing) imports only that part's file, so its bundle carries nothing else: no HTTP app, no
 * portal, no OpenAPI schemas, no Stripe SDK unless it bills (see "Cold start" in docs/decisions.md).
 * `createSystem` (shared/compose/system.ts) is built from the same parts.
 *
 * This one is what every part stands on: the configuration, the table, the clock, the logger and the
 * id generator.
 */
import type { Config } from '../config.ts';
import { consoleLogger, prettyLogger, silentLogger, type Logger } from '../log.ts';
import { createDocumentClient, type Db } from '#store/db.ts';
import { createIdGenerator, systemClock, type Clock, type IdGenerator } from '../ids.ts';

export interface FoundationOptions {
  config: Config;
  db?: Db;
  clock?: Clock;
  logger?: Logger;
}

export interface Foundation {
  config: Config;
  db: Db;
  clock: Clock;
  logger: Logger;
  ids: IdGenerator;
}

export function createFoundation(options: FoundationOptions): Foundation {
  const { config } = options;
  const db = options.db ?? { doc: createDocumentClient({ endpoint: config.DYNAMODB_ENDPOINT, region: config.AWS_REGION }), table: config.TABLE_NAME };
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? (config.LOG_LEVEL === 'SILENT' ? silentLogger : config.LOG_FORMAT === 'pretty' ? prettyLogger() : consoleLogger);
  return { config, db, clock, logger, ids: createIdGenerator(clock) };
}
