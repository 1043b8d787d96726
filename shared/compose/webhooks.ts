/**
 * Partner webhooks as a part (see foundation.ts), assembled once here for the API, `npm start`, the
 * dispatcher, sender and sweeper Lambdas and the tests: the endpoint service, the dispatcher (events →
 * deliveries), the delivery attempts, the due-retry pass, and the local stream driver. One code path,
 * two drivers: in AWS the stream Lambda calls `dispatchStreamRecords` and SQS carries the jobs to the
 * sender Lambda; under `npm start` the local stream driver calls the same function and an in-process
 * queue runs the same attempts.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { Logger } from '../log.ts';
import type { Db } from '#store/db.ts';
import { createDeliveryEngine, type AttemptReport, type DeliveryEngine, type SendWebhook } from '#webhooks/deliveries.ts';
import { createDispatcher } from '#webhooks/dispatcher.ts';
import { createEndpointService } from '#webhooks/endpoints.ts';
import type { LocalStream } from '#webhooks/local-stream.ts';
import { createInProcessDeliveryQueue, createSqsDeliveryQueue, type DeliveryQueue, type InProcessDeliveryQueue } from '#webhooks/queue.ts';
import { parseAllowedHosts, type ResolveHost } from '#webhooks/ssrf.ts';
import type { Foundation } from './foundation.ts';

export interface WebhooksOptions {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** From `WEBHOOK_ALLOWED_HOSTS` (parseAllowedHosts); empty in production. */
  allowedHosts: string[];
  /** Where delivery jobs go; default: run them in this process. */
  queue?: DeliveryQueue | undefined;
  /** DNS resolver for the SSRF checks (tests inject one); default: the system's. */
  resolve?: ResolveHost | undefined;
  /** Per-attempt timeout; default 15 s. */
  fetchTimeoutMs?: number | undefined;
  /** Jitter source for the retry schedule; default Math.random. */
  random?: (() => number) | undefined;
  /** The HTTP attempt itself; default sendWebhook (tests swap it to play a sender that crashes). */
  send?: SendWebhook | undefined;
  /** Called after each recorded attempt (metrics). */
  onAttempt?: ((report: AttemptReport) => void) | undefined;
}

export function createWebhooks(options: WebhooksOptions) {
  const { db, logger } = options;
  let engine: DeliveryEngine | undefined;
  const inProcess: InProcessDeliveryQueue | null = options.queue
    ? null
    : createInProcessDeliveryQueue((ref) => engine!.attemptDelivery(ref), { logger });
  const queue: DeliveryQueue = options.queue ?? inProcess!;
  engine = createDeliveryEngine({ ...options, queue });
  const service = createEndpointService({ ...options, engine });
  const dispatcher = createDispatcher({ db, engine, queue, logger });

  return {
    service,
    dispatchEvents: dispatcher.dispatchEvents,
    dispatchStreamRecords: dispatcher.dispatchStreamRecords,
    attemptDelivery: engine.attemptDelivery,
    retryDueDeliveries: engine.retryDueDeliveries,
    /** Resolves when the in-process queue has run every job handed to it (at once with SQS). */
    idle: (): Promise<void> => inProcess?.idle() ?? Promise.resolve(),
    /** Reads the table's stream from DynamoDB Local at `endpoint` and dispatches it, until stopped. */
    // Local only (`npm start`): its stream client is imported here, never by a Lambda.
    startLocalStream: async (endpoint: string, streamOptions: { pollIntervalMs?: number; startingPosition?: 'TRIM_HORIZON' | 'LATEST'; checkpointFile?: string } = {}): Promise<LocalStream> =>
      (await import('#webhooks/local-stream.ts')).startLocalOutboxStream({ db, endpoint, logger, onRecords: dispatcher.dispatchStreamRecords, ...streamOptions }),
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;

/**
 * Webhooks as the configuration says: jobs on SQS when `WEBHOOK_QUEUE_URL` is set (the dispatcher and
 * sweeper Lambdas), in-process otherwise (`npm start`, and the API and sender Lambdas, which attempt
 * directly and never enqueue).
 */
export function webhooksFromConfig(
  config: Pick<Config, 'WEBHOOK_ALLOWED_HOSTS' | 'WEBHOOK_QUEUE_URL' | 'AWS_REGION'>,
  deps: { db: Db; clock: Clock; ids: IdGenerator; logger: Logger; onAttempt?: ((report: AttemptReport) => void) | undefined },
): Webhooks {
  const queue = config.WEBHOOK_QUEUE_URL
    ? createSqsDeliveryQueue({ client: new SQSClient({ region: config.AWS_REGION }), queueUrl: config.WEBHOOK_QUEUE_URL })
    : undefined;
  return createWebhooks({ ...deps, allowedHosts: parseAllowedHosts(config.WEBHOOK_ALLOWED_HOSTS), queue });
}

/** Webhooks of the foundation's configuration (see webhooksFromConfig); `onAttempt` counts attempts (the sender's metrics). */
export const webhooksOf = (foundation: Foundation, onAttempt?: (report: AttemptReport) => void): Webhooks =>
  webhooksFromConfig(foundation.config, { db: foundation.db, clock: foundation.clock, ids: foundation.ids, logger: foundation.logger, onAttempt });
