/**
 * The API with billing wired in, against DynamoDB Local and (unless `stripe: false`) the Stripe
 * stand-in through the real `stripe` SDK. Helpers to book, pay, sign Stripe events and read CSV.
 */
import { expect } from 'vitest';
import type { BillingGateway } from '../../shared/billing/gateway.ts';
import { createLocalGateway } from '../../shared/billing/local-gateway.ts';
import { createBillingService, type BillingService, type BillingServiceDeps } from '../../shared/billing/service.ts';
import { createStripeGateway, type StripeGatewayConfig } from '../../shared/billing/stripe-gateway.ts';
import type { Org } from '../../shared/domain/principal.ts';
import { silentLogger } from '../../shared/log.ts';
import { billingModule } from '../../shared/http/modules.ts';
import { meteringModule } from '../../shared/http/modules.ts';
import type { BillingEffect, ReservationBilling } from '../../shared/services/booking.ts';
import { generateApiKey, putApiKey, putOrg } from '../../shared/store/orgs.ts';
import { createTestContext, hoursFrom, type TestContext } from '../support/app.ts';
import { signStripeEvent, startStripeStandIn, type StripeStandIn } from '../support/stripe-stand-in.ts';

export const WEBHOOK_SECRET = 'whsec_billing_tests';
export const VALENCE = 'valence-rovaltain';
export const H100 = 'h100-sxm-80gb';

export interface BillingTest {
  t: TestContext;
  service: BillingService;
  gateway: BillingGateway;
  standIn: StripeStandIn | null;
  /** While true, every booking's after-commit step throws: the process "crashes" between our commit and Stripe. */
  crash: { afterCommit: boolean };
  close(): Promise<void>;
}

export interface BillingTestOptions {
  /** false: no Stripe (local gateway). Otherwise gateway settings over the test defaults. */
  stripe?: false | Partial<StripeGatewayConfig>;
  start?: string;
  service?: Partial<Omit<BillingServiceDeps, 'db' | 'clock' | 'ids' | 'gateway' | 'logger'>>;
}

export async function createBillingTest(options: BillingTestOptions = {}): Promise<BillingTest> {
  const standIn = options.stripe === false ? null : await startStripeStandIn();
  let built: BillingService | undefined;
  const service = (): BillingService => {
    if (!built) throw new Error('the billing service is built after the test context');
    return built;
  };
  const crash = { afterCommit: false };
  const crashing = (effect: BillingEffect): BillingEffect =>
    crash.afterCommit && effect.afterCommit
      ? {
          ...effect,
          afterCommit: async () => {
            throw new Error('the process crashed after the commit (injected)');
          },
        }
      : effect;
  const billing: ReservationBilling = {
    onConfirm: async (...a) => crashing(await service().reservationBilling.onConfirm(...a)),
    onExtend: async (...a) => crashing(await service().reservationBilling.onExtend(...a)),
    onCancel: async (...a) => crashing(await service().reservationBilling.onCancel(...a)),
  };
  // The routes reach the service at request time, once it exists.
  const t = await createTestContext({
    reservationBilling: billing,
    late: { billing: service },
    modules: [billingModule, meteringModule],
    ...(options.start ? { start: options.start } : {}),
  });
  const gateway =
    standIn === null
      ? createLocalGateway()
      : createStripeGateway({
          secretKey: 'sk_test_billing',
          webhookSecret: WEBHOOK_SECRET,
          apiUrl: standIn.url,
          maxNetworkRetries: 2,
          timeoutMs: 2_000,
          rateLimitRetryDelayMs: 5,
          now: t.clock,
          ...(options.stripe ?? {}),
        });
  built = createBillingService({ db: t.deps.db, clock: t.clock, ids: t.deps.ids, gateway, logger: silentLogger, catalog: t.deps.catalog, ...options.service });
  return {
    t,
    service: built,
    gateway,
    standIn,
    crash,
    async close() {
      await standIn?.close();
      await t.close();
    },
  };
}

let orgCounter = 0;

