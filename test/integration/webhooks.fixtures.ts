/** The API with the webhooks module on DynamoDB Local, partner receivers, and a partner's verification. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Webhook } from 'standardwebhooks';
import { expect, vi } from 'vitest';
import { webhooksModule } from '../../shared/http/modules.ts';
import { listEvents, type DomainEvent } from '../../shared/store/events.ts';
import type { RetryPolicy } from '../../shared/store/retry.ts';
import { generateApiKey, putApiKey } from '../../shared/store/orgs.ts';
import { createWebhooks, type Webhooks, type WebhooksOptions } from '../../shared/compose/webhooks.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver, type WebhookReceiverOptions } from '../support/webhook-receiver.ts';

export const ORG = 'org_lumiere';
export const OTHER_ORG = 'org_rheinwerk';
export const LOOPBACK = ['127.0.0.1'];

export interface WebhookTest {
  t: TestContext;
  webhooks: Webhooks;
  /** Dispatches the events committed since the last call (both demo orgs), as the stream would, and lets the deliveries run. */
  pump(): Promise<DomainEvent[]>;
  /** Moves the clock, runs the due-retry pass and lets the attempts run. */
  advance(ms: number): Promise<number>;
  receiver(options?: WebhookReceiverOptions): Promise<WebhookReceiver>;
  endpoint(url: string, events?: string[], key?: string): Promise<{ id: string; secret: string }>;
  close(): Promise<void>;
}

export async function webhookTest(
  options: Partial<Pick<WebhooksOptions, 'resolve' | 'send' | 'random' | 'allowedHosts' | 'fetchTimeoutMs'>> & {
    wrapDoc?: (doc: DynamoDBDocumentClient) => DynamoDBDocumentClient;
    retry?: RetryPolicy;
  } = {},
): Promise<WebhookTest> {
  let webhooks: Webhooks | undefined;
  const t = await createTestContext({
    modules: [webhooksModule],
    late: { webhooks: () => webhooks!.service },
    ...(options.wrapDoc ? { wrapDoc: options.wrapDoc } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  });
  const { deps } = t;
  webhooks = createWebhooks({
    db: deps.db,
    clock: deps.clock,
    ids: deps.ids,
    logger: deps.logger,
    allowedHosts: options.allowedHosts ?? LOOPBACK,
    resolve: options.resolve,
    send: options.send,
    random: options.random,
    fetchTimeoutMs: options.fetchTimeoutMs,
  });
  const w = webhooks;
  const seen: Record<string, number> = { [ORG]: 0, [OTHER_ORG]: 0 };
  const receivers: WebhookReceiver[] = [];

  return {
    t,
    webhooks: w,
    async pump() {
      const events: DomainEvent[] = [];
      for (const orgId of Object.keys(seen)) {
        const page = await listEvents(t.db, orgId, seen[orgId]!, 1000);
        events.push(...page.data);
        if (page.data.length > 0) seen[orgId] = page.data.at(-1)!.sequence;
      }
      await w.dispatchEvents(events);
      await w.idle();
      return events;
    },
    async advance(ms) {
      t.clock.advance(ms);
      const due = await w.retryDueDeliveries();
      await w.idle();
      return due;
    },
    async receiver(receiverOptions = {}) {
      const r = await startWebhookReceiver(receiverOptions);
      receivers.push(r);
      return r;
    },
    async endpoint(url, events = ['*'], key = t.keys.customer) {
      const res = await t.call('POST', '/v1/webhook-endpoints', { key, body: { url, events } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return { id: res.body.id as string, secret: res.body.secret as string };
    },
    async close() {
      await Promise.all(receivers.map((r) => r.close()));
      await t.close();
    },
  };
}

/**
 * What a partner does with a request: `new Webhook(secret).verify(rawBody, headers)`. The partner's
 * clock reads `now` (the suite's manual clock), since verify refuses timestamps 5 minutes off.
 */
export function verifyAsPartner(secret: string, request: Pick<ReceivedWebhook, 'body' | 'headers'>, now: Date): unknown {
  vi.useFakeTimers({ toFake: ['Date'], now });
  try {
    return new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
  } finally {
    vi.useRealTimers();
  }
}

/** Quote and hold a reserved booking `startInHours` ahead; returns the held reservation. */
export async function hold(t: TestContext, options: { startInHours?: number; hours?: number; key?: string } = {}) {
  const startIn = options.startInHours ?? 24 * 10;
  const key = options.key ?? t.keys.customer;
  const quote = await t.call('POST', '/v1/quotes', {
    key,
    body: { site: 'valence-rovaltain', gpuType: 'h100-sxm-80gb', gpus: 8, start: hoursFrom(t.clock, startIn), end: hoursFrom(t.clock, startIn + (options.hours ?? 24)) },
  });
  expect(quote.status, JSON.stringify(quote.body)).toBe(201);
  const held = await t.call('POST', '/v1/reservations', { key, body: { quoteId: quote.body.id } });
  expect(held.status, JSON.stringify(held.body)).toBe(201);
  return held.body as { id: string; end: string; status: string };
}

/** A customer key of the demo org that is not an admin. */
export async function memberKey(t: TestContext): Promise<string> {
  const key = generateApiKey('customer');
  await putApiKey(t.db, key, { keyId: `key_member_${Math.random().toString(36).slice(2, 10)}`, role: 'customer', orgId: ORG, orgRole: 'member', siteId: null }, t.clock());
  return key;
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
