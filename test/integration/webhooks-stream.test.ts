/**
 * The local driver end to end: the table's stream in DynamoDB Local feeds the dispatcher that the
 * Lambda runs, and the in-process queue delivers; nothing is polled from the API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { listEvents } from '../../shared/store/events.ts';
import { deliveryIdFor } from '../../shared/webhooks/deliveries.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { silentLogger } from '../../shared/log.ts';
import { startLocalOutboxStream, type LocalStream } from '../../shared/webhooks/local-stream.ts';
import { ORG, hold, verifyAsPartner, webhookTest, type WebhookTest } from './webhooks.fixtures.ts';

let w: WebhookTest;
let stream: LocalStream | undefined;
beforeAll(async () => {
  w = await webhookTest();
});
afterAll(async () => {
  await stream?.stop();
  await w.close();
});

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the local stream driver', () => {
  it('delivers what the API commits, from the table stream, and a restart from the stream’s start adds no duplicates', async () => {
    const { t } = w;
    let secret = '';
    const partner = await w.receiver({ respond: (r) => (verifyAsPartner(secret, r, t.clock()), { status: 204 }) });
    const endpoint = await w.endpoint(partner.url);
    secret = endpoint.secret;
    stream = await w.webhooks.startLocalStream(inject('dynamoEndpoint'), { pollIntervalMs: 50 });

    const held = await hold(t);
    await until(() => partner.received.length >= 1, 'the held event');
    expect((await t.call('POST', `/v1/reservations/${held.id}/confirm`)).status).toBe(200);
    await until(() => partner.received.length >= 2, 'the confirmed event');

    const events = (await listEvents(t.db, ORG, 0, 100)).data;
    expect(events.map((e) => e.type)).toEqual(['reservation.held', 'reservation.confirmed']);
    expect(partner.received.map((r) => r.status)).toEqual([204, 204]);
    expect(partner.received.map((r) => r.headers['webhook-id'])).toEqual(events.map((e) => deliveryIdFor(e.id, endpoint.id)));
    expect(partner.received.map((r) => JSON.parse(r.body).data)).toEqual(events);

    // A restart reads the stream again from its start: every record is dispatched again, nothing is sent again.
    const recordsSoFar = stream.recordsDispatched;
    await stream.stop();
    stream = await w.webhooks.startLocalStream(inject('dynamoEndpoint'), { pollIntervalMs: 50, startingPosition: 'TRIM_HORIZON' });
    const restarted = stream;
    await until(() => restarted.recordsDispatched >= recordsSoFar, 'the re-read of the stream');
    await w.webhooks.idle();
    expect(partner.received).toHaveLength(2);
    const deliveries = (await t.call('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`)).body.data;
    expect(deliveries).toHaveLength(2);
  });
  it('with a checkpoint file, a restart resumes after what it handed over instead of replaying the stream (issue 15, finding 7)', async () => {
    const { t } = w;
    const dir = mkdtempSync(join(tmpdir(), 'gpum-stream-'));
    const checkpointFile = join(dir, 'stream-position.json');
    const seen: string[] = [];
    const start = () =>
      startLocalOutboxStream({
        db: t.db,
        endpoint: inject('dynamoEndpoint'),
        logger: silentLogger,
        pollIntervalMs: 50,
        checkpointFile,
        onRecords: async (records) => {
          seen.push(...records.map((r) => String((r as { dynamodb?: { Keys?: { pk?: { S?: string } } } }).dynamodb?.Keys?.pk?.S)));
          return { batchItemFailures: [] };
        },
      });
    const put = (pk: string) => t.db.doc.send(new PutCommand({ TableName: t.db.table, Item: { pk, sk: 'CKPT', entity: 'checkpoint-test' } }));
    try {
      let driver = await start();
      await put('CKPT#before-stop');
      await until(() => seen.includes('CKPT#before-stop'), 'the first record');
      await driver.stop();
      const saved = JSON.parse(readFileSync(checkpointFile, 'utf8'));
      expect(Object.values(saved.shards).some((s) => typeof (s as { lastSequence?: string }).lastSequence === 'string')).toBe(true);

      // Written while stopped, read after the restart; nothing from before the stop is handed over again.
      await put('CKPT#while-stopped');
      seen.length = 0;
      driver = await start();
      await until(() => seen.includes('CKPT#while-stopped'), 'the record written while stopped');
      await driver.stop();
      expect(seen).not.toContain('CKPT#before-stop');
      expect(seen.filter((pk) => pk.startsWith('CKPT#'))).toEqual(['CKPT#while-stopped']);

      // Without the file (or with another stream's), it reads from the starting position: the replay.
      seen.length = 0;
      rmSync(checkpointFile);
      driver = await start();
      await until(() => seen.includes('CKPT#while-stopped'), 'the replay');
      await driver.stop();
      expect(seen).toContain('CKPT#before-stop');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
