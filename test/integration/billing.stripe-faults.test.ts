/**
 * Never twice in Stripe: injected 500s, 429s, timeouts and crashes between Stripe's write and our
 * reading of its answer (`commit_then_fail`), at every step of sending an invoice; a process crash
 * between our commit and Stripe; the same for credit notes. Whatever happens, the confirmation
 * succeeds and each of our invoices ends as exactly one finalized Stripe invoice with its lines once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultSpec, RequestView, StripeStandIn } from '../support/stripe-stand-in.ts';
import { addOrg, book, createBillingTest, invoice, stripeInvoicesFor, type BillingTest } from './billing.fixtures.ts';

type Kind = 'status_500' | 'status_429' | 'timeout' | 'commit_then_fail';
const KINDS: Kind[] = ['status_500', 'status_429', 'timeout', 'commit_then_fail'];

const post = (path: RegExp) => (r: RequestView) => r.method === 'POST' && path.test(r.path);
/** The steps of sending an invoice, in order. */
const STEPS: { step: string; match: (r: RequestView) => boolean }[] = [
  { step: 'customer', match: post(/^\/v1\/customers$/) },
  { step: 'invoice', match: post(/^\/v1\/invoices$/) },
  { step: 'second invoice item', match: (r) => post(/^\/v1\/invoiceitems$/)(r) && (r.body.metadata as Record<string, string> | undefined)?.lineIndex === '1' },
  { step: 'line taxes', match: post(/^\/v1\/invoices\/[^/]+\/update_lines$/) },
  { step: 'finalize', match: post(/^\/v1\/invoices\/[^/]+\/finalize$/) },
];

const fault = (kind: Kind, match: FaultSpec['match']): FaultSpec =>
  kind === 'status_500'
    ? { count: 1, status: 500, match }
    : kind === 'status_429'
      ? { count: 1, status: 429, match }
      : kind === 'timeout'
        ? { count: 1, mode: 'timeout', match }
        : { count: 1, mode: 'commit_then_fail', match };

/** Exactly one finalized Stripe invoice for ours, holding each of our lines once. */
function expectOneStripeInvoice(standIn: StripeStandIn, inv: { id: string; stripeInvoiceId: string; total: { amount: number }; lines: { amount: { amount: number } }[] }) {
  const found = stripeInvoicesFor(standIn, inv.id);
  expect(found).toHaveLength(1);
  expect(found[0]).toMatchObject({ id: inv.stripeInvoiceId, status: 'open', total: inv.total.amount });
  expect(found[0]!.lines.data.map((l) => l.amount)).toEqual(inv.lines.map((l) => l.amount.amount));
  const items = standIn.invoiceItems().filter((i) => (i.metadata as Record<string, string>).invoiceId === inv.id);
  expect(items).toHaveLength(inv.lines.length);
}

const customersOf = (standIn: StripeStandIn, orgId: string) => standIn.customers().filter((c) => (c.metadata as Record<string, string>).orgId === orgId);
const faultsHit = (standIn: StripeStandIn, kind: Kind) => standIn.requests.filter((r) => r.fault === kind).length;

describe.each(KINDS)('the SDK retries through %s at every step', (kind) => {
  let b: BillingTest;
  beforeAll(async () => {
    b = await createBillingTest({ stripe: { maxNetworkRetries: 2, timeoutMs: 500 } });
  });
  afterAll(() => b.close());

  it.each(STEPS)('$step: the confirmation succeeds and Stripe holds one invoice', async ({ match }) => {
    const { t, standIn } = b;
    const { org, key } = await addOrg(t, { country: 'FR', vatNumber: 'FR40303265045' });
    const hitBefore = faultsHit(standIn!, kind);
    standIn!.failNext(fault(kind, match));
    const r = await book(t, key);
    expect(faultsHit(standIn!, kind)).toBe(hitBefore + 1);
    const inv = await invoice(t, r.invoiceId!);
    expect(inv).toMatchObject({ status: 'open', stripeSync: 'synced' });
    expectOneStripeInvoice(standIn!, inv);
    expect(customersOf(standIn!, org.id)).toHaveLength(1);
    expect(standIn!.taxRates()).toHaveLength(1);
  });
});

