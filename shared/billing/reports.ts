/**
 * What finance reads: one invoice or a page of them (customers their org's), the period's CSV export,
 * receivables by age, revenue by site and GPU type, and the reconciliation of what was invoiced
 * against what was sold.
 */
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import { DomainError, notFound } from '#domain/errors.ts';
import { outstandingOf, type CreditNote, type Invoice } from '#domain/invoice.ts';
import { eur, mulRound, sumMoney, type Money } from '#domain/money.ts';
import { onDemandCharge } from '#domain/pricing.ts';
import type { Principal } from '#domain/principal.ts';
import { DAY_MS, nextPeriod, periodStart, shiftPeriod } from '#domain/time.ts';
import { allOrgIds, ledgerRows, openInvoiceRefs, orgEventsOfPeriod, type UsageLedgerRow } from '#store/billing-records.ts';
import {
  creditNotesOfPeriod,
  findInvoice,
  getCreditNotes,
  getInvoice,
  getInvoices,
  invoicesOfPeriod,
  listInvoices,
  type InvoiceListQuery,
} from '#store/invoices.ts';
import { heldGpuSecondsByPool } from '#domain/on-demand.ts';
import { listOnDemandHeldBetween } from '#store/reservations.ts';
import { onDemandUsageByPool } from '#store/usage.ts';
import { resaleCreditsOfPeriod } from '#store/resale-credits.ts';
import { describeError, type BillingContext } from './context.ts';
import { CSV_COLUMNS, csvRowOfCreditNote, csvRowsOf } from './invoice-csv.ts';

/** Age buckets of receivables, in days since the invoice was finalized. */
export const RECEIVABLE_BUCKETS = [
  { bucket: '0-30', maxDays: 30 },
  { bucket: '31-60', maxDays: 60 },
  { bucket: '61-90', maxDays: 90 },
  { bucket: '>90', maxDays: Number.POSITIVE_INFINITY },
] as const;

