/**
 * A Stripe stand-in for tests: a node:http server speaking the slice of Stripe's v1 API that
 * shared/billing/stripe-gateway.ts uses, so the real `stripe` SDK can be pointed at it
 * (`host`/`port`/`protocol`). What it holds to, like Stripe:
 * - form-encoded bodies (`a[b][0]=v`), JSON objects shaped like Stripe's (`cus_`, `txr_`, `in_`, `ii_`, `cn_`, `re_` ids),
 *   lists newest first with `has_more` and `starting_after`;
 * - unknown or missing parameters answer 400 before anything runs (nothing saved under the key);
 * - `Idempotency-Key` on POST: the first answer of an executed request (success or error) is saved;
 *   the same key with the same parameters replays it (`Idempotent-Replayed: true`), the same key with
 *   other parameters or on another endpoint answers 400 `idempotency_error`;
 * - invoice totals from its lines, tax per line and per rate rounded half away from zero, or the tax
 *   amounts set on a line by hand (`update_lines` with `tax_amounts`, archived rates from `tax_rate_data`);
 * - `pending_invoice_items_behavior` (default `include` sweeps the customer's pending items in);
 * - credit notes reduce what is due first, the rest must be refunded, credited or marked out of band.
 * Faults (`failNext`) model what the network and Stripe can do to a caller; see FaultSpec.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/** What a fault sees of a request, to pick the one it hits (e.g. by idempotency key). */
export interface RequestView {
  method: string;
  path: string;
  idempotencyKey: string | null;
  body: Record<string, unknown>;
}

export interface RecordedRequest extends RequestView {
  query: Record<string, unknown>;
  /** Status answered; null when no answer was sent (a `timeout` fault). */
  status: number | null;
  /** The saved answer of an earlier request with this key was sent again. */
  replayed: boolean;
  fault: FaultKind | null;
}

export type FaultKind = 'status_500' | 'status_429' | 'timeout' | 'commit_then_fail';

/**
 * - `status: 500 | 429`: answered before the operation runs, nothing performed and nothing saved
 *   under the key (an overloaded front end, a rate limiter);
 * - `mode: 'timeout'`: the operation runs and its answer is saved under the key, but the response is
 *   never sent: the caller times out not knowing it happened;
 * - `mode: 'commit_then_fail'`: the operation runs and its answer is saved under the key, then a 500
 *   is sent instead: a crash between Stripe's write and our reading of its answer.
 * `count` consecutive matching requests are hit; `match` (default: every request) picks them.
 */
export type FaultSpec = (
  | { count: number; status: 500 | 429 }
  | { count: number; mode: 'timeout' }
  | { count: number; mode: 'commit_then_fail' }
) & { match?: (request: RequestView) => boolean };

type StripeObject = Record<string, unknown> & { id: string };

export interface StripeStandIn {
  host: string;
  port: number;
  protocol: 'http';
  url: string;
  /** Every request received, in order, faults and replays included. */
  requests: RecordedRequest[];
  failNext(fault: FaultSpec): void;
  /**
   * From now on, Stripe keeps each line's tax amount `cents` away from what it was sent (a Stripe
   * account whose tax settings change what it charges): for tests of the totals check.
   */
  skewTaxes(cents: number): void;
  customers(): StripeObject[];
  taxRates(): StripeObject[];
  invoiceItems(): StripeObject[];
  invoices(): StripeObject[];
  creditNotes(): StripeObject[];
  refunds(): StripeObject[];
  /** The customer pays an open invoice in full (as on the hosted page). */
  markPaid(invoiceId: string): StripeObject;
  close(): Promise<void>;
}

class StandInError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    /** False for errors raised before the endpoint runs: Stripe saves nothing under the key for them. */
    readonly executed: boolean,
    readonly param?: string,
  ) {
    super(message);
  }
}

const invalidParams = (message: string, param?: string) => new StandInError(400, 'invalid_request_error', message, false, param);
const invalidRequest = (message: string, param?: string) => new StandInError(400, 'invalid_request_error', message, true, param);
const notFound = (what: string, id: string, param?: string) => new StandInError(404, 'invalid_request_error', `No such ${what}: '${id}'`, false, param);

/** `a[b][0][c]=v&…` → nested objects and arrays, every leaf a string, as Stripe's form decoding reads it. */
export function parseStripeForm(raw: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  const decode = (text: string) => decodeURIComponent(text.replace(/\+/g, ' '));
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const key = decode(equals < 0 ? pair : pair.slice(0, equals));
    const value = equals < 0 ? '' : decode(pair.slice(equals + 1));
    const head = key.split('[', 1)[0] ?? key;
    const segments = [head, ...[...key.slice(head.length).matchAll(/\[([^\]]*)\]/g)].map((m) => m[1] ?? '')];
    let node = root;
    segments.forEach((segment, index) => {
      if (index === segments.length - 1) {
        node[segment] = value;
        return;
      }
      const next = node[segment];
      if (typeof next !== 'object' || next === null) node[segment] = {};
      node = node[segment] as Record<string, unknown>;
    });
  }
  return arraysFromIndexedObjects(root) as Record<string, unknown>;
}

