/**
 * Issue 15, finding 1 (OWASP API6): a confirmed booking nobody pays for does not keep its capacity.
 * When its invoice is still open PAYMENT_TERMS_DAYS + RELEASE_GRACE_DAYS after it was finalized, the
 * scheduled job cancels the booking if it has not started (no refund: the invoice stays due), with
 * `reservation.cancelled` carrying `reason: unpaid_invoice_past_due`, and its hours are free again.
 * A paid invoice's booking, one that has started, and one still within the grace keep theirs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAYMENT_TERMS_DAYS, RELEASE_GRACE_DAYS } from '../../shared/domain/unpaid.ts';
import { releaseUnpaidCapacity } from '../../shared/services/unpaid-release.ts';
import { addOrg, book, createBillingTest, eventsOfType, H100, invoice, postStripeEvent, stripeEvent, stripeInvoicesFor, VALENCE, type BillingTest } from './billing.fixtures.ts';

const DAY = 86_400_000;
let b: BillingTest;
beforeAll(async () => {
  b = await createBillingTest();
});
afterAll(() => b.close());

const release = () => releaseUnpaidCapacity({ db: b.t.db, clock: b.t.clock, booking: b.t.deps.booking });
const available = async (start: string, end: string) => {
  const res = await b.t.call('GET', `/v1/availability?site=${VALENCE}&gpuType=${H100}&start=${start}&end=${end}&granularity=hour`);
  expect(res.status).toBe(200);
  return res.body.pools[0].minAvailable as number;
};

describe('unpaid invoices past due release their capacity (issue 15, finding 1)', () => {
  it('cancels the unpaid, not yet started booking after the terms and the grace, and nothing else', async () => {
    const { t, standIn } = b;
    const { key } = await addOrg(t, { country: 'FR' });
    const unpaid = await book(t, key, { startIn: 24 * 60, gpus: 16 });
    const paid = await book(t, key, { startIn: 24 * 62, gpus: 8 });
    const soon = await book(t, key, { startIn: 24 * 20, gpus: 8 }); // starts before the release date
    for (const r of [unpaid, paid, soon]) expect((await invoice(t, r.invoiceId!)).status).toBe('open');
    const paidInvoice = await invoice(t, paid.invoiceId!);
    const [stripe] = stripeInvoicesFor(standIn!, paidInvoice.id);
    expect((await postStripeEvent(t, stripeEvent(t, 'invoice.paid', standIn!.markPaid(stripe!.id)))).body.outcome).toBe('processed');
    const freeBefore = await available(unpaid.start, unpaid.end!);

    // One hour before the release date: nothing moves.
    t.clock.advance((PAYMENT_TERMS_DAYS + RELEASE_GRACE_DAYS) * DAY - 3_600_000);
    expect(await release()).toBe(0);
    expect((await t.call('GET', `/v1/reservations/${unpaid.id}`, { key })).body.status).toBe('confirmed');

    // Past it: the unpaid booking is cancelled, without refund, and says why; its GPUs are free again.
    t.clock.advance(2 * 3_600_000);
    expect(await release()).toBe(1);
    const released = (await t.call('GET', `/v1/reservations/${unpaid.id}`, { key })).body;
    expect(released).toMatchObject({ status: 'cancelled', refund: { percent: 0, amount: { amount: 0, currency: 'EUR' } } });
    expect(released.refund.rule).toContain(unpaid.invoiceId);
    const events = (await eventsOfType(t, key, 'reservation.cancelled')).filter((e) => e.data.id === unpaid.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ reason: 'unpaid_invoice_past_due', invoiceId: unpaid.invoiceId });
    expect(await available(unpaid.start, unpaid.end!)).toBe(freeBefore + 16);
    // The invoice stays due (finance pursues or voids it); no credit note was made.
    expect(await invoice(t, unpaid.invoiceId!)).toMatchObject({ status: 'open', creditNoteIds: [] });

    // The paid booking and the one that already started keep their capacity; a second pass changes nothing.
    expect((await t.call('GET', `/v1/reservations/${paid.id}`, { key })).body.status).toBe('confirmed');
    expect((await t.call('GET', `/v1/reservations/${soon.id}`, { key })).body.status).not.toBe('cancelled');
    expect(await release()).toBe(0);
    expect((await eventsOfType(t, key, 'reservation.cancelled')).filter((e) => e.data.id === unpaid.id)).toHaveLength(1);
  });
});
