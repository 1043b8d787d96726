/**
 * Delivery attempts. One attempt: re-read the delivery, take a lease on it (a conditional write that
 * counts the attempt and moves its due time to the lease's end, so a sender that dies mid-attempt
 * is retried once the lease runs out), sign with every unexpired secret, POST through the SSRF-safe
 * sender, then record the outcome and what it means for the endpoint (410 and five days of failures
 * disable it, with a `webhook_endpoint.disabled` event in the same transaction).
 */
import { DomainError } from '#domain/errors.ts';
import type { Logger } from '#shared/log.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { Db } from '#store/db.ts';
import { outboxWrites, type DomainEvent } from '#store/events.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import { transact } from '#store/transact.ts';
import {
  createDelivery,
  getDelivery,
  listEndpointDueDeliveries,
  listLegacyDueDeliveries,
  replaceDelivery,
  type DeliveryAttempt,
  type DeliveryRef,
  type WebhookDelivery,
} from '#store/webhook-deliveries.ts';
import {
  clearEndpointFailing,
  endpointDisable,
  clearEndpointDue,
  DUE_MARK_GRACE_MS,
  getEndpoint,
  listDueEndpoints,
  markEndpointDue,
  markEndpointFailing,
  type WebhookEndpoint,
} from '#store/webhooks.ts';
import type { DeliveryQueue } from './queue.ts';
import { classifyResponse, nextAttemptAt, shouldDisableEndpoint } from './schedule.ts';
import { sendWebhook, type SendWebhookInput, type SendWebhookResult } from './send.ts';
import { signatureHeaders } from './signing.ts';
import type { ResolveHost } from './ssrf.ts';

/** How long an attempt holds a delivery: longer than the send timeout plus the writes around it. */
export const LEASE_MS = 60_000;
/** Attempts kept in a delivery's log. */
export const MAX_LOGGED_ATTEMPTS = 20;
/**
 * Due deliveries a pass of the scheduled job aims to take, shared equally by the endpoints that have
 * any (each gets `max(MIN_DUE_SHARE, DUE_BATCH / endpoints)`): an endpoint with a thousand overdue
 * deliveries takes its share and no more, so another endpoint's retries go out in the same pass.
 */
export const DUE_BATCH = 500;
export const MIN_DUE_SHARE = 10;
/** Endpoints whose due keys one pass reads at once. */
const DUE_READ_CONCURRENCY = 16;
/** A process that marked an endpoint due this recently does not write the mark again (well inside DUE_MARK_GRACE_MS). */
const DUE_MARK_REUSE_MS = 60_000;
/** A manual retry re-reads and writes again this often when the delivery changed under it. */
const REOPEN_ROUNDS = 5;
/** Retries due within this window go back on a queue that can hold them back (SQS: 15 min). */
const SHORT_RETRY_MS = 15 * 60_000;

export const ENDPOINT_DISABLED_EVENT = 'webhook_endpoint.disabled';

export type SendWebhook = (input: SendWebhookInput) => Promise<SendWebhookResult>;

/** Reported after every recorded attempt (the sender Lambda turns it into metrics). */
export interface AttemptReport {
  deliveryId: string;
  endpointId: string;
  orgId: string;
  eventType: string;
  attempt: number;
  succeeded: boolean;
  responseStatus: number | null;
  latencyMs: number;
  error: string | null;
  /** What happens next to the delivery. */
  status: WebhookDelivery['status'];
  endpointDisabled: boolean;
}

export type AttemptOutcome =
  | { kind: 'attempted'; delivery: WebhookDelivery; report: AttemptReport }
  | { kind: 'skipped'; reason: 'not_found' | 'not_pending' | 'not_due' | 'in_flight' | 'lease_lost' | 'endpoint_unavailable'; delivery: WebhookDelivery | null };

export interface DeliveryEngineDeps {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  allowedHosts: string[];
  queue: DeliveryQueue;
  logger: Logger;
  resolve?: ResolveHost | undefined;
  fetchTimeoutMs?: number | undefined;
  random?: (() => number) | undefined;
  send?: SendWebhook | undefined;
  onAttempt?: ((report: AttemptReport) => void) | undefined;
}

/** `webhook-id` of an event's delivery to an endpoint: the same however often the event is dispatched. */
export const deliveryIdFor = (eventId: string, endpointId: string): string =>
  `msg_${eventId.replace(/^evt_/, '')}_${endpointId.replace(/^whe_/, '')}`;

