/**
 * The outbox dispatcher: turns committed events into deliveries, one per (event, subscribed enabled
 * endpoint), each with an id derived from both, created only if absent, so a stream record seen twice
 * yields one delivery. Then it hands the deliveries to the queue. The same `dispatchStreamRecords`
 * runs in the dispatcher Lambda (table stream) and in the local stream driver (`npm start`).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Logger } from '#shared/log.ts';
import type { Db } from '#store/db.ts';
import type { DomainEvent } from '#store/events.ts';
import type { DeliveryRef } from '#store/webhook-deliveries.ts';
import { listAllEndpoints, type WebhookEndpoint } from '#store/webhooks.ts';
import { prefixes } from '#store/keys.ts';
import type { DeliveryEngine } from './deliveries.ts';
import { subscribesTo } from './endpoints.ts';
import type { DeliveryQueue } from './queue.ts';

/** What the dispatcher needs of a stream record; Lambda's DynamoDBRecord and the Streams API's record both fit. */
export interface OutboxStreamRecord {
  eventName?: string | undefined;
  dynamodb?: { NewImage?: Record<string, unknown> | undefined; SequenceNumber?: string | undefined } | undefined;
}

export interface StreamBatchResult {
  /** The first record that failed (Lambda retries from it): empty when the whole batch went through. */
  batchItemFailures: { itemIdentifier: string }[];
}

export interface DispatchResult {
  /** Deliveries created by this call. */
  created: number;
  /** Deliveries that already existed (repeated records): handed to the queue again, where they do nothing unless still due. */
  existing: number;
}

/** Records processed at once within a stream batch. */
const DISPATCH_CONCURRENCY = 10;

/** The outbox event an inserted table item carries, or null for any other change. */
export function outboxEventOf(record: OutboxStreamRecord): DomainEvent | null {
  if (record.eventName !== 'INSERT') return null;
  const image = record.dynamodb?.NewImage as Record<string, AttributeValue> | undefined;
  // Decided on the raw key attributes: only event items are unmarshalled (DynamoDB Local's stream
  // renders some other items' empty nested values in a shape unmarshall refuses, which would stall
  // the shard on a record that was never an event).
  if (image?.entity?.S !== 'event' || !image.pk?.S?.startsWith(prefixes.org) || !image.sk?.S?.startsWith(prefixes.event) || !image.event) return null;
  return unmarshall({ event: image.event }).event as DomainEvent;
}

export function createDispatcher(deps: { db: Db; engine: DeliveryEngine; queue: DeliveryQueue; logger: Logger }) {
  const { db, engine, queue } = deps;

  /** Endpoints that get an event: enabled, subscribed to its type, and already registered when it happened. */
  const recipients = (endpoints: WebhookEndpoint[], event: DomainEvent) =>
    endpoints.filter((e) => e.status === 'enabled' && subscribesTo(e, event.type) && e.createdAt <= event.createdAt);

  async function dispatchEvents(events: DomainEvent[]): Promise<DispatchResult> {
    const endpointsByOrg = new Map<string, Promise<WebhookEndpoint[]>>();
    const endpointsOf = (orgId: string) => {
      let found = endpointsByOrg.get(orgId);
      if (!found) endpointsByOrg.set(orgId, (found = listAllEndpoints(db, orgId)));
      return found;
    };
    const refs: DeliveryRef[] = [];
    let created = 0;
    for (const event of events) {
      const targets = recipients(await endpointsOf(event.orgId), event);
      const results = await Promise.all(targets.map((endpoint) => engine.createDeliveryFor(event, endpoint)));
      for (const r of results) {
        refs.push(r.ref);
        if (r.created) created += 1;
      }
    }
    if (refs.length > 0) await queue.enqueue(refs);
    return { created, existing: refs.length - created };
  }

  /**
   * A batch of stream records, in order. Records are dispatched a few at a time; when some fail, the
   * earliest failed one is reported so that it and everything after it come again (dispatching is
   * idempotent, so the records that did go through are harmless to repeat).
   */
  async function dispatchStreamRecords(records: OutboxStreamRecord[]): Promise<StreamBatchResult> {
    const failed: number[] = [];
    for (let start = 0; start < records.length; start += DISPATCH_CONCURRENCY) {
      const slice = records.slice(start, start + DISPATCH_CONCURRENCY);
      const results = await Promise.allSettled(
        slice.map(async (record) => {
          const event = outboxEventOf(record);
          if (event) await dispatchEvents([event]);
        }),
      );
      results.forEach((result, i) => {
        if (result.status === 'rejected') {
          failed.push(start + i);
          deps.logger.error('outbox dispatch failed', {
            sequenceNumber: slice[i]!.dynamodb?.SequenceNumber,
            error: result.reason instanceof Error ? { name: result.reason.name, message: result.reason.message } : String(result.reason),
          });
        }
      });
      if (failed.length > 0) break;
    }
    const first = failed[0];
    if (first === undefined) return { batchItemFailures: [] };
    return { batchItemFailures: [{ itemIdentifier: records[first]!.dynamodb?.SequenceNumber ?? '' }] };
  }

  return { dispatchEvents, dispatchStreamRecords };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
