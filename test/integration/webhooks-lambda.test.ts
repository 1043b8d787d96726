/**
 * The two Lambda entries as AWS calls them (a DynamoDB stream batch, an SQS batch), against DynamoDB
 * Local, and the SQS queue against a stand-in client.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, SQSEvent } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { Principal } from '../../shared/domain/principal.ts';
import { silentLogger } from '../../shared/log.ts';
import { createIdGenerator, systemClock } from '../../shared/ids.ts';
import type { DomainEvent } from '../../shared/store/events.ts';
import { keys } from '../../shared/store/keys.ts';
import { listDeliveries } from '../../shared/store/webhook-deliveries.ts';
import { deliveryIdFor } from '../../shared/webhooks/deliveries.ts';
import { createSqsDeliveryQueue, handleDeliveryMessages, MAX_SQS_DELAY_SECONDS } from '../../shared/webhooks/queue.ts';
import { createWebhooks } from '../../shared/compose/webhooks.ts';
import { createTestDb } from '../support/db.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';
import { LOOPBACK, ORG, OTHER_ORG } from './webhooks.fixtures.ts';

const admin = (orgId: string): Principal => ({ keyId: 'key_admin', role: 'customer', orgId, orgRole: 'admin', siteId: null });
const ids = createIdGenerator(systemClock);

let db: Awaited<ReturnType<typeof createTestDb>>;
let partner: WebhookReceiver;
beforeAll(async () => {
  db = await createTestDb('lambda');
  partner = await startWebhookReceiver();
  Object.assign(process.env, {
    TABLE_NAME: db.table,
    DYNAMODB_ENDPOINT: inject('dynamoEndpoint'),
    WEBHOOK_ALLOWED_HOSTS: LOOPBACK.join(','),
    LOG_LEVEL: 'SILENT',
    POWERTOOLS_DEV: 'true',
    POWERTOOLS_METRICS_DISABLED: 'false',
    POWERTOOLS_METRICS_NAMESPACE: 'GpuMarket',
    POWERTOOLS_SERVICE_NAME: 'webhook-sender',
  });
});
afterAll(async () => {
  await partner.close();
  await db.drop();
});

/** Webhooks on the real clock (the Lambdas run on it) whose queue only records jobs. */
function webhooksRecordingJobs(doc: DynamoDBDocumentClient = db.doc) {
  const jobs: unknown[] = [];
  const webhooks = createWebhooks({
    db: { ...db, doc },
    clock: systemClock,
    ids,
    logger: silentLogger,
    allowedHosts: LOOPBACK,
    queue: { enqueue: async (refs) => void jobs.push(...refs) },
  });
  return { webhooks, jobs };
}

const eventFor = (orgId: string, sequence: number): DomainEvent => ({
  id: ids.next('evt'),
  type: 'reservation.held',
  createdAt: new Date().toISOString(),
  orgId,
  sequence,
  data: { id: `res_${sequence}`, status: 'held' },
});

let sequenceNumber = 100;
/** A stream record as Lambda hands it over (NEW_AND_OLD_IMAGES). */
const streamRecord = (eventName: 'INSERT' | 'MODIFY' | 'REMOVE', item: Record<string, unknown>): DynamoDBRecord => ({
  eventName,
  eventSource: 'aws:dynamodb',
  dynamodb: {
    Keys: marshall({ pk: item.pk, sk: item.sk }) as never,
    NewImage: eventName === 'REMOVE' ? undefined : (marshall(item, { removeUndefinedValues: true }) as never),
    OldImage: eventName === 'INSERT' ? undefined : (marshall(item, { removeUndefinedValues: true }) as never),
    SequenceNumber: String(++sequenceNumber),
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  },
});
const outboxRecord = (e: DomainEvent) => streamRecord('INSERT', { ...keys.event(e.orgId, e.sequence), ...keys.eventIndex(e.id), entity: 'event', event: e });

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the outbox dispatcher Lambda', () => {
  it('turns inserted outbox events into one delivery each, ignoring other changes and repeated records', async () => {
    const { webhooks } = webhooksRecordingJobs();
    const { endpoint, secret } = await webhooks.service.create(admin(ORG), { url: partner.url, events: ['reservation.held'] });
    const event = eventFor(ORG, 1);
    const { handler } = await import('../../functions/outbox-dispatcher.ts');

    const result = await handler({
      Records: [
        outboxRecord(event),
        streamRecord('MODIFY', { ...keys.reservation(ORG, 'res_1'), entity: 'reservation', reservation: { id: 'res_1' } }),
        streamRecord('INSERT', { ...keys.quote('qt_1'), entity: 'quote' }),
        streamRecord('REMOVE', { ...keys.event(ORG, 99), entity: 'event' }),
        outboxRecord(event),
      ],
    });

    expect(result).toEqual({ batchItemFailures: [] });
    await until(() => partner.received.length >= 1, 'the delivery');
    const deliveries = (await listDeliveries(db, endpoint.id, { limit: 10 })).data;
    expect(deliveries.map((d) => d.id)).toEqual([deliveryIdFor(event.id, endpoint.id)]);
    expect(partner.received).toHaveLength(1);
    const got = partner.received[0]!;
    expect(new Webhook(secret).verify(got.body, got.headers as Record<string, string>)).toEqual({ type: event.type, timestamp: event.createdAt, data: event });
    await webhooks.service.remove(admin(ORG), endpoint.id);
  });

  it('reports the first record it could not dispatch, so that Lambda retries from there', async () => {
    const failingForOtherOrg = new Proxy(db.doc, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return (command: unknown, ...rest: unknown[]) => {
          if (command instanceof QueryCommand && command.input.ExpressionAttributeValues?.[':pk'] === keys.org(OTHER_ORG).pk) {
            return Promise.reject(Object.assign(new Error('throttled (injected)'), { name: 'ThrottlingException' }));
          }
          return (target.send as (...a: unknown[]) => Promise<unknown>).call(target, command, ...rest);
        };
      },
    });
    const { webhooks, jobs } = webhooksRecordingJobs(failingForOtherOrg);
    await webhooks.service.create(admin(ORG), { url: partner.url, events: ['*'] });
    const records = [outboxRecord(eventFor(ORG, 2)), outboxRecord(eventFor(OTHER_ORG, 1)), outboxRecord(eventFor(ORG, 3))];

    const result = await webhooks.dispatchStreamRecords(records);
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[1]!.dynamodb!.SequenceNumber }] });
    expect(jobs).toHaveLength(2);
  });
});