/** The Standard Webhooks body: `{ type, timestamp, data }`, with the whole event as `data`. */
export const deliveryPayload = (event: DomainEvent): string =>
  JSON.stringify({ type: event.type, timestamp: event.createdAt, data: event });

/** Secrets that still sign at `now`, newest first. */
export const signingSecrets = (endpoint: WebhookEndpoint, now: Date): string[] =>
  endpoint.secrets
    .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now.getTime())
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .map((s) => s.secret);

const capLog = (attempts: DeliveryAttempt[]) => attempts.slice(-MAX_LOGGED_ATTEMPTS);

export function createDeliveryEngine(deps: DeliveryEngineDeps) {
  const { db, clock, ids, logger } = deps;
  const send = deps.send ?? sendWebhook;
  const random = deps.random ?? Math.random;
  /** Endpoints this process marked due, and when (the marks it need not write again yet). */
  const markedHere = new Map<string, number>();

  /** Marks the endpoint as having pending deliveries, before one becomes pending (see store/webhooks.ts). */
  async function markDue(orgId: string, endpointId: string, at: Date): Promise<void> {
    const last = markedHere.get(endpointId);
    if (last !== undefined && at.getTime() - last >= 0 && at.getTime() - last < DUE_MARK_REUSE_MS) return;
    await markEndpointDue(db, orgId, endpointId, at);
    markedHere.set(endpointId, at.getTime());
  }

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

  /** One attempt of a due pending delivery. Never two attempts at once: the lease is a conditional write on the delivery's version. */
  async function attemptDelivery(ref: DeliveryRef): Promise<AttemptOutcome> {
    const now = clock();
    const current = await getDelivery(db, ref.endpointId, ref.deliveryId);
    if (!current) return { kind: 'skipped', reason: 'not_found', delivery: null };
    const leaseHeld = current.leasedAt !== null && current.nextAttemptAt !== null && Date.parse(current.nextAttemptAt) > now.getTime();
    if (current.status !== 'pending') return { kind: 'skipped', reason: 'not_pending', delivery: current };
    if (current.nextAttemptAt !== null && Date.parse(current.nextAttemptAt) > now.getTime()) {
      return { kind: 'skipped', reason: leaseHeld ? 'in_flight' : 'not_due', delivery: current };
    }

    const endpoint = await getEndpoint(db, current.orgId, current.endpointId);
    if (!endpoint || endpoint.status !== 'enabled') {
      const closed: WebhookDelivery = {
        ...current,
        status: 'failed',
        nextAttemptAt: null,
        leasedAt: null,
        attempts: capLog([...current.attempts, { at: now.toISOString(), responseStatus: null, latencyMs: null, error: endpoint ? 'endpoint is disabled' : 'endpoint was deleted' }]),
        updatedAt: now.toISOString(),
        version: current.version + 1,
      };
      const written = await replaceDelivery(db, current.version, closed);
      return { kind: 'skipped', reason: 'endpoint_unavailable', delivery: written ? closed : current };
    }

    const abandoned: DeliveryAttempt[] = current.leasedAt
      ? [{ at: current.leasedAt, responseStatus: null, latencyMs: null, error: 'attempt did not complete (the sender stopped before recording a result)' }]
      : [];
    const leased: WebhookDelivery = {
      ...current,
      status: 'pending',
      attemptCount: current.attemptCount + 1,
      nextAttemptAt: new Date(now.getTime() + LEASE_MS).toISOString(),
      leasedAt: now.toISOString(),
      attempts: capLog([...current.attempts, ...abandoned]),
      updatedAt: now.toISOString(),
      version: current.version + 1,
    };
    if (!(await replaceDelivery(db, current.version, leased))) return { kind: 'skipped', reason: 'lease_lost', delivery: null };

    const headers = signatureHeaders({ msgId: leased.id, timestamp: now, payload: leased.payload, secrets: signingSecrets(endpoint, now) });
    const result = await send({
      url: endpoint.url,
      headers,
      body: leased.payload,
      timeoutMs: deps.fetchTimeoutMs,
      allowedHosts: deps.allowedHosts,
      resolve: deps.resolve,
      now: clock,
    });
    return record(leased, endpoint, now, result);
  }

  async function record(leased: WebhookDelivery, endpoint: WebhookEndpoint, startedAt: Date, result: SendWebhookResult): Promise<AttemptOutcome> {
    const now = clock();
    const outcome = classifyResponse(result.status);
    const succeeded = outcome === 'success';
    const error = succeeded ? null : (result.error ?? `HTTP ${result.status}`);
    let status: WebhookDelivery['status'] = succeeded ? 'succeeded' : 'failed';
    let next: Date | null = null;
    let disableReason: string | null = null;

    if (outcome === 'disable') {
      disableReason = 'the endpoint answered 410 Gone';
    } else if (!succeeded) {
      const failingSince = endpoint.failingSince ? new Date(endpoint.failingSince) : startedAt;
      if (shouldDisableEndpoint({ failingSince, now })) {
        disableReason = `deliveries have failed since ${failingSince.toISOString()} (5 days without a success)`;
      } else {
        next = nextAttemptAt({
          attempt: leased.attemptCount,
          now,
          random,
          ...(outcome === 'retry_after' && result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
        });
        if (next) status = 'pending';
      }
    }

    const finished: WebhookDelivery = {
      ...leased,
      status,
      nextAttemptAt: next ? next.toISOString() : null,
      leasedAt: null,
      attempts: capLog([...leased.attempts, { at: startedAt.toISOString(), responseStatus: result.status, latencyMs: result.latencyMs, error }]),
      updatedAt: now.toISOString(),
      version: leased.version + 1,
    };
    const recorded = await replaceDelivery(db, leased.version, finished);
    if (!recorded) logger.warn('webhook attempt outlived its lease; its result was not recorded', { deliveryId: leased.id, status: result.status });

    if (succeeded) {
      if (endpoint.failingSince) await clearEndpointFailing(db, endpoint.orgId, endpoint.id);
    } else if (!endpoint.failingSince) {
      await markEndpointFailing(db, endpoint.orgId, endpoint.id, startedAt);
    }
    const endpointDisabled = disableReason ? await disableEndpoint(endpoint.orgId, endpoint.id, disableReason) : false;

    if (recorded && next && deps.queue.enqueueLater && next.getTime() - now.getTime() <= SHORT_RETRY_MS) {
      await deps.queue.enqueueLater({ endpointId: leased.endpointId, deliveryId: leased.id }, next.getTime() - now.getTime());
    }

    const report: AttemptReport = {
      deliveryId: leased.id,
      endpointId: leased.endpointId,
      orgId: leased.orgId,
      eventType: leased.eventType,
      attempt: leased.attemptCount,
      succeeded,
      responseStatus: result.status,
      latencyMs: result.latencyMs,
      error,
      status,
      endpointDisabled,
    };
    deps.onAttempt?.(report);
    return { kind: 'attempted', delivery: finished, report };
  }

  /**
   * One due-retry pass: reads which endpoints have pending deliveries (the `WHEDUE` shards), takes up
   * to each one's share of its due deliveries (and expired leases) from its own index key, and hands
   * them to the queue interleaved endpoint by endpoint. An endpoint with nothing pending left loses
   * its mark. Returns how many were handed over.
   */
  async function retryDueDeliveries(now: Date = clock()): Promise<number> {
    const marks = await listDueEndpoints(db);
    const share = Math.max(MIN_DUE_SHARE, Math.floor(DUE_BATCH / Math.max(1, marks.length)));
    const perEndpoint: DeliveryRef[][] = [];
    let nextMark = 0;
    const worker = async () => {
      while (nextMark < marks.length) {
        const mark = marks[nextMark++]!;
        const { due, empty } = await listEndpointDueDeliveries(db, mark.endpointId, now, share);
        if (due.length > 0) perEndpoint.push(due);
        if (empty && now.getTime() - Date.parse(mark.markedAt) > DUE_MARK_GRACE_MS) {
          if (await clearEndpointDue(db, mark)) markedHere.delete(mark.endpointId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DUE_READ_CONCURRENCY, marks.length) }, worker));
    const legacy = await listLegacyDueDeliveries(db, now, share);
    if (legacy.length > 0) perEndpoint.push(legacy);
    const refs = interleave(perEndpoint);
    if (refs.length > 0) await deps.queue.enqueue(refs);
    return refs.length;
  }

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

/** The lists' items taken in turn, one of each list per round, so no list's items all come first. */
export function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) out.push(list[i]!);
  return out;
}

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