/** A new customer org (admin key) — e.g. outside the EU. */
export async function addOrg(t: TestContext, org: Partial<Org> & Pick<Org, 'country'>): Promise<{ org: Org; key: string }> {
  orgCounter += 1;
  const full: Org = {
    id: `org_test_${process.pid}_${orgCounter}`,
    name: `Test Org ${orgCounter}`,
    vatNumber: null,
    billingEmail: `billing-${orgCounter}@test.example`,
    stripeCustomerId: null,
    createdAt: t.clock().toISOString(),
    ...org,
  };
  await putOrg(t.db, full);
  const key = generateApiKey('customer');
  await putApiKey(t.db, key, { keyId: `key_${full.id}`, role: 'customer', orgId: full.id, orgRole: 'admin', siteId: null }, t.clock());
  return { org: full, key };
}

export interface Booking {
  id: string;
  status: string;
  invoiceId: string | null;
  price: { amount: number; currency: 'EUR' };
  start: string;
  end: string;
  quote: { id: string; total: { amount: number }; lines: { description: string; amount: { amount: number } }[] };
  confirmStatus: number;
}

/** Quote, hold and (unless `confirm: false`) confirm `hours` hours of `gpus` GPUs starting `startIn` hours from the clock. */
export async function book(
  t: TestContext,
  key: string,
  options: { startIn?: number; hours?: number; gpus?: number; confirm?: boolean; expectConfirm?: number } = {},
): Promise<Booking> {
  const startIn = options.startIn ?? 24;
  const quote = await t.call('POST', '/v1/quotes', {
    key,
    body: { site: VALENCE, gpuType: H100, gpus: options.gpus ?? 8, start: hoursFrom(t.clock, startIn), end: hoursFrom(t.clock, startIn + (options.hours ?? 3)) },
  });
  expect(quote.status, JSON.stringify(quote.body)).toBe(201);
  const held = await t.call('POST', '/v1/reservations', { key, body: { quoteId: quote.body.id } });
  expect(held.status, JSON.stringify(held.body)).toBe(201);
  if (options.confirm === false) return { ...held.body, quote: quote.body, confirmStatus: 0 };
  const confirmed = await t.call('POST', `/v1/reservations/${held.body.id}/confirm`, { key });
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(options.expectConfirm ?? 200);
  const r = confirmed.status === 200 ? confirmed.body : (await t.call('GET', `/v1/reservations/${held.body.id}`, { key })).body;
  return { ...r, quote: quote.body, confirmStatus: confirmed.status };
}

export async function invoice(t: TestContext, id: string, key: string = t.keys.finance) {
  const res = await t.call('GET', `/v1/invoices/${id}`, { key });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** The stand-in's invoices for one of ours. */
export const stripeInvoicesFor = (standIn: StripeStandIn, invoiceId: string) =>
  standIn.invoices().filter((i) => (i.metadata as Record<string, string>).invoiceId === invoiceId) as unknown as {
    id: string;
    status: string;
    subtotal: number;
    total: number;
    footer: string | null;
    customer: string;
    lines: { data: { amount: number; description: string; taxes?: { amount: number }[] }[] };
  }[];

/** A Stripe event around `object`, signed as Stripe would (timestamp from the test clock unless given). */
export function stripeEvent(t: TestContext, type: string, object: object, options: { id?: string; timestamp?: number; secret?: string } = {}) {
  const timestamp = options.timestamp ?? Math.floor(t.clock().getTime() / 1000);
  const payload = {
    id: options.id ?? `evt_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`,
    object: 'event',
    api_version: '2025-01-01',
    created: timestamp,
    livemode: false,
    type,
    data: { object },
  };
  return { id: payload.id, ...signStripeEvent(payload, options.secret ?? WEBHOOK_SECRET, { timestamp }) };
}

export async function postStripeEvent(t: TestContext, signed: { body: string; header: string }, headers: Record<string, string> = {}) {
  return t.call('POST', '/v1/stripe/webhook', { key: null, rawBody: signed.body, headers: { 'content-type': 'application/json', 'stripe-signature': signed.header, ...headers } });
}

/** The org's events of one type, through the API. */
export async function eventsOfType(t: TestContext, key: string, type: string) {
  const res = await t.call('GET', '/v1/events?after=0&limit=200', { key });
  expect(res.status).toBe(200);
  return (res.body.data as { type: string; data: Record<string, unknown> }[]).filter((e) => e.type === type);
}

/** RFC 4180: quoted fields, doubled quotes, CRLF or LF rows. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
