/**
 * The local driver of the outbox: reads the table's stream from DynamoDB Local (which keeps streams
 * like the real service) and hands each batch to the same `dispatchStreamRecords` the dispatcher
 * Lambda runs in AWS. Shards are read in order (a child after its parent); a batch that partly fails
 * is retried from its first failed record before anything newer is read, as Lambda does.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import type { Logger } from '#shared/log.ts';
import type { Db } from '#store/db.ts';
import type { OutboxStreamRecord, StreamBatchResult } from './dispatcher.ts';

export interface LocalStreamOptions {
  db: Db;
  /** DynamoDB Local, e.g. `http://127.0.0.1:8000`. */
  endpoint: string;
  region?: string | undefined;
  onRecords: (records: OutboxStreamRecord[]) => Promise<StreamBatchResult>;
  logger: Logger;
  /** Pause between polls when there was nothing to read; default 250 ms. */
  pollIntervalMs?: number | undefined;
  /** TRIM_HORIZON (default) re-reads the last 24 h on start: dispatching is idempotent, so nothing is lost or doubled. */
  startingPosition?: 'TRIM_HORIZON' | 'LATEST' | undefined;
  /**
   * A file keeping where each shard was read up to (`npm start`: `.local/stream-position.json`). On
   * start the driver resumes after those records instead of re-reading the stream's last 24 h, so new
   * events do not queue behind a replay; shards it does not know start at `startingPosition`. Written
   * at most once a second and on stop (a crash re-reads at most that second: dispatching is idempotent).
   */
  checkpointFile?: string | undefined;
}

/** What the checkpoint file holds: the stream it is for and each shard's last record handed over. */
interface Checkpoint {
  streamArn: string;
  shards: Record<string, { lastSequence?: string; done?: boolean }>;
}

const CHECKPOINT_EVERY_MS = 1000;

function readCheckpoint(file: string | undefined, streamArn: string, logger: Logger): Checkpoint['shards'] {
  if (!file || !existsSync(file)) return {};
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Checkpoint;
    // Another stream (the table was made again): its positions mean nothing here.
    return saved.streamArn === streamArn && typeof saved.shards === 'object' && saved.shards !== null ? saved.shards : {};
  } catch (error) {
    logger.warn('local outbox stream checkpoint unreadable; reading from the starting position', { file, error: error instanceof Error ? error.message : String(error) });
    return {};
  }
}

export interface LocalStream {
  /** Stream records handed to the dispatcher and accepted so far (outbox events or not). */
  readonly recordsDispatched: number;
  stop(): Promise<void>;
}

interface ShardState {
  id: string;
  parentId: string | undefined;
  /** Where reading starts: the chosen position for shards open at start, the beginning for later ones. */
  startAt: 'TRIM_HORIZON' | 'LATEST';
  iterator: string | null;
  /** Last record handed over successfully, to resume after an expired iterator. */
  lastSequence: string | undefined;
  /** Records of a batch that failed, retried before reading on. */
  pending: _Record[];
  done: boolean;
}

const DISCOVER_EVERY_MS = 1000;