describe('the webhook sender Lambda', () => {
  it('attempts each job, reports unreadable messages, and counts deliveries as metrics', async () => {
    const { webhooks, jobs } = webhooksRecordingJobs();
    const { endpoint, secret } = await webhooks.service.create(admin(OTHER_ORG), { url: partner.url, events: ['*'] });
    const event = eventFor(OTHER_ORG, 7);
    await webhooks.dispatchEvents([event]);
    expect(jobs).toEqual([{ endpointId: endpoint.id, deliveryId: deliveryIdFor(event.id, endpoint.id) }]);
    const before = partner.received.length;
    const emitted = vi.spyOn(console, 'log').mockImplementation(() => {});
    const { handler } = await import('../../functions/webhook-sender.ts');

    const sqs = (bodies: string[]): SQSEvent => ({ Records: bodies.map((body, i) => ({ messageId: `m${i}`, body }) as SQSEvent['Records'][number]) });
    const result = await handler(sqs([JSON.stringify(jobs[0]), 'not a job', JSON.stringify(jobs[0])]));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(partner.received.length - before).toBe(1); // the same job twice: one attempt
    const got = partner.received.at(-1)!;
    expect(new Webhook(secret).verify(got.body, got.headers as Record<string, string>)).toMatchObject({ data: { id: event.id } });
    const metrics = emitted.mock.calls.map((c) => String(c[0])).filter((line) => line.includes('_aws'));
    emitted.mockRestore();
    expect(metrics.join('\n')).toContain('WebhookDeliverySucceeded');
    expect((await listDeliveries(db, endpoint.id, { limit: 10 })).data[0]).toMatchObject({ status: 'succeeded', attemptCount: 1 });
  });

  it('handleDeliveryMessages reports a job whose attempt could not run', async () => {
    const result = await handleDeliveryMessages(
      { Records: [{ messageId: 'ok', body: '{"endpointId":"whe_1","deliveryId":"msg_1"}' }, { messageId: 'boom', body: '{"endpointId":"whe_1","deliveryId":"msg_2"}' }] as SQSEvent['Records'] },
      async (ref) => {
        if (ref.deliveryId === 'msg_2') throw new Error('DynamoDB unavailable');
      },
      silentLogger,
    );
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'boom' }] });
  });
});

describe('the SQS delivery queue', () => {
  const stub = (failIds: string[] = []) => {
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ name: command.constructor.name, input: command.input });
        const entries = (command.input.Entries as { Id: string }[] | undefined) ?? [];
        return { Failed: entries.filter((e) => failIds.includes(e.Id)).map((e) => ({ Id: e.Id, Code: 'InternalError', Message: 'try again', SenderFault: false })) };
      },
    } as unknown as SQSClient;
    return { client, sent };
  };
  const refs = (n: number) => Array.from({ length: n }, (_, i) => ({ endpointId: 'whe_1', deliveryId: `msg_${i}` }));

  it('sends jobs in batches of ten', async () => {
    const { client, sent } = stub();
    await createSqsDeliveryQueue({ client, queueUrl: 'https://sqs.example/q' }).enqueue(refs(23));
    expect(sent.map((s) => (s.input.Entries as unknown[]).length)).toEqual([10, 10, 3]);
    expect(JSON.parse((sent[2]!.input.Entries as { MessageBody: string }[])[2]!.MessageBody)).toEqual({ endpointId: 'whe_1', deliveryId: 'msg_22' });
    // One message group per endpoint: a fair queue on a standard SQS queue (issue 15, finding 7).
    expect((sent[0]!.input.Entries as { MessageGroupId: string }[]).every((e) => e.MessageGroupId === 'whe_1')).toBe(true);
  });

  it('fails when SQS refuses any job, so the stream batch is retried', async () => {
    const { client } = stub(['3']);
    await expect(createSqsDeliveryQueue({ client, queueUrl: 'https://sqs.example/q' }).enqueue(refs(5))).rejects.toThrow(/refused 1 of 5.*msg_3/);
  });

  it('holds a short retry back, at most 15 minutes', async () => {
    const { client, sent } = stub();
    const queue = createSqsDeliveryQueue({ client, queueUrl: 'https://sqs.example/q' });
    await queue.enqueueLater!(refs(1)[0]!, 5_200);
    await queue.enqueueLater!(refs(1)[0]!, 3_600_000);
    expect(sent.map((s) => s.input.DelaySeconds)).toEqual([6, MAX_SQS_DELAY_SECONDS]);
    expect(sent.map((s) => s.input.MessageGroupId)).toEqual(['whe_1', 'whe_1']);
  });
});
