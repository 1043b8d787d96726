/**
 * Webhook deliveries: one per event and endpoint (`webhook-id` derived from both), created due now,
 * reopened by a manual retry, and the endpoint disabled with its `webhook_endpoint.disabled` event.
 * The engine assembles these with the attempts (delivery-attempt.ts: lease, sign, send, record) and
 * the due-retry pass (due-pass.ts); the API shapes of endpoints and deliveries are at the end.
 */
import { DomainError } from '#domain/errors.ts';
import type { IdGenerator } from '../ids.ts';
import { outboxWrites, type DomainEvent } from '#store/events.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import { transact } from '#store/transact.ts';
import { createDelivery, getDelivery, replaceDelivery, type DeliveryRef, type WebhookDelivery } from '#store/webhook-deliveries.ts';
import { endpointDisable, getEndpoint, type WebhookEndpoint } from '#store/webhooks.ts';
import { createAttempts, type AttemptDeps } from './delivery-attempt.ts';
import { createDuePass } from './due-pass.ts';

/** The routes and the composition root read these here, with the engine. */
export { MAX_LOGGED_ATTEMPTS, type AttemptReport, type SendWebhook } from './delivery-attempt.ts';

/** A manual retry re-reads and writes again this often when the delivery changed under it. */
const REOPEN_ROUNDS = 5;

export const ENDPOINT_DISABLED_EVENT = 'webhook_endpoint.disabled';

export interface DeliveryEngineDeps extends AttemptDeps {
  ids: IdGenerator;
}

/** `webhook-id` of an event's delivery to an endpoint: the same however often the event is dispatched. */
export const deliveryIdFor = (eventId: string, endpointId: string): string =>
  `msg_${eventId.replace(/^evt_/, '')}_${endpointId.replace(/^whe_/, '')}`;

/** The Standard Webhooks body: `{ type, timestamp, data }`, with the whole event as `data`. */
export const deliveryPayload = (event: DomainEvent): string =>
  JSON.stringify({ type: event.type, timestamp: event.createdAt, data: event });

export function createDeliveryEngine(deps: DeliveryEngineDeps) {
  const { db, clock, ids, logger } = deps;
  const { markDue, retryDueDeliveries } = createDuePass(deps);

  /** Creates the delivery of an event to an endpoint, due now; an existing one is left as it is. */
  async function createDeliveryFor(event: DomainEvent, endpoint: WebhookEndpoint): Promise<{ ref: DeliveryRef; created: boolean }> {
    await markDue(endpoint.orgId, endpoint.id, clock());
    const now = clock().toISOString();
    const delivery: WebhookDelivery = {
      id: deliveryIdFor(event.id, endpoint.id),
      endpointId: endpoint.id,
      orgId: endpoint.orgId,
      eventId: event.id,
      eventType: event.type,
      payload: deliveryPayload(event),
      status: 'pending',
      attemptCount: 0,
      nextAttemptAt: now,
      leasedAt: null,
      attempts: [],
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    const created = await createDelivery(db, delivery);
    return { ref: { endpointId: endpoint.id, deliveryId: delivery.id }, created };
  }

  /** Disables an endpoint (if still enabled) and writes its `webhook_endpoint.disabled` event with it. */
  async function disableEndpoint(orgId: string, endpointId: string, reason: string): Promise<boolean> {
    return withOptimisticRetry(async () => {
      const now = clock();
      const endpoint = await getEndpoint(db, orgId, endpointId);
      if (!endpoint || endpoint.status !== 'enabled') return false;
      const disabled: WebhookEndpoint = { ...endpoint, status: 'disabled', disabledReason: reason, disabledAt: now.toISOString(), updatedAt: now.toISOString(), version: endpoint.version + 1 };
      const outbox = await outboxWrites(db, orgId, [{ type: ENDPOINT_DISABLED_EVENT, data: toApiEndpoint(disabled) }], now, ids);
      await transact(db, [endpointDisable(db, endpoint, reason, now), ...outbox.items]);
      logger.warn('webhook endpoint disabled', { orgId, endpointId, reason });
      return true;
    });
  }

  const { attemptDelivery } = createAttempts(deps, disableEndpoint);

  /**
   * Makes a delivery due now for a manual retry, whatever its state (a failed or succeeded one is
   * reopened; its `webhook-id` stays). `in_flight` while an attempt holds its lease.
   */
  async function reopenDelivery(ref: DeliveryRef): Promise<{ kind: 'reopened'; delivery: WebhookDelivery } | { kind: 'in_flight' | 'not_found' }> {
    for (let round = 0; round < REOPEN_ROUNDS; round++) {
      const now = clock();
      const current = await getDelivery(db, ref.endpointId, ref.deliveryId);
      if (!current) return { kind: 'not_found' };
      if (current.leasedAt !== null && current.nextAttemptAt !== null && Date.parse(current.nextAttemptAt) > now.getTime()) return { kind: 'in_flight' };
      await markDue(current.orgId, current.endpointId, now);
      const reopened: WebhookDelivery = { ...current, status: 'pending', nextAttemptAt: now.toISOString(), updatedAt: now.toISOString(), version: current.version + 1 };
      if (await replaceDelivery(db, current.version, reopened)) return { kind: 'reopened', delivery: reopened };
    }
    throw new DomainError('contention', `Delivery ${ref.deliveryId} is changing; retry the request`, { retryAfterSeconds: 1 });
  }

  /** Hands one delivery to the queue now (a test event or a manual retry). */
  const enqueue = (ref: DeliveryRef): Promise<void> => deps.queue.enqueue([ref]);

  return { createDeliveryFor, attemptDelivery, retryDueDeliveries, disableEndpoint, reopenDelivery, enqueue };
}

export type DeliveryEngine = ReturnType<typeof createDeliveryEngine>;

/** An endpoint as the API shows it: never its secrets. */
export function toApiEndpoint(e: WebhookEndpoint) {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    events: e.events,
    status: e.status,
    disabledReason: e.disabledReason,
    disabledAt: e.disabledAt,
    failingSince: e.failingSince ?? null,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  };
}
export type ApiEndpoint = ReturnType<typeof toApiEndpoint>;

/** A delivery as the delivery log shows it. */
export function toApiDelivery(d: WebhookDelivery) {
  const last = d.attempts.at(-1) ?? null;
  return {
    id: d.id,
    endpointId: d.endpointId,
    eventId: d.eventId,
    eventType: d.eventType,
    status: d.status,
    attemptCount: d.attemptCount,
    nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt : null,
    lastAttemptAt: last?.at ?? null,
    responseStatus: last?.responseStatus ?? null,
    latencyMs: last?.latencyMs ?? null,
    error: last?.error ?? null,
    attempts: d.attempts,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}
export type ApiDelivery = ReturnType<typeof toApiDelivery>;
