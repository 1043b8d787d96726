/**
 * Delivery attempts. One attempt: re-read the delivery, take a lease on it (a conditional write that
 * counts the attempt and moves its due time to the lease's end, so a sender that dies mid-attempt
 * is retried once the lease runs out), sign with every unexpired secret, POST through the SSRF-safe
 * sender, then record the outcome and what it means for the endpoint (410 and five days of failures
 * disable it, with a `webhook_endpoint.disabled` event in the same transaction).
 *
 * Here: one attempt and its outcome; deliveries.ts creates and reopens deliveries and assembles the
 * engine, due-pass.ts finds the due ones.
 */
import type { Logger } from '#shared/log.ts';
import type { Clock } from '../ids.ts';
import type { Db } from '#store/db.ts';
import { getDelivery, replaceDelivery, type DeliveryAttempt, type DeliveryRef, type WebhookDelivery } from '#store/webhook-deliveries.ts';
import { clearEndpointFailing, getEndpoint, markEndpointFailing, type WebhookEndpoint } from '#store/webhooks.ts';
import type { DeliveryQueue } from './queue.ts';
import { classifyResponse, nextAttemptAt, shouldDisableEndpoint } from './schedule.ts';
import { sendWebhook, type SendWebhookInput, type SendWebhookResult } from './send.ts';
import { signatureHeaders } from './signing.ts';
import type { ResolveHost } from './ssrf.ts';

/** How long an attempt holds a delivery: longer than the send timeout plus the writes around it. */
export const LEASE_MS = 60_000;
/** Attempts kept in a delivery's log. */
export const MAX_LOGGED_ATTEMPTS = 20;
/** Retries due within this window go back on a queue that can hold them back (SQS: 15 min). */
const SHORT_RETRY_MS = 15 * 60_000;

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

/** What an attempt needs (the engine's dependencies but its id generator). */
export interface AttemptDeps {
  db: Db;
  clock: Clock;
  allowedHosts: string[];
  queue: DeliveryQueue;
  logger: Logger;
  resolve?: ResolveHost | undefined;
  fetchTimeoutMs?: number | undefined;
  random?: (() => number) | undefined;
  send?: SendWebhook | undefined;
  onAttempt?: ((report: AttemptReport) => void) | undefined;
}

/** Secrets that still sign at `now`, newest first. */
export const signingSecrets = (endpoint: WebhookEndpoint, now: Date): string[] =>
  endpoint.secrets
    .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now.getTime())
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .map((s) => s.secret);

const capLog = (attempts: DeliveryAttempt[]) => attempts.slice(-MAX_LOGGED_ATTEMPTS);

/** Attempts of due pending deliveries; `disableEndpoint` writes an endpoint's disabling with its event (deliveries.ts). */
export function createAttempts(deps: AttemptDeps, disableEndpoint: (orgId: string, endpointId: string, reason: string) => Promise<boolean>) {
  const { db, clock, logger } = deps;
  const send = deps.send ?? sendWebhook;
  const random = deps.random ?? Math.random;

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

  return { attemptDelivery };
}