describe.each(KINDS)('without SDK retries, %s leaves the invoice pending and the scheduled sync finishes it', (kind) => {
  let b: BillingTest;
  beforeAll(async () => {
    b = await createBillingTest({ stripe: { maxNetworkRetries: 0, timeoutMs: 500 } });
  });
  afterAll(() => b.close());

  it.each(STEPS)('$step', async ({ match }) => {
    const { t, standIn, service } = b;
    const { org, key } = await addOrg(t, { country: 'FR', vatNumber: 'FR40303265045' });
    standIn!.failNext(fault(kind, match));
    const r = await book(t, key);
    expect(r.status).toBe('confirmed');
    const pending = await invoice(t, r.invoiceId!);
    expect(pending).toMatchObject({ status: 'draft', stripeSync: 'pending', stripeInvoiceId: null });
    expect(await service.syncPending()).toEqual({ synced: 1, failed: 0 });
    const inv = await invoice(t, r.invoiceId!);
    expect(inv).toMatchObject({ status: 'open', stripeSync: 'synced' });
    expectOneStripeInvoice(standIn!, inv);
    expect(customersOf(standIn!, org.id)).toHaveLength(1);
    expect(standIn!.taxRates()).toHaveLength(1);
    // Nothing left: another pass sends nothing.
    const posts = standIn!.requests.filter((q) => q.method === 'POST').length;
    expect(await service.syncPending()).toEqual({ synced: 0, failed: 0 });
    expect(standIn!.requests.filter((q) => q.method === 'POST').length).toBe(posts);
  });
});

describe('a crash between our commit and Stripe', () => {
  let b: BillingTest;
  beforeAll(async () => {
    b = await createBillingTest({ stripe: { maxNetworkRetries: 0, timeoutMs: 500 } });
  });
  afterAll(() => b.close());

  it('confirm committed with its invoice; nothing reached Stripe; the scheduled sync sends it once', async () => {
    const { t, standIn, service, crash } = b;
    crash.afterCommit = true;
    const r = await book(t, t.keys.customer, { expectConfirm: 500 });
    crash.afterCommit = false;
    expect(r.status).toBe('confirmed');
    expect(r.invoiceId).toMatch(/^inv_/);
    const pending = await invoice(t, r.invoiceId!);
    expect(pending).toMatchObject({ status: 'draft', stripeSync: 'pending' });
    expect(stripeInvoicesFor(standIn!, r.invoiceId!)).toHaveLength(0);
    expect(await service.syncPending()).toEqual({ synced: 1, failed: 0 });
    const inv = await invoice(t, r.invoiceId!);
    expect(inv.status).toBe('open');
    expectOneStripeInvoice(standIn!, inv);
    expect(await service.syncPending()).toEqual({ synced: 0, failed: 0 });
    expectOneStripeInvoice(standIn!, inv);
  });

  it('several syncs racing over the same pending invoices still make one Stripe invoice each', async () => {
    const { t, standIn, service, crash } = b;
    crash.afterCommit = true;
    const bookings = [await book(t, t.keys.customer, { expectConfirm: 500 }), await book(t, t.keys.customer2, { expectConfirm: 500 })];
    crash.afterCommit = false;
    await Promise.all([service.syncPending(), service.syncPending(), service.syncPending()]);
    await service.syncPending();
    for (const r of bookings) {
      const inv = await invoice(t, r.invoiceId!);
      expect(inv).toMatchObject({ status: 'open', stripeSync: 'synced' });
      expectOneStripeInvoice(standIn!, inv);
    }
  });

  it('a cancellation’s credit note waits for its invoice and is issued once, after a crash at Stripe’s answer', async () => {
    const { t, standIn, service, crash } = b;
    crash.afterCommit = true;
    const r = await book(t, t.keys.customer, { startIn: 10 * 24, expectConfirm: 500 });
    // Still crashing: the cancellation commits its credit note, Stripe sees neither.
    const cancelled = await t.call('POST', `/v1/reservations/${r.id}/cancel`);
    expect(cancelled.status).toBe(500);
    crash.afterCommit = false;
    const before = await invoice(t, r.invoiceId!);
    expect(before.creditNotes).toHaveLength(1);
    expect(before.creditNotes[0]).toMatchObject({ status: 'pending', stripeSync: 'pending', total: { amount: before.total.amount } });
    standIn!.failNext({ count: 1, mode: 'commit_then_fail', match: post(/^\/v1\/credit_notes$/) });
    // First pass: the invoice goes out; the credit note is created in Stripe but its answer is lost.
    expect(await service.syncPending()).toEqual({ synced: 1, failed: 1 });
    expect(await service.syncPending()).toEqual({ synced: 1, failed: 0 });
    const after = await invoice(t, r.invoiceId!);
    expectOneStripeInvoice(standIn!, after);
    const notes = standIn!.creditNotes().filter((n) => n.invoice === after.stripeInvoiceId);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ id: after.creditNotes[0].stripeCreditNoteId, amount: after.total.amount });
    expect(after.creditNotes[0]).toMatchObject({ status: 'issued', stripeSync: 'synced' });
  });
});