export async function startLocalOutboxStream(options: LocalStreamOptions): Promise<LocalStream> {
  const { db, logger } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const table = await db.doc.send(new DescribeTableCommand({ TableName: db.table }));
  const streamArn = table.Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${db.table} has no stream; it must be created with NEW_AND_OLD_IMAGES (shared/store/db.ts)`);

  const streams = new DynamoDBStreamsClient({
    endpoint: options.endpoint,
    region: options.region ?? 'eu-west-3',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const shards = new Map<string, ShardState>();
  const resumeFrom = readCheckpoint(options.checkpointFile, streamArn, logger);
  let lastCheckpoint = 0;
  let checkpointDirty = false;
  let lastDiscovery = 0;
  let stopped = false;
  let recordsDispatched = 0;
  let wake: (() => void) | undefined;

  async function discover(): Promise<void> {
    const found: Shard[] = [];
    let start: string | undefined;
    do {
      const res = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: start }));
      found.push(...(res.StreamDescription?.Shards ?? []));
      start = res.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    for (const shard of found) {
      if (!shard.ShardId || shards.has(shard.ShardId)) continue;
      const saved = resumeFrom[shard.ShardId];
      shards.set(shard.ShardId, {
        id: shard.ShardId,
        parentId: shard.ParentShardId,
        startAt: lastDiscovery === 0 ? (options.startingPosition ?? 'TRIM_HORIZON') : 'TRIM_HORIZON',
        iterator: null,
        lastSequence: saved?.lastSequence,
        pending: [],
        done: saved?.done === true,
      });
    }
    lastDiscovery = Date.now();
  }

  /** Saves each shard's position (write to a temporary file, then rename: never a half-written file). */
  function saveCheckpoint(force: boolean): void {
    if (!options.checkpointFile || !checkpointDirty || (!force && Date.now() - lastCheckpoint < CHECKPOINT_EVERY_MS)) return;
    const saved: Checkpoint = { streamArn: streamArn!, shards: {} };
    for (const state of shards.values()) {
      if (state.lastSequence || state.done) saved.shards[state.id] = { ...(state.lastSequence ? { lastSequence: state.lastSequence } : {}), ...(state.done ? { done: true } : {}) };
    }
    try {
      writeFileSync(`${options.checkpointFile}.tmp`, `${JSON.stringify(saved)}\n`);
      renameSync(`${options.checkpointFile}.tmp`, options.checkpointFile);
      checkpointDirty = false;
      lastCheckpoint = Date.now();
    } catch (error) {
      logger.warn('local outbox stream checkpoint not written', { error: error instanceof Error ? error.message : String(error) });
    }
  }

  async function iteratorFor(state: ShardState): Promise<string | null> {
    if (state.lastSequence) {
      try {
        const resumed = await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: state.id, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: state.lastSequence }));
        return resumed.ShardIterator ?? null;
      } catch (error) {
        // The saved record has been trimmed (older than 24 h): read what the shard still holds.
        if (!(error instanceof Error && error.name === 'TrimmedDataAccessException')) throw error;
        state.lastSequence = undefined;
        state.startAt = 'TRIM_HORIZON';
      }
    }
    const res = await streams.send(
      new GetShardIteratorCommand(
        state.lastSequence
          ? { StreamArn: streamArn, ShardId: state.id, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: state.lastSequence }
          : { StreamArn: streamArn, ShardId: state.id, ShardIteratorType: state.startAt },
      ),
    );
    return res.ShardIterator ?? null;
  }

  /** Hands records over; keeps the failed tail (from the first failed record) for the next round. */
  async function handOver(state: ShardState, records: _Record[]): Promise<boolean> {
    let failedAt = -1;
    try {
      const result = await options.onRecords(records);
      const failed = result.batchItemFailures[0]?.itemIdentifier;
      if (failed !== undefined) {
        failedAt = records.findIndex((r) => r.dynamodb?.SequenceNumber === failed);
        if (failedAt === -1) failedAt = 0;
      }
    } catch (error) {
      logger.error('local outbox stream batch failed', { shard: state.id, error: error instanceof Error ? error.message : String(error) });
      failedAt = 0;
    }
    const delivered = failedAt === -1 ? records : records.slice(0, failedAt);
    recordsDispatched += delivered.length;
    const last = delivered.at(-1)?.dynamodb?.SequenceNumber;
    if (last) {
      state.lastSequence = last;
      checkpointDirty = true;
    }
    state.pending = failedAt === -1 ? [] : records.slice(failedAt);
    return failedAt === -1;
  }

  const readable = (state: ShardState) => {
    if (state.done) return false;
    const parent = state.parentId ? shards.get(state.parentId) : undefined;
    return !parent || parent.done;
  };

  /** One pass over the readable shards; true when it read or retried something. */
  async function pass(): Promise<boolean> {
    if (Date.now() - lastDiscovery >= DISCOVER_EVERY_MS) await discover();
    let busy = false;
    for (const state of shards.values()) {
      if (stopped || !readable(state)) continue;
      if (state.pending.length > 0) {
        await handOver(state, state.pending);
        continue;
      }
      state.iterator ??= await iteratorFor(state);
      if (!state.iterator) {
        state.done = true;
        continue;
      }
      let res;
      try {
        res = await streams.send(new GetRecordsCommand({ ShardIterator: state.iterator, Limit: 1000 }));
      } catch (error) {
        if (error instanceof Error && (error.name === 'ExpiredIteratorException' || error.name === 'TrimmedDataAccessException')) {
          state.iterator = null;
          continue;
        }
        throw error;
      }
      const records = res.Records ?? [];
      if (records.length > 0) {
        busy = true;
        await handOver(state, records);
      }
      state.iterator = res.NextShardIterator ?? null;
      if (!res.NextShardIterator) {
        state.done = true;
        checkpointDirty = true;
      }
    }
    saveCheckpoint(false);
    return busy;
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  await discover();
  const loop = (async () => {
    while (!stopped) {
      let busy = false;
      try {
        busy = await pass();
      } catch (error) {
        logger.error('local outbox stream read failed', { error: error instanceof Error ? error.message : String(error) });
      }
      if (!busy && !stopped) await sleep(pollIntervalMs);
    }
  })();

  return {
    get recordsDispatched() {
      return recordsDispatched;
    },
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      saveCheckpoint(true);
      streams.destroy();
    },
  };
}