export function createReports(ctx: BillingContext) {
  const { db, clock, logger, catalog, lookbackMonths } = ctx;

  /** Customers read their org's invoices (another org's answers 404); finance reads every org's. */
  async function invoiceFor(principal: Principal, invoiceId: string): Promise<{ invoice: Invoice; creditNotes: CreditNote[] }> {
    const invoice =
      principal.role === 'finance' ? await findInvoice(db, invoiceId) : principal.role === 'customer' && principal.orgId ? await getInvoice(db, principal.orgId, invoiceId) : null;
    if (!invoice) throw notFound('Invoice', invoiceId);
    return { invoice, creditNotes: await getCreditNotes(db, invoice.orgId, invoice.creditNoteIds) };
  }

  async function invoicesFor(principal: Principal, q: InvoiceListQuery) {
    if (principal.role === 'customer') {
      if (!principal.orgId) throw new DomainError('forbidden', 'This key belongs to no org');
      if (q.orgId && q.orgId !== principal.orgId) throw notFound('Org', q.orgId);
      return listInvoices(db, { ...q, orgId: principal.orgId });
    }
    if (principal.role !== 'finance') throw new DomainError('forbidden', 'Invoices are for customer and finance keys');
    return listInvoices(db, q);
  }

  /**
   * CSV of the period's invoices, one row per line, then its credit notes as negative rows, streamed a
   * query page at a time. UTF-8 with a byte-order mark so Excel opens it as UTF-8 (docs/billing.md).
   */
  function exportCsv(period: string): ReadableStream<Uint8Array> {
    async function* rows() {
      for await (const page of invoicesOfPeriod(db, period)) {
        for (const invoice of page) yield* csvRowsOf(invoice);
      }
      for await (const page of creditNotesOfPeriod(db, period)) {
        for (const note of page) yield csvRowOfCreditNote(note, await getInvoice(db, note.orgId, note.invoiceId));
      }
    }
    const source = Readable.from(rows());
    const csv = stringify({ bom: true, header: true, columns: [...CSV_COLUMNS] });
    source.on('error', (error) => {
      logger.error('invoice CSV export failed mid-stream', { period, error: describeError(error) });
      csv.destroy(error);
    });
    source.pipe(csv);
    return Readable.toWeb(csv) as ReadableStream<Uint8Array>;
  }

  async function receivables() {
    const now = clock();
    const invoices = (await getInvoices(db, await openInvoiceRefs(db))).filter((i) => i.status === 'open' && outstandingOf(i).amount > 0);
    const rows = invoices
      .map((i) => {
        const ageDays = Math.max(0, Math.floor((now.getTime() - Date.parse(i.finalizedAt ?? i.createdAt)) / DAY_MS));
        const bucket = RECEIVABLE_BUCKETS.find((b) => ageDays <= b.maxDays)!.bucket;
        return {
          invoiceId: i.id,
          orgId: i.orgId,
          customerName: i.customer.name,
          period: i.period,
          total: i.total,
          outstanding: outstandingOf(i),
          finalizedAt: i.finalizedAt,
          ageDays,
          bucket,
          hostedInvoiceUrl: i.hostedInvoiceUrl,
        };
      })
      .sort((a, b) => b.ageDays - a.ageDays);
    return {
      asOf: now.toISOString(),
      total: sumMoney(rows.map((r) => r.outstanding)),
      buckets: RECEIVABLE_BUCKETS.map(({ bucket }) => {
        const inBucket = rows.filter((r) => r.bucket === bucket);
        return { bucket, count: inBucket.length, amount: sumMoney(inBucket.map((r) => r.outstanding)) };
      }),
      invoices: rows,
    };
  }

  async function revenue(period: string) {
    const rows = new Map<string, { site: string | null; gpuType: string | null; invoiced: number; credited: number; gpuSeconds: number }>();
    const row = (site: string | null, gpuType: string | null) => {
      const key = `${site}|${gpuType}`;
      const existing = rows.get(key) ?? { site, gpuType, invoiced: 0, credited: 0, gpuSeconds: 0 };
      rows.set(key, existing);
      return existing;
    };
    for await (const page of invoicesOfPeriod(db, period)) {
      for (const invoice of page.filter((i) => i.status !== 'void')) {
        for (const line of invoice.lines) {
          const r = row(line.site, line.gpuType);
          r.invoiced += line.amount.amount;
          r.gpuSeconds += line.gpuSeconds ?? 0;
        }
      }
    }
    for await (const page of creditNotesOfPeriod(db, period)) {
      for (const note of page) row(note.site, note.gpuType).credited += note.subtotal.amount;
    }
    const out = [...rows.values()]
      .sort((a, b) => `${a.site}|${a.gpuType}`.localeCompare(`${b.site}|${b.gpuType}`))
      .map((r) => ({
        site: r.site,
        gpuType: r.gpuType,
        gpuHours: mulRound(r.gpuSeconds, 100, 3600) / 100,
        invoiced: eur(r.invoiced),
        credited: eur(r.credited),
        net: eur(r.invoiced - r.credited),
      }));
    return {
      period,
      currency: 'EUR' as const,
      rows: out,
      total: { invoiced: sumMoney(out.map((r) => r.invoiced)), credited: sumMoney(out.map((r) => r.credited)), net: sumMoney(out.map((r) => r.net)) },
    };
  }

  /**
   * invoiced (invoices − credit notes of the period, excluding VAT) against what was sold, each term
   * from its own records: priced reservations from the booking events (confirmations, extensions of
   * confirmed bookings), metered usage from the billing ledger recomputed from GPU-seconds and rates,
   * refunds from the cancellation events (the policy's amounts). Balanced when both sides agree to the
   * cent and the credit notes are exactly the policy's refunds.
   */
  async function reconciliation(period: string) {
    const invoices = { count: 0, subtotal: 0, tax: 0, total: 0, voided: 0 };
    for await (const page of invoicesOfPeriod(db, period)) {
      for (const i of page) {
        invoices.count++;
        invoices.subtotal += i.subtotal.amount;
        invoices.tax += i.tax.amount;
        invoices.total += i.total.amount;
        if (i.status === 'void') invoices.voided += i.subtotal.amount;
      }
    }
    // Resale: the fills settled in the period (buyers' price for the resold GPU-hours = sellers'
    // earnings + fees) and the credit notes that paid earnings out (told apart by the credit records).
    const resold = { fills: 0, gpuHours: 0, gross: 0, fees: 0, earnings: 0 };
    const payoutNotes = new Set<string>();
    // Read once each: this period's credits, and the previous one's (a payout can fall in the month after the sale).
    const [previousCredits, periodCredits] = await Promise.all([resaleCreditsOfPeriod(db, shiftPeriod(period, -1)), resaleCreditsOfPeriod(db, period)]);
    for (const c of periodCredits) {
      resold.fills++;
      resold.gpuHours += c.gpuHours;
      resold.gross += c.gross.amount;
      resold.fees += c.fee.amount;
      resold.earnings += c.earnings.amount;
    }
    for (const c of [...previousCredits, ...periodCredits]) for (const id of c.creditNoteIds ?? []) payoutNotes.add(id);
    const credits = { count: 0, subtotal: 0, tax: 0, total: 0 };
    let paidOut = 0;
    for await (const page of creditNotesOfPeriod(db, period)) {
      for (const n of page) {
        credits.count++;
        credits.subtotal += n.subtotal.amount;
        credits.tax += n.tax.amount;
        credits.total += n.total.amount;
        if (payoutNotes.has(n.id)) paidOut += n.subtotal.amount;
      }
    }
    let priced = 0;
    let metered = 0;
    let refunds = 0;
    let awaitingNextClose = 0;
    for (const orgId of await allOrgIds(db)) {
      const events = await orgEventsOfPeriod(db, orgId, period, ['reservation.confirmed', 'reservation.extended', 'reservation.cancelled']);
      for (const e of events) {
        const data = e.data as { status?: string; price?: Money | null; confirmedAt?: string | null; refund?: { amount?: Money } | null; extension?: { price?: Money } };
        if (e.type === 'reservation.confirmed') priced += data.price?.amount ?? 0;
        if (e.type === 'reservation.extended' && data.status !== 'held') priced += data.extension?.price?.amount ?? 0;
        if (e.type === 'reservation.cancelled' && data.confirmedAt) refunds += data.refund?.amount?.amount ?? 0;
      }
      const ledger = await ledgerRows(db, orgId, shiftPeriod(period, -lookbackMonths), period);
      for (const row of ledger) metered += meteredByClose(row, period);
      // What the next close would add for this period: held time (how on-demand is billed), or metered
      // usage for a month closed before that (its ledger rows carry no basis).
      const rows = ledger.filter((l) => l.usagePeriod === period);
      const heldRule = rows.length === 0 || rows.some((r) => r.basis === 'held');
      const usage = heldRule
        ? heldGpuSecondsByPool(await listOnDemandHeldBetween(db, orgId, periodStart(period), periodStart(nextPeriod(period))), period, clock())
        : await onDemandUsageByPool(db, orgId, period);
      for (const [poolId, gpuSeconds] of usage) {
        const row = ledger.find((l) => l.usagePeriod === period && l.poolId === poolId);
        const rate = row?.ratePerGpuHour ?? (await catalog.get()).pools.find((p) => p.id === poolId)?.onDemandRate.amount ?? 0;
        awaitingNextClose += onDemandCharge(gpuSeconds, rate).amount - (row?.amount ?? 0);
      }
    }
    const invoiced = invoices.subtotal - credits.subtotal;
    const expected = priced + metered - refunds - paidOut;
    const checks = {
      invoicesMatchPricedReservationsAndUsage: invoices.subtotal === priced + metered,
      creditNotesMatchPolicyRefunds: credits.subtotal - paidOut === refunds,
      resaleBuyersPriceMatchesEarningsAndFees: resold.gross === resold.earnings + resold.fees,
    };
    return {
      period,
      currency: 'EUR' as const,
      invoices: { count: invoices.count, subtotal: eur(invoices.subtotal), tax: eur(invoices.tax), total: eur(invoices.total), voided: eur(invoices.voided) },
      creditNotes: { count: credits.count, subtotal: eur(credits.subtotal), tax: eur(credits.tax), total: eur(credits.total) },
      invoiced: eur(invoiced),
      pricedReservations: eur(priced),
      meteredUsage: eur(metered),
      refundsByPolicy: eur(refunds),
      expected: eur(expected),
      difference: eur(invoiced - expected),
      checks,
      resale: {
        fills: resold.fills,
        gpuHours: resold.gpuHours,
        buyersPrice: eur(resold.gross),
        sellerEarnings: eur(resold.earnings),
        fees: eur(resold.fees),
        paidOutByCreditNotes: eur(paidOut),
      },
      balanced: invoiced === expected && checks.invoicesMatchPricedReservationsAndUsage && checks.creditNotesMatchPolicyRefunds && checks.resaleBuyersPriceMatchesEarningsAndFees,
      usageAwaitingNextClose: eur(awaitingNextClose),
    };
  }

  /** The cents the close of `closePeriod` invoiced for a ledger row, recomputed from GPU-seconds: charge(after) − charge(before). */
  function meteredByClose(row: UsageLedgerRow, closePeriod: string): number {
    let seconds = 0;
    for (const close of Object.keys(row.closes).sort()) {
      const before = seconds;
      seconds += row.closes[close]!.gpuSeconds;
      if (close === closePeriod) return onDemandCharge(seconds, row.ratePerGpuHour).amount - onDemandCharge(before, row.ratePerGpuHour).amount;
    }
    return 0;
  }

  return { invoiceFor, invoicesFor, exportCsv, receivables, revenue, reconciliation };
}
