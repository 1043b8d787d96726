/**
 * Webhook endpoints as an org admin manages them: create (secret shown once), list, get, delete,
 * rotate the secret (the old one keeps signing for 24 h), send a test event, read the delivery log
 * and retry a delivery. Another org's endpoint is simply not found.
 */
import { DomainError, notFound, type FieldError } from '#domain/errors.ts';
import type { Principal } from '#domain/principal.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { Db } from '#store/db.ts';
import type { DomainEvent } from '#store/events.ts';
import { getDelivery, listDeliveries } from '#store/webhook-deliveries.ts';
import {
  createEndpoint,
  deleteEndpoint,
  getEndpoint,
  getManualRequests,
  listAllEndpoints,
  listEndpoints,
  putManualRequests,
  replaceEndpointSecrets,
  type EndpointSecret,
  type ManualRequest,
  type WebhookEndpoint,
} from '#store/webhooks.ts';
import { LEASE_MS } from './delivery-attempt.ts';
import { deliveryIdFor, ENDPOINT_DISABLED_EVENT, toApiDelivery, toApiEndpoint, type ApiDelivery, type ApiEndpoint, type DeliveryEngine } from './deliveries.ts';
import { generateEndpointSecret } from './signing.ts';
import { checkWebhookUrl, UnsafeWebhookUrlError, type ResolveHost } from './ssrf.ts';

/** Event types an endpoint can subscribe to (`*` = all of them, and any added later). */
export const EVENT_TYPES = [
  'reservation.held',
  'reservation.confirmed',
  'reservation.extended',
  'reservation.cancelled',
  'reservation.expired',
  'reservation.started',
  'reservation.ending_soon',
  'reservation.completed',
  'reservation.stopped',
  'invoice.created',
  'invoice.paid',
  'invoice.payment_failed',
  'budget.threshold_reached',
  ENDPOINT_DISABLED_EVENT,
] as const;

/** Sent by `POST /v1/webhook-endpoints/{id}/test` to that endpoint only; not part of the event feed. */
export const TEST_EVENT = 'webhook.test';
export const ALL_EVENTS = '*';
export const MAX_ENDPOINTS_PER_ORG = 20;
/** How long a rotated-out secret keeps signing next to the new one. */
export const SECRET_OVERLAP_MS = 24 * 3600_000;
/** Rotation re-reads and retries when the endpoint changed under it (e.g. it was just disabled). */
const ROTATION_ROUNDS = 5;
/**
 * Test events and manual retries an endpoint may have outstanding (asked for, attempt not yet
 * recorded); one more answers 429 with Retry-After. Each is sent at once by the queue, so the bound
 * is reached only while the endpoint is slow to answer (a request waits for up to 15 s).
 */
export const MAX_OUTSTANDING_MANUAL = 5;
/** A manual request whose attempt was never recorded (its job was lost) stops counting after this. */
export const MANUAL_REQUEST_EXPIRY_MS = 2 * LEASE_MS;
/** Retry-After of the refusal: at most the send timeout, by which an outstanding attempt has ended. */
const MANUAL_RETRY_AFTER_MAX_S = 15;

export interface CreateEndpointInput {
  url: string;
  events: string[];
  description?: string | undefined;
}

export interface EndpointServiceDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  allowedHosts: string[];
  resolve?: ResolveHost | undefined;
  engine: DeliveryEngine;
}

const unprocessable = (errors: FieldError[]) =>
  new DomainError('unprocessable', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });

export const subscribesTo = (endpoint: Pick<WebhookEndpoint, 'events'>, type: string): boolean =>
  endpoint.events.includes(ALL_EVENTS) || endpoint.events.includes(type);

function orgOf(principal: Principal): string {
  if (principal.role !== 'customer' || !principal.orgId || principal.orgRole !== 'admin') {
    throw new DomainError('forbidden', 'Webhook endpoints are managed by org admins');
  }
  return principal.orgId;
}

function checkEventTypes(events: string[]): string[] {
  const known = new Set<string>([...EVENT_TYPES, ALL_EVENTS]);
  const errors: FieldError[] = [];
  events.forEach((type, i) => {
    if (!known.has(type)) errors.push({ path: `events[${i}]`, message: `unknown event type "${type}"; use one of ${EVENT_TYPES.join(', ')} or "*"` });
  });
  if (errors.length > 0) throw unprocessable(errors);
  const unique = [...new Set(events)];
  return unique.includes(ALL_EVENTS) ? [ALL_EVENTS] : unique;
}