function arraysFromIndexedObjects(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, arraysFromIndexedObjects(v)] as const);
  const indexed = entries.length > 0 && entries.every(([k]) => /^\d+$/.test(k));
  if (!indexed) return Object.fromEntries(entries);
  return [...entries].sort(([a], [b]) => Number(a) - Number(b)).map(([, v]) => v);
}

/** Parameters compared regardless of key order, as Stripe compares them. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const now = () => Math.floor(Date.now() / 1000);
const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;

/** Tax on one line: amount × bps / 10 000, rounded half away from zero, in integers. */
export function lineTax(amount: number, rateBps: number): number {
  const magnitude = Math.floor((Math.abs(amount) * rateBps + 5_000) / 10_000);
  return amount < 0 ? -magnitude : magnitude;
}

// ---- parameter readers (everything arrives as strings) ----

function checkParams(params: Record<string, unknown>, allowed: readonly string[], required: readonly string[] = []): void {
  for (const key of Object.keys(params)) {
    if (key !== 'expand' && !allowed.includes(key)) throw invalidParams(`Received unknown parameter: ${key}`, key);
  }
  for (const key of required) {
    if (params[key] === undefined || params[key] === '') throw invalidParams(`Missing required param: ${key}.`, key);
  }
}

function text(params: Record<string, unknown>, key: string): string | undefined {
  const value = params[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidParams(`Invalid string: ${key}`, key);
  return value;
}

function integer(params: Record<string, unknown>, key: string): number | undefined {
  const value = text(params, key);
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw invalidParams(`Invalid integer: ${value}`, key);
  return Number(value);
}

function boolean(params: Record<string, unknown>, key: string): boolean | undefined {
  const value = text(params, key);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw invalidParams(`Invalid boolean: ${value}`, key);
  return value === 'true';
}

function metadata(params: Record<string, unknown>): Record<string, string> {
  const value = params.metadata;
  if (value === undefined || value === '') return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidParams('Invalid hash', 'metadata');
  for (const [k, v] of Object.entries(value)) if (typeof v !== 'string') throw invalidParams(`Invalid metadata value for ${k}`, 'metadata');
  return value as Record<string, string>;
}

function stringList(params: Record<string, unknown>, key: string): string[] {
  const value = params[key];
  if (value === undefined || value === '') return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalidParams(`Invalid array`, key);
  return value;
}

function oneOf<T extends string>(params: Record<string, unknown>, key: string, values: readonly T[]): T | undefined {
  const value = text(params, key);
  if (value === undefined) return undefined;
  if (!(values as readonly string[]).includes(value)) throw invalidParams(`Invalid ${key}: must be one of ${values.join(', ')}`, key);
  return value as T;
}

// ---- state ----

interface TaxRateState {
  id: string;
  created: number;
  displayName: string;
  description: string | null;
  percentage: number;
  rateBps: number;
  inclusive: boolean;
  active: boolean;
  country: string | null;
  jurisdiction: string | null;
  taxType: string | null;
  metadata: Record<string, string>;
}

interface CustomerState {
  id: string;
  created: number;
  name: string | null;
  email: string | null;
  country: string | null;
  taxExempt: string;
  taxIds: { type: string; value: string }[];
  metadata: Record<string, string>;
  balance: number;
}

interface InvoiceItemState {
  id: string;
  created: number;
  customer: string;
  invoice: string | null;
  amount: number;
  currency: string;
  description: string | null;
  taxRates: string[];
  /** Tax amounts set on the line by hand (`update_lines` with `tax_amounts`): they replace the rates' computation. */
  manualTaxes: { rateId: string; amount: number; taxable: number }[] | null;
  metadata: Record<string, string>;
}

interface InvoiceState {
  id: string;
  created: number;
  customer: string;
  currency: string;
  status: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';
  collectionMethod: string;
  daysUntilDue: number | null;
  autoAdvance: boolean;
  defaultTaxRates: string[];
  footer: string | null;
  description: string | null;
  metadata: Record<string, string>;
  items: string[];
  number: string | null;
  finalizedAt: number | null;
  voidedAt: number | null;
  paidAt: number | null;
  amountPaid: number;
  prePaymentCredits: number;
  postPaymentCredits: number;
  refunded: number;
  charge: string | null;
}

interface CreditNoteState {
  id: string;
  created: number;
  invoice: string;
  customer: string;
  currency: string;
  amount: number;
  prePayment: number;
  postPayment: number;
  creditAmount: number;
  outOfBandAmount: number;
  refund: { id: string; amount: number } | null;
  memo: string | null;
  reason: string | null;
  number: string;
  metadata: Record<string, string>;
}

interface RefundState {
  id: string;
  created: number;
  amount: number;
  charge: string;
  currency: string;
}

interface Reply {
  status: number;
  body: unknown;
}

interface SavedReply extends Reply {
  method: string;
  path: string;
  params: string;
}

export async function startStripeStandIn(): Promise<StripeStandIn> {
  const taxRates = new Map<string, TaxRateState>();
  const customers = new Map<string, CustomerState>();
  const items = new Map<string, InvoiceItemState>();
  const invoices = new Map<string, InvoiceState>();
  const creditNotes = new Map<string, CreditNoteState>();
  const refunds = new Map<string, RefundState>();
  const saved = new Map<string, SavedReply>();
  const requests: RecordedRequest[] = [];
  const faults: (FaultSpec & { remaining: number })[] = [];
  let invoiceSequence = 0;
  let creditNoteSequence = 0;
  let baseUrl = '';

  // ---- rendering, shaped like Stripe's objects ----

  const renderTaxRate = (rate: TaxRateState) => ({
    id: rate.id,
    object: 'tax_rate',
    active: rate.active,
    country: rate.country,
    created: rate.created,
    description: rate.description,
    display_name: rate.displayName,
    effective_percentage: rate.percentage,
    inclusive: rate.inclusive,
    jurisdiction: rate.jurisdiction,
    livemode: false,
    metadata: rate.metadata,
    percentage: rate.percentage,
    state: null,
    tax_type: rate.taxType,
  });

  const renderCustomer = (customer: CustomerState) => ({
    id: customer.id,
    object: 'customer',
    address: customer.country === null ? null : { city: null, country: customer.country, line1: null, line2: null, postal_code: null, state: null },
    balance: customer.balance,
    created: customer.created,
    currency: null,
    email: customer.email,
    invoice_prefix: customer.id.slice(4, 12).toUpperCase(),
    livemode: false,
    metadata: customer.metadata,
    name: customer.name,
    tax_exempt: customer.taxExempt,
  });

  const renderItem = (item: InvoiceItemState) => ({
    id: item.id,
    object: 'invoiceitem',
    amount: item.amount,
    currency: item.currency,
    customer: item.customer,
    date: item.created,
    description: item.description,
    invoice: item.invoice,
    livemode: false,
    metadata: item.metadata,
    quantity: 1,
    tax_rates: item.taxRates.map((id) => renderTaxRate(taxRates.get(id)!)),
  });

  /** Amounts of an invoice from its items: per line, per rate, tax rounded on the line. */
  function invoiceAmounts(invoice: InvoiceState) {
    const lines = invoice.items.map((id) => {
      const item = items.get(id)!;
      const rates = item.taxRates.length > 0 ? item.taxRates : invoice.defaultTaxRates;
      const taxes = item.manualTaxes
        ? item.manualTaxes.map((t) => ({ rate: taxRates.get(t.rateId)!, amount: t.amount }))
        : rates.map((rateId) => ({ rate: taxRates.get(rateId)!, amount: lineTax(item.amount, taxRates.get(rateId)!.rateBps) }));
      return { item, taxes };
    });
    const subtotal = lines.reduce((sum, line) => sum + line.item.amount, 0);
    const byRate = new Map<string, { amount: number; taxable: number }>();
    for (const line of lines) {
      for (const tax of line.taxes) {
        const entry = byRate.get(tax.rate.id) ?? { amount: 0, taxable: 0 };
        byRate.set(tax.rate.id, { amount: entry.amount + tax.amount, taxable: entry.taxable + line.item.amount });
      }
    }
    const tax = [...byRate.values()].reduce((sum, entry) => sum + entry.amount, 0);
    const total = subtotal + tax;
    const amountDue = Math.max(0, total - invoice.prePaymentCredits);
    return { lines, subtotal, byRate, tax, total, amountDue, amountRemaining: invoice.status === 'void' ? 0 : Math.max(0, amountDue - invoice.amountPaid) };
  }

  const taxEntry = (rateId: string, amount: number, taxable: number) => ({
    amount,
    tax_behavior: 'exclusive',
    tax_rate_details: { tax_rate: rateId },
    taxability_reason: 'standard_rated',
    taxable_amount: taxable,
    type: 'tax_rate_details',
  });

  function renderInvoice(invoice: InvoiceState) {
    const amounts = invoiceAmounts(invoice);
    const lines = amounts.lines.map(({ item, taxes }) => ({
      id: lineIdOf(item),
      object: 'line_item',
      amount: item.amount,
      currency: item.currency,
      description: item.description,
      invoice: invoice.id,
      livemode: false,
      metadata: item.metadata,
      parent: { type: 'invoice_item_details', invoice_item_details: { invoice: invoice.id, invoice_item: item.id, proration: false } },
      period: { start: item.created, end: item.created },
      quantity: 1,
      subtotal: item.amount,
      taxes: taxes.map((tax) => taxEntry(tax.rate.id, tax.amount, item.amount)),
    }));
    const finalized = invoice.status !== 'draft';
    return {
      id: invoice.id,
      object: 'invoice',
      amount_due: amounts.amountDue,
      amount_paid: invoice.amountPaid,
      amount_remaining: amounts.amountRemaining,
      auto_advance: invoice.autoAdvance,
      collection_method: invoice.collectionMethod,
      created: invoice.created,
      currency: invoice.currency,
      customer: invoice.customer,
      customer_tax_exempt: customers.get(invoice.customer)?.taxExempt ?? null,
      days_until_due: invoice.daysUntilDue,
      default_tax_rates: invoice.defaultTaxRates.map((id) => renderTaxRate(taxRates.get(id)!)),
      description: invoice.description,
      footer: invoice.footer,
      hosted_invoice_url: finalized ? `${baseUrl}/hosted/invoices/${invoice.id}` : null,
      invoice_pdf: finalized ? `${baseUrl}/hosted/invoices/${invoice.id}/pdf` : null,
      lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${invoice.id}/lines` },
      livemode: false,
      metadata: invoice.metadata,
      number: invoice.number,
      post_payment_credit_notes_amount: invoice.postPaymentCredits,
      pre_payment_credit_notes_amount: invoice.prePaymentCredits,
      status: invoice.status,
      status_transitions: { finalized_at: invoice.finalizedAt, paid_at: invoice.paidAt, voided_at: invoice.voidedAt, marked_uncollectible_at: null },
      subtotal: amounts.subtotal,
      subtotal_excluding_tax: amounts.subtotal,
      total: amounts.total,
      total_excluding_tax: amounts.subtotal,
      total_taxes: [...amounts.byRate].map(([rateId, entry]) => taxEntry(rateId, entry.amount, entry.taxable)),
    };
  }

  const renderRefund = (refund: RefundState) => ({
    id: refund.id,
    object: 'refund',
    amount: refund.amount,
    charge: refund.charge,
    created: refund.created,
    currency: refund.currency,
    status: 'succeeded',
  });

  const renderCreditNote = (note: CreditNoteState) => ({
    id: note.id,
    object: 'credit_note',
    amount: note.amount,
    created: note.created,
    currency: note.currency,
    customer: note.customer,
    customer_balance_transaction: note.creditAmount > 0 ? `cbtxn_${note.id.slice(3)}` : null,
    invoice: note.invoice,
    livemode: false,
    memo: note.memo,
    metadata: note.metadata,
    number: note.number,
    out_of_band_amount: note.outOfBandAmount > 0 ? note.outOfBandAmount : null,
    pdf: `${baseUrl}/hosted/credit_notes/${note.id}/pdf`,
    post_payment_amount: note.postPayment,
    pre_payment_amount: note.prePayment,
    reason: note.reason,
    refunds: note.refund ? [{ amount_refunded: note.refund.amount, refund: note.refund.id, type: 'refund', payment_record_refund: null }] : [],
    status: 'issued',
    total: note.amount,
    type: note.postPayment === 0 ? 'pre_payment' : note.prePayment === 0 ? 'post_payment' : 'mixed',
    voided_at: null,
  });

  function list<T>(all: T[], render: (item: T) => StripeObject, query: Record<string, unknown>, path: string) {
    const limit = integer(query, 'limit') ?? 10;
    if (limit < 1 || limit > 100) throw invalidParams('limit must be between 1 and 100', 'limit');
    let rendered = all.map(render).reverse();
    const startingAfter = text(query, 'starting_after');
    if (startingAfter !== undefined) rendered = rendered.slice(rendered.findIndex((o) => o.id === startingAfter) + 1);
    return { object: 'list', data: rendered.slice(0, limit), has_more: rendered.length > limit, url: path };
  }

  // ---- endpoints ----

  function createCustomer(params: Record<string, unknown>) {
    checkParams(params, ['name', 'email', 'address', 'tax_exempt', 'tax_id_data', 'metadata', 'description', 'phone', 'preferred_locales']);
    const taxExempt = oneOf(params, 'tax_exempt', ['none', 'exempt', 'reverse'] as const) ?? 'none';
    const address = params.address;
    const country = typeof address === 'object' && address !== null ? text(address as Record<string, unknown>, 'country') ?? null : null;
    const taxIdData = params.tax_id_data === undefined ? [] : (params.tax_id_data as unknown[]);
    const taxIds = taxIdData.map((datum, index) => {
      const entry = datum as Record<string, unknown>;
      const type = text(entry, 'type');
      const value = text(entry, 'value');
      if (type === undefined || value === undefined) throw invalidParams('Missing required param: tax_id_data[].type/value', `tax_id_data[${index}]`);
      if (type === 'eu_vat' && !/^[A-Z]{2}[0-9A-Z+*]{2,13}$/.test(value)) throw invalidParams('Invalid value for eu_vat.', `tax_id_data[${index}][value]`);
      return { type, value };
    });
    const customer: CustomerState = {
      id: newId('cus'),
      created: now(),
      name: text(params, 'name') ?? null,
      email: text(params, 'email') ?? null,
      country,
      taxExempt,
      taxIds,
      metadata: metadata(params),
      balance: 0,
    };
    customers.set(customer.id, customer);
    return renderCustomer(customer);
  }

  function createTaxRate(params: Record<string, unknown>) {
    checkParams(
      params,
      ['display_name', 'inclusive', 'percentage', 'active', 'country', 'description', 'jurisdiction', 'metadata', 'state', 'tax_type'],
      ['display_name', 'inclusive', 'percentage'],
    );
    const percentage = Number(text(params, 'percentage'));
    if (!Number.isFinite(percentage) || percentage < 0 || percentage > 100) throw invalidParams('Invalid percentage', 'percentage');
    const rate: TaxRateState = {
      id: newId('txr'),
      created: now(),
      displayName: text(params, 'display_name')!,
      description: text(params, 'description') ?? null,
      percentage,
      rateBps: Math.round(percentage * 100),
      inclusive: boolean(params, 'inclusive')!,
      active: boolean(params, 'active') ?? true,
      country: text(params, 'country') ?? null,
      jurisdiction: text(params, 'jurisdiction') ?? null,
      taxType: text(params, 'tax_type') ?? null,
      metadata: metadata(params),
    };
    if (rate.inclusive) throw invalidParams('The stand-in models exclusive tax rates only', 'inclusive');
    taxRates.set(rate.id, rate);
    return renderTaxRate(rate);
  }

  function existingTaxRates(params: Record<string, unknown>, key: string): string[] {
    const ids = stringList(params, key);
    for (const id of ids) if (!taxRates.has(id)) throw notFound('tax_rate', id, key);
    return ids;
  }

  function createInvoice(params: Record<string, unknown>) {
    checkParams(
      params,
      ['customer', 'currency', 'collection_method', 'days_until_due', 'due_date', 'auto_advance', 'pending_invoice_items_behavior', 'default_tax_rates', 'footer', 'description', 'metadata'],
      ['customer'],
    );
    const customerId = text(params, 'customer')!;
    if (!customers.has(customerId)) throw notFound('customer', customerId, 'customer');
    const collectionMethod = oneOf(params, 'collection_method', ['charge_automatically', 'send_invoice'] as const) ?? 'charge_automatically';
    const daysUntilDue = integer(params, 'days_until_due') ?? null;
    if (collectionMethod === 'send_invoice' && daysUntilDue === null && params.due_date === undefined) {
      throw invalidParams('Missing required param: days_until_due or due_date (collection_method is send_invoice).', 'days_until_due');
    }
    const behavior = oneOf(params, 'pending_invoice_items_behavior', ['include', 'exclude'] as const) ?? 'include';
    const invoice: InvoiceState = {
      id: newId('in'),
      created: now(),
      customer: customerId,
      currency: text(params, 'currency') ?? 'eur',
      status: 'draft',
      collectionMethod,
      daysUntilDue,
      autoAdvance: boolean(params, 'auto_advance') ?? false,
      defaultTaxRates: existingTaxRates(params, 'default_tax_rates'),
      footer: text(params, 'footer') ?? null,
      description: text(params, 'description') ?? null,
      metadata: metadata(params),
      items: [],
      number: null,
      finalizedAt: null,
      voidedAt: null,
      paidAt: null,
      amountPaid: 0,
      prePaymentCredits: 0,
      postPaymentCredits: 0,
      refunded: 0,
      charge: null,
    };
    if (behavior === 'include') {
      for (const item of items.values()) {
        if (item.customer === customerId && item.invoice === null && item.currency === invoice.currency) {
          item.invoice = invoice.id;
          invoice.items.push(item.id);
        }
      }
    }
    invoices.set(invoice.id, invoice);
    return renderInvoice(invoice);
  }

  function createInvoiceItem(params: Record<string, unknown>) {
    checkParams(params, ['customer', 'invoice', 'amount', 'currency', 'description', 'metadata', 'tax_rates', 'discountable', 'period'], ['customer', 'amount']);
    const customerId = text(params, 'customer')!;
    if (!customers.has(customerId)) throw notFound('customer', customerId, 'customer');
    const invoiceId = text(params, 'invoice');
    const invoice = invoiceId === undefined ? undefined : invoices.get(invoiceId);
    if (invoiceId !== undefined && invoice === undefined) throw notFound('invoice', invoiceId, 'invoice');
    const currency = text(params, 'currency') ?? invoice?.currency ?? 'eur';
    if (invoice) {
      if (invoice.customer !== customerId) throw invalidParams('The invoice belongs to another customer.', 'invoice');
      if (invoice.status !== 'draft') throw invalidParams(`Invoice ${invoice.id} is not a draft; items can only be added to draft invoices.`, 'invoice');
      if (invoice.currency !== currency) throw invalidParams('The item currency differs from the invoice currency.', 'currency');
    }
    const item: InvoiceItemState = {
      id: newId('ii'),
      created: now(),
      customer: customerId,
      invoice: invoice?.id ?? null,
      amount: integer(params, 'amount')!,
      currency,
      description: text(params, 'description') ?? null,
      taxRates: existingTaxRates(params, 'tax_rates'),
      manualTaxes: null,
      metadata: metadata(params),
    };
    items.set(item.id, item);
    invoice?.items.push(item.id);
    return renderItem(item);
  }

  function findInvoice(id: string): InvoiceState {
    const invoice = invoices.get(id);
    if (!invoice) throw notFound('invoice', id);
    return invoice;
  }

  function finalizeInvoice(id: string, params: Record<string, unknown>) {
    checkParams(params, ['auto_advance']);
    const invoice = findInvoice(id);
    if (invoice.status !== 'draft') throw invalidRequest(`Invoice ${id} is already finalized.`);
    invoiceSequence += 1;
    invoice.number = `STANDIN-${String(invoiceSequence).padStart(4, '0')}`;
    invoice.finalizedAt = now();
    invoice.autoAdvance = boolean(params, 'auto_advance') ?? invoice.autoAdvance;
    invoice.status = 'open';
    if (invoiceAmounts(invoice).amountDue === 0) {
      invoice.status = 'paid';
      invoice.paidAt = invoice.finalizedAt;
    }
    return renderInvoice(invoice);
  }

  /** Like Stripe: only an open or uncollectible invoice can be voided; nothing is left to pay on it. */
  function voidInvoice(id: string, params: Record<string, unknown>) {
    checkParams(params, []);
    const invoice = findInvoice(id);
    if (invoice.status !== 'open' && invoice.status !== 'uncollectible') throw invalidRequest(`You can only void open or uncollectible invoices; ${id} is ${invoice.status}.`);
    invoice.status = 'void';
    invoice.voidedAt = now();
    invoice.autoAdvance = false;
    return renderInvoice(invoice);
  }

  let taxSkew = 0;

  /** The line id Stripe gives an invoice item's line on an invoice. */
  const lineIdOf = (item: InvoiceItemState) => `il_${item.id.slice(3)}`;

  /**
   * Like Stripe's manual tax amounts: each `tax_amounts` entry sets the line's tax outright; its
   * `tax_rate_data` finds or creates an archived tax rate (reused when the data is the same).
   */
  function rateFromData(data: unknown, param: string): string {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw invalidParams('Invalid tax_rate_data', param);
    const d = data as Record<string, unknown>;
    checkParams(d, ['display_name', 'inclusive', 'percentage', 'country', 'description', 'jurisdiction', 'jurisdiction_level', 'state', 'tax_type'], ['display_name', 'inclusive', 'percentage']);
    const percentage = Number(text(d, 'percentage'));
    if (!Number.isFinite(percentage) || percentage < 0 || percentage > 100) throw invalidParams('Invalid percentage', `${param}[percentage]`);
    if (boolean(d, 'inclusive')) throw invalidParams('The stand-in models exclusive tax amounts only', `${param}[inclusive]`);
    const wanted = { displayName: text(d, 'display_name')!, description: text(d, 'description') ?? null, percentage, country: text(d, 'country') ?? null, jurisdiction: text(d, 'jurisdiction') ?? null, taxType: text(d, 'tax_type') ?? null };
    const same = [...taxRates.values()].find(
      (r) => !r.active && r.displayName === wanted.displayName && r.description === wanted.description && r.percentage === percentage && r.country === wanted.country && r.jurisdiction === wanted.jurisdiction && r.taxType === wanted.taxType,
    );
    if (same) return same.id;
    const rate: TaxRateState = { id: newId('txr'), created: now(), ...wanted, rateBps: Math.round(percentage * 100), inclusive: false, active: false, metadata: {} };
    taxRates.set(rate.id, rate);
    return rate.id;
  }

  function updateLines(id: string, params: Record<string, unknown>) {
    checkParams(params, ['lines', 'invoice_metadata'], ['lines']);
    const invoice = findInvoice(id);
    if (invoice.status !== 'draft') throw invalidRequest(`Invoice ${id} is not a draft; its lines can no longer be changed.`);
    if (!Array.isArray(params.lines)) throw invalidParams('Invalid array', 'lines');
    const changes = params.lines.map((raw, index) => {
      if (typeof raw !== 'object' || raw === null) throw invalidParams('Invalid line', `lines[${index}]`);
      const line = raw as Record<string, unknown>;
      checkParams(line, ['id', 'tax_amounts'], ['id']);
      const item = invoice.items.map((itemId) => items.get(itemId)!).find((i) => lineIdOf(i) === text(line, 'id'));
      if (!item) throw invalidParams(`No such line on ${id}: ${String(line.id)}`, `lines[${index}][id]`);
      const raws = line.tax_amounts === undefined || line.tax_amounts === '' ? [] : line.tax_amounts;
      if (!Array.isArray(raws)) throw invalidParams('Invalid array', `lines[${index}][tax_amounts]`);
      const taxes = raws.map((t, j) => {
        const param = `lines[${index}][tax_amounts][${j}]`;
        if (typeof t !== 'object' || t === null) throw invalidParams('Invalid tax amount', param);
        const entry = t as Record<string, unknown>;
        checkParams(entry, ['amount', 'taxable_amount', 'tax_rate_data', 'taxability_reason'], ['amount', 'taxable_amount', 'tax_rate_data']);
        return { amount: integer(entry, 'amount')!, taxable: integer(entry, 'taxable_amount')!, rateId: rateFromData(entry.tax_rate_data, `${param}[tax_rate_data]`) };
      });
      return { item, taxes };
    });
    for (const { item, taxes } of changes) item.manualTaxes = taxes.map((t) => ({ ...t, amount: t.amount + taxSkew }));
    return renderInvoice(invoice);
  }

  /** Like Stripe: only a draft can be deleted; its invoice items go with it. */
  function deleteInvoice(id: string) {
    const invoice = findInvoice(id);
    if (invoice.status !== 'draft') throw invalidRequest(`You can only delete draft invoices; ${id} is ${invoice.status}.`);
    for (const itemId of invoice.items) items.delete(itemId);
    invoices.delete(id);
    return { id, object: 'invoice', deleted: true };
  }

  function createCreditNote(params: Record<string, unknown>) {
    checkParams(
      params,
      ['invoice', 'amount', 'credit_amount', 'refund_amount', 'out_of_band_amount', 'memo', 'metadata', 'reason', 'email_type', 'effective_at'],
      ['invoice'],
    );
    const invoiceId = text(params, 'invoice')!;
    const invoice = invoices.get(invoiceId);
    if (!invoice) throw notFound('invoice', invoiceId, 'invoice');
    const amount = integer(params, 'amount');
    if (amount === undefined) throw invalidParams('The stand-in takes credit notes by `amount` (total, tax included).', 'amount');
    const creditAmount = integer(params, 'credit_amount') ?? 0;
    const refundAmount = integer(params, 'refund_amount') ?? 0;
    const outOfBandAmount = integer(params, 'out_of_band_amount') ?? 0;
    const reason = oneOf(params, 'reason', ['duplicate', 'fraudulent', 'order_change', 'product_unsatisfactory'] as const) ?? null;
    if (invoice.status !== 'open' && invoice.status !== 'paid' && invoice.status !== 'uncollectible') {
      throw invalidRequest(`Credit notes can only be issued on finalized invoices that are not void; ${invoice.id} is ${invoice.status}.`, 'invoice');
    }
    const amounts = invoiceAmounts(invoice);
    const alreadyCredited = invoice.prePaymentCredits + invoice.postPaymentCredits;
    if (amount <= 0 || amount > amounts.total - alreadyCredited) {
      throw invalidRequest(`The credit note amount (${amount}) must be positive and at most what is left to credit (${amounts.total - alreadyCredited}).`, 'amount');
    }
    const prePayment = Math.min(amount, amounts.amountRemaining);
    const postPayment = amount - prePayment;
    if (creditAmount < 0 || refundAmount < 0 || outOfBandAmount < 0 || creditAmount + refundAmount + outOfBandAmount !== postPayment) {
      throw invalidRequest(
        `The sum of credit_amount, refund_amount and out_of_band_amount (${creditAmount + refundAmount + outOfBandAmount}) must equal the post-payment amount (${postPayment}).`,
      );
    }
    if (refundAmount > invoice.amountPaid - invoice.refunded) throw invalidRequest('refund_amount exceeds what is left to refund on the invoice payment.', 'refund_amount');
    let refund: CreditNoteState['refund'] = null;
    if (refundAmount > 0) {
      const created: RefundState = { id: newId('re'), created: now(), amount: refundAmount, charge: invoice.charge!, currency: invoice.currency };
      refunds.set(created.id, created);
      invoice.refunded += refundAmount;
      refund = { id: created.id, amount: refundAmount };
    }
    if (creditAmount > 0) customers.get(invoice.customer)!.balance -= creditAmount;
    invoice.prePaymentCredits += prePayment;
    invoice.postPaymentCredits += postPayment;
    creditNoteSequence += 1;
    const note: CreditNoteState = {
      id: newId('cn'),
      created: now(),
      invoice: invoice.id,
      customer: invoice.customer,
      currency: invoice.currency,
      amount,
      prePayment,
      postPayment,
      creditAmount,
      outOfBandAmount,
      refund,
      memo: text(params, 'memo') ?? null,
      reason,
      number: `${invoice.number}-CN-${String(creditNoteSequence).padStart(2, '0')}`,
      metadata: metadata(params),
    };
    creditNotes.set(note.id, note);
    return renderCreditNote(note);
  }

  function route(method: string, path: string, params: Record<string, unknown>, query: Record<string, unknown>): unknown {
    const segments = path.split('/').filter(Boolean);
    if (segments[0] !== 'v1') throw new StandInError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`, false);
    const [, resource, id, action] = segments;
    const key = `${method} ${resource}${id === undefined ? '' : '/:id'}${action === undefined ? '' : `/${action}`}`;
    switch (key) {
      case 'POST customers':
        return createCustomer(params);
      case 'GET customers': {
        const email = text(query, 'email');
        return list([...customers.values()].filter((c) => email === undefined || c.email === email), renderCustomer, query, path);
      }
      case 'GET customers/:id': {
        const customer = customers.get(id!);
        if (!customer) throw notFound('customer', id!);
        return renderCustomer(customer);
      }
      case 'POST tax_rates':
        return createTaxRate(params);
      case 'GET tax_rates': {
        const active = boolean(query, 'active');
        return list([...taxRates.values()].filter((r) => active === undefined || r.active === active), renderTaxRate, query, path);
      }
      case 'POST invoices':
        return createInvoice(params);
      case 'GET invoices/:id':
        return renderInvoice(findInvoice(id!));
      case 'POST invoices/:id/finalize':
        return finalizeInvoice(id!, params);
      case 'POST invoices/:id/void':
        return voidInvoice(id!, params);
      case 'POST invoices/:id/update_lines':
        return updateLines(id!, params);
      case 'GET invoices/:id/lines': {
        const lines = renderInvoice(findInvoice(id!)).lines.data;
        return list([...lines].reverse(), (l) => l as unknown as StripeObject, query, path);
      }
      case 'DELETE invoices/:id':
        return deleteInvoice(id!);
      case 'POST invoiceitems':
        return createInvoiceItem(params);
      case 'POST credit_notes':
        return createCreditNote(params);
      case 'GET credit_notes': {
        const invoice = text(query, 'invoice');
        return list([...creditNotes.values()].filter((n) => invoice === undefined || n.invoice === invoice), renderCreditNote, query, path);
      }
      default:
        throw new StandInError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`, false);
    }
  }

  function execute(method: string, path: string, params: Record<string, unknown>, query: Record<string, unknown>): Reply & { executed: boolean } {
    try {
      return { status: 200, body: route(method, path, params, query), executed: true };
    } catch (error) {
      if (!(error instanceof StandInError)) throw error;
      const body = { error: { type: error.type, message: error.message, ...(error.param ? { param: error.param } : {}) } };
      return { status: error.status, body, executed: error.executed };
    }
  }

  /** Runs the request under Stripe's idempotency rules: replays, conflicts, or runs and saves. */
  function answer(request: RequestView, query: Record<string, unknown>): Reply & { replayed: boolean } {
    const key = request.method === 'POST' ? request.idempotencyKey : null;
    const params = canonical(request.body);
    if (key !== null) {
      const previous = saved.get(key);
      if (previous) {
        if (previous.method !== request.method || previous.path !== request.path || previous.params !== params) {
          const message = `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`;
          return { status: 400, body: { error: { type: 'idempotency_error', message } }, replayed: false };
        }
        return { status: previous.status, body: previous.body, replayed: true };
      }
    }
    const reply = execute(request.method, request.path, request.body, query);
    if (key !== null && reply.executed) saved.set(key, { method: request.method, path: request.path, params, status: reply.status, body: reply.body });
    return { status: reply.status, body: reply.body, replayed: false };
  }

  function takeFault(request: RequestView): FaultSpec | undefined {
    const index = faults.findIndex((fault) => fault.match === undefined || fault.match(request));
    if (index < 0) return undefined;
    const fault = faults[index]!;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults.splice(index, 1);
    return fault;
  }

  const send = (res: ServerResponse, reply: Reply, headers: Record<string, string> = {}) => {
    res.writeHead(reply.status, { 'content-type': 'application/json', 'request-id': newId('req'), ...headers });
    res.end(JSON.stringify(reply.body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = req.method ?? 'GET';
    const rawKey = req.headers['idempotency-key'];
    const view: RequestView = {
      method,
      path: url.pathname,
      idempotencyKey: typeof rawKey === 'string' ? rawKey : null,
      body: parseStripeForm(Buffer.concat(chunks).toString('utf8')),
    };
    const query = parseStripeForm(url.search.slice(1));
    const record: RecordedRequest = { ...view, query, status: null, replayed: false, fault: null };
    requests.push(record);

    if (!/^Bearer sk_\S+$/.test(req.headers.authorization ?? '')) {
      record.status = 401;
      return send(res, { status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' } } });
    }
    const fault = takeFault(view);
    if (fault && 'status' in fault) {
      record.fault = fault.status === 500 ? 'status_500' : 'status_429';
      record.status = fault.status;
      const body =
        fault.status === 500
          ? { error: { type: 'api_error', message: 'An unknown error occurred (injected by the stand-in).' } }
          : { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests hit the API too quickly (injected by the stand-in).' } };
      return send(res, { status: fault.status, body });
    }
    const reply = answer(view, query);
    record.replayed = reply.replayed;
    if (fault?.mode === 'timeout') {
      record.fault = 'timeout';
      return; // performed and saved; the caller never hears back
    }
    if (fault?.mode === 'commit_then_fail') {
      record.fault = 'commit_then_fail';
      record.status = 500;
      return send(res, { status: 500, body: { error: { type: 'api_error', message: 'The answer was lost (injected by the stand-in).' } } });
    }
    record.status = reply.status;
    send(res, reply, reply.replayed ? { 'idempotent-replayed': 'true', 'idempotency-key': view.idempotencyKey ?? '' } : {});
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'api_error', message: `stand-in failure: ${String(error)}` } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const host = '127.0.0.1';
  baseUrl = `http://${host}:${port}`;

  return {
    host,
    port,
    protocol: 'http',
    url: baseUrl,
    requests,
    failNext(fault) {
      if (!Number.isInteger(fault.count) || fault.count < 1) throw new RangeError('failNext count must be a positive integer');
      faults.push({ ...fault, remaining: fault.count });
    },
    customers: () => [...customers.values()].map((customer) => ({ ...renderCustomer(customer), tax_ids: customer.taxIds })),
    skewTaxes: (cents: number) => {
      taxSkew = cents;
    },
    taxRates: () => [...taxRates.values()].map(renderTaxRate),
    invoiceItems: () => [...items.values()].map(renderItem),
    invoices: () => [...invoices.values()].map(renderInvoice),
    creditNotes: () => [...creditNotes.values()].map(renderCreditNote),
    refunds: () => [...refunds.values()].map(renderRefund),
    markPaid(invoiceId) {
      const invoice = findInvoice(invoiceId);
      if (invoice.status !== 'open') throw new Error(`markPaid: invoice ${invoiceId} is ${invoice.status}, not open`);
      invoice.amountPaid += invoiceAmounts(invoice).amountRemaining;
      invoice.charge = newId('ch');
      invoice.status = 'paid';
      invoice.paidAt = now();
      return renderInvoice(invoice);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** A webhook body and its `Stripe-Signature` header, signed by the SDK itself. `timestamp` in Unix seconds (default now). */
export function signStripeEvent(payload: object, secret: string, options: { timestamp?: number } = {}): { body: string; header: string } {
  const body = JSON.stringify(payload);
  const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret, ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }) });
  return { body, header };
}