export function createEndpointService(deps: EndpointServiceDeps) {
  const { db, clock, ids, engine } = deps;

  async function owned(principal: Principal, id: string): Promise<WebhookEndpoint> {
    const endpoint = await getEndpoint(db, orgOf(principal), id);
    if (!endpoint) throw notFound('Webhook endpoint', id);
    return endpoint;
  }

  function requireEnabled(endpoint: WebhookEndpoint): void {
    if (endpoint.status !== 'enabled') {
      throw new DomainError('invalid_state', `Webhook endpoint ${endpoint.id} is disabled (${endpoint.disabledReason ?? 'no reason recorded'}); register it again`);
    }
  }

  return {
    async create(principal: Principal, input: CreateEndpointInput): Promise<{ endpoint: ApiEndpoint; secret: string }> {
      const orgId = orgOf(principal);
      const events = checkEventTypes(input.events);
      let url: string;
      try {
        url = (await checkWebhookUrl(input.url, { allowedHosts: deps.allowedHosts, resolve: deps.resolve })).url.href;
      } catch (error) {
        if (error instanceof UnsafeWebhookUrlError) throw unprocessable([{ path: 'url', message: error.reason }]);
        throw error;
      }
      if ((await listAllEndpoints(db, orgId)).length >= MAX_ENDPOINTS_PER_ORG) {
        throw unprocessable([{ path: 'url', message: `an org has at most ${MAX_ENDPOINTS_PER_ORG} webhook endpoints; delete one first` }]);
      }
      const now = clock().toISOString();
      const secret = generateEndpointSecret();
      const endpoint: WebhookEndpoint = {
        id: ids.next('whe'),
        orgId,
        url,
        description: input.description ?? null,
        events,
        secrets: [{ secret, createdAt: now, expiresAt: null }],
        status: 'enabled',
        disabledReason: null,
        disabledAt: null,
        createdAt: now,
        updatedAt: now,
        version: 1,
      };
      await createEndpoint(db, endpoint);
      return { endpoint: toApiEndpoint(endpoint), secret };
    },

    async list(principal: Principal, page: { limit: number; cursor?: string | undefined }): Promise<{ data: ApiEndpoint[]; nextCursor: string | null }> {
      const res = await listEndpoints(db, orgOf(principal), page);
      return { data: res.data.map(toApiEndpoint), nextCursor: res.nextCursor };
    },

    async get(principal: Principal, id: string): Promise<ApiEndpoint> {
      return toApiEndpoint(await owned(principal, id));
    },

    async remove(principal: Principal, id: string): Promise<void> {
      if (!(await deleteEndpoint(db, orgOf(principal), id))) throw notFound('Webhook endpoint', id);
    },

    /** New secret, shown once; the previous ones keep signing until `previousSecretExpiresAt`. */
    async rotateSecret(principal: Principal, id: string): Promise<{ endpoint: ApiEndpoint; secret: string; previousSecretExpiresAt: string }> {
      const orgId = orgOf(principal);
      for (let round = 0; round < ROTATION_ROUNDS; round++) {
        const endpoint = await getEndpoint(db, orgId, id);
        if (!endpoint) throw notFound('Webhook endpoint', id);
        const now = clock();
        const overlapEnds = new Date(now.getTime() + SECRET_OVERLAP_MS).toISOString();
        const secret = generateEndpointSecret();
        const kept: EndpointSecret[] = endpoint.secrets
          .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now.getTime())
          .map((s) => ({ ...s, expiresAt: s.expiresAt ?? overlapEnds }));
        const secrets = [...kept, { secret, createdAt: now.toISOString(), expiresAt: null }];
        if (await replaceEndpointSecrets(db, endpoint, secrets, now)) {
          const rotated = { ...endpoint, secrets, updatedAt: now.toISOString(), version: endpoint.version + 1 };
          return { endpoint: toApiEndpoint(rotated), secret, previousSecretExpiresAt: overlapEnds };
        }
      }
      throw new DomainError('contention', `Webhook endpoint ${id} is changing; retry the rotation`, { retryAfterSeconds: 1 });
    },

    /**
     * Queues a `webhook.test` event for this endpoint only and returns its delivery, pending: the
     * attempt runs after the answer (the delivery log shows its outcome).
     */
    async sendTest(principal: Principal, id: string): Promise<ApiDelivery> {
      const endpoint = await owned(principal, id);
      requireEnabled(endpoint);
      const now = clock().toISOString();
      const event: DomainEvent = {
        id: ids.next('evt'),
        type: TEST_EVENT,
        createdAt: now,
        orgId: endpoint.orgId,
        sequence: 0,
        data: { endpointId: endpoint.id, message: 'This is a test event from GPU Market.' },
      };
      const deliveryId = deliveryIdFor(event.id, endpoint.id);
      await claimManualSlot(endpoint, deliveryId);
      const { ref } = await engine.createDeliveryFor(event, endpoint);
      const delivery = await getDelivery(db, ref.endpointId, ref.deliveryId);
      if (!delivery) throw notFound('Delivery', ref.deliveryId);
      await engine.enqueue(ref);
      return toApiDelivery(delivery);
    },

    async listDeliveries(principal: Principal, id: string, page: { limit: number; cursor?: string | undefined }): Promise<{ data: ApiDelivery[]; nextCursor: string | null }> {
      const endpoint = await owned(principal, id);
      const res = await listDeliveries(db, endpoint.id, page);
      return { data: res.data.map(toApiDelivery), nextCursor: res.nextCursor };
    },

    /**
     * Queues another attempt of a delivery, whatever its state (a failed one is reopened), and returns
     * it, pending: the attempt runs after the answer, with the same `webhook-id`.
     */
    async retryDelivery(principal: Principal, id: string, deliveryId: string): Promise<ApiDelivery> {
      const endpoint = await owned(principal, id);
      if (!(await getDelivery(db, endpoint.id, deliveryId))) throw notFound('Delivery', deliveryId);
      requireEnabled(endpoint);
      await claimManualSlot(endpoint, deliveryId);
      const ref = { endpointId: endpoint.id, deliveryId };
      const reopened = await engine.reopenDelivery(ref);
      if (reopened.kind !== 'reopened') {
        if (reopened.kind === 'not_found') throw notFound('Delivery', deliveryId);
        throw new DomainError('invalid_state', `Delivery ${deliveryId} is being attempted right now; look again in a minute`);
      }
      await engine.enqueue(ref);
      return toApiDelivery(reopened.delivery);
    },
  };

  /** Whether a manual request still counts: its attempt not yet recorded, and not expired. */
  async function outstanding(endpointId: string, request: ManualRequest, now: Date): Promise<boolean> {
    if (now.getTime() - Date.parse(request.requestedAt) >= MANUAL_REQUEST_EXPIRY_MS) return false;
    const d = await getDelivery(db, endpointId, request.deliveryId);
    // A test delivery is created just after its request is counted: missing for longer, it never was.
    if (!d) return now.getTime() - Date.parse(request.requestedAt) < 5_000;
    return d.leasedAt !== null || !d.attempts.some((a) => a.at >= request.requestedAt);
  }

  /**
   * Counts a test or retry against the endpoint's bound (MAX_OUTSTANDING_MANUAL outstanding), or
   * refuses it with 429 and Retry-After. The list lives on the endpoint item, written conditioned on
   * the version read, so concurrent requests cannot all slip under the bound.
   */
  async function claimManualSlot(endpoint: WebhookEndpoint, deliveryId: string): Promise<void> {
    for (let round = 0; round < ROTATION_ROUNDS; round++) {
      const now = clock();
      const current = await getManualRequests(db, endpoint.orgId, endpoint.id);
      if (!current) throw notFound('Webhook endpoint', endpoint.id);
      const checks = await Promise.all(current.requests.map((r) => outstanding(endpoint.id, r, now)));
      const live = current.requests.filter((_, i) => checks[i]);
      if (live.length >= MAX_OUTSTANDING_MANUAL) {
        const oldest = Math.min(...live.map((r) => Date.parse(r.requestedAt)));
        const expiresIn = Math.ceil((oldest + MANUAL_REQUEST_EXPIRY_MS - now.getTime()) / 1000);
        throw new DomainError(
          'rate_limited',
          `Webhook endpoint ${endpoint.id} has ${live.length} test events or retries waiting for their attempt (at most ${MAX_OUTSTANDING_MANUAL}); look at the delivery log and try again shortly`,
          { retryAfterSeconds: Math.max(1, Math.min(MANUAL_RETRY_AFTER_MAX_S, expiresIn)) },
        );
      }
      if (await putManualRequests(db, endpoint.orgId, endpoint.id, current.version, [...live, { deliveryId, requestedAt: now.toISOString() }])) return;
    }
    throw new DomainError('contention', `Webhook endpoint ${endpoint.id} is busy; retry the request`, { retryAfterSeconds: 1 });
  }
}

export type EndpointService = ReturnType<typeof createEndpointService>;
