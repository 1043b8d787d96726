/**
 * The monthly close of on-demand: one usage invoice per org and period, billing the GPU-seconds the
 * org's on-demand reservations held in that month (GPUs × seconds from start to stop, shared/domain/
 * on-demand.ts), with the metered GPU-seconds shown beside them. The usage ledger (one row per org,
 * month and pool) records what each close invoiced, so a close run twice, or concurrently, invoices
 * nothing twice. Months closed before billing was by held time (ledger rows without `basis`) keep
 * their rule: metered usage of them that arrives late is still invoiced as an adjustment, and held
 * time is never billed for them afterwards.
 */
import { poolLabel, type Pool } from '#domain/catalog.ts';
import { DomainError } from '#domain/errors.ts';
import { withLineFootprints, type Invoice } from '#domain/invoice.ts';
import { eur, sumMoney } from '#domain/money.ts';
import { nextPeriod, periodOf, periodStart, shiftPeriod } from '#domain/time.ts';
import { outboxWrites } from '#store/events.ts';
import { allOrgIds, ledgerRows, ledgerWrite, syncMarkerPut, type UsageLedgerRow } from '#store/billing-records.ts';
import { getInvoice, invoiceCreate } from '#store/invoices.ts';
import { withOptimisticRetry } from '#store/retry.ts';
import { transact, type TransactItem } from '#store/transact.ts';
import { heldGpuSecondsByPool } from '#domain/on-demand.ts';
import { listOnDemandHeldBetween } from '#store/reservations.ts';
import { onDemandUsageByPool } from '#store/usage.ts';
import { factorsFor } from '../services/footprint.ts';
import { describeError, orgOrFail, type BillingContext } from './context.ts';
import { usageDelta, usageInvoice, usageInvoiceId, type UsageCharge } from './invoice-builders.ts';
import { toApiInvoice } from './invoice-wire.ts';
import type { StripeSync } from './stripe-sync.ts';

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;

export function createMonthlyClose(ctx: BillingContext, sync: StripeSync) {
  const { db, clock, ids, logger, catalog, stripeConfigured, lookbackMonths, retry } = ctx;
  const { pushInvoice } = sync;

  function assertClosable(period: string): void {
    if (!PERIOD.test(period)) throw new DomainError('validation_failed', 'period: must be YYYY-MM', { errors: [{ path: 'period', message: 'must be YYYY-MM' }] });
    const current = periodOf(clock());
    if (period >= current) {
      throw new DomainError('unprocessable', `period: ${period} is not over yet; only a past month can be closed (the current month is ${current})`, {
        errors: [{ path: 'period', message: 'must be a past month' }],
      });
    }
  }

  /** What the close of `period` would charge `orgId` (and the ledger writes that record it); reads only. */
  async function usageChargesOf(orgId: string, period: string, invoiceId: string) {
    const [org, pools] = await Promise.all([orgOrFail(db, orgId), catalog.get()]);
    const first = shiftPeriod(period, -lookbackMonths);
    const ledger = await ledgerRows(db, orgId, first, period);
    const charges: UsageCharge[] = [];
    const writes: TransactItem[] = [];
    const now = clock();
    for (let offset = lookbackMonths; offset >= 0; offset--) {
      const usagePeriod = shiftPeriod(period, -offset);
      const metered = await onDemandUsageByPool(db, orgId, usagePeriod);
      const rows = ledger.filter((l) => l.usagePeriod === usagePeriod);
      // The closed month is billed on held time; an earlier month keeps the rule it was closed under.
      const heldRule = offset === 0 || rows.some((r) => r.basis === 'held');
      const quantities = heldRule
        ? heldGpuSecondsByPool(await listOnDemandHeldBetween(db, orgId, periodStart(usagePeriod), periodStart(nextPeriod(usagePeriod))), usagePeriod, now)
        : metered;
      for (const [poolId, gpuSeconds] of [...quantities].sort(([a], [b]) => a.localeCompare(b))) {
        const pool: Pool | undefined = pools.pools.find((p) => p.id === poolId);
        if (!pool) {
          logger.error('usage of a pool missing from the catalog is not invoiced', { orgId, poolId, usagePeriod });
          continue;
        }
        const row = ledger.find((l) => l.usagePeriod === usagePeriod && l.poolId === poolId);
        const rate = row?.ratePerGpuHour ?? pool.onDemandRate.amount;
        const delta = usageDelta(gpuSeconds, row ? { gpuSeconds: row.gpuSeconds, amount: row.amount } : null, rate);
        if (!delta) continue;
        charges.push({
          usagePeriod,
          poolId,
          site: pool.site,
          gpuType: pool.gpuType,
          poolLabel: poolLabel(pool, pools),
          gpuSeconds: delta.gpuSeconds,
          ratePerGpuHour: eur(rate),
          amount: eur(delta.amount),
          basis: heldRule ? 'held' : 'metered',
          meteredGpuSeconds: heldRule ? (metered.get(poolId) ?? 0) : null,
        });
        const next: UsageLedgerRow = {
          orgId,
          usagePeriod,
          poolId,
          gpuSeconds: delta.totalSeconds,
          amount: delta.totalAmount,
          ratePerGpuHour: rate,
          closes: { ...(row?.closes ?? {}), [period]: { gpuSeconds: delta.gpuSeconds, amount: delta.amount, invoiceId } },
          ...(heldRule ? { basis: 'held' as const } : {}),
          version: (row?.version ?? 0) + 1,
        };
        writes.push(ledgerWrite(db, next, row?.version ?? 0));
      }
    }
    return { org, charges, writes };
  }

  /** One org's usage invoice for `period`: that month's usage and, for earlier months, usage not invoiced yet. */
  async function closeOrg(orgId: string, period: string): Promise<{ invoice: Invoice | null; created: boolean }> {
    const invoiceId = usageInvoiceId(orgId, period);
    return withOptimisticRetry(async () => {
      const existing = await getInvoice(db, orgId, invoiceId);
      if (existing) return { invoice: existing, created: false };
      const now = clock();
      const { org, charges, writes } = await usageChargesOf(orgId, period, invoiceId);
      if (charges.length === 0) return { invoice: null, created: false };
      const c = await catalog.get();
      const invoice = withLineFootprints(usageInvoice({ id: invoiceId, org, period, now, stripeConfigured }, charges), (site, gpuType) => factorsFor(c, site, gpuType));
      const outbox = await outboxWrites(db, orgId, [{ type: 'invoice.created', data: toApiInvoice(invoice) }], now, ids);
      await transact(db, [
        invoiceCreate(db, invoice),
        ...writes,
        ...(stripeConfigured ? [syncMarkerPut(db, invoice.createdAt, { kind: 'INV', orgId, id: invoice.id })] : []),
        ...outbox.items,
      ]);
      return { invoice, created: true };
    }, retry);
  }

  /** What closing `period` would invoice, per org (VAT by the org's treatment), without writing anything. */
  async function previewClose(period: string) {
    assertClosable(period);
    const orgs = [];
    for (const orgId of await allOrgIds(db)) {
      const invoiceId = usageInvoiceId(orgId, period);
      const existing = await getInvoice(db, orgId, invoiceId);
      if (existing) {
        orgs.push({ orgId, orgName: existing.customer.name, alreadyInvoiced: true, invoiceId, lines: existing.lines.map((l) => ({ description: l.description, amount: l.amount })), subtotal: existing.subtotal, tax: existing.tax, total: existing.total });
        continue;
      }
      const { org, charges } = await usageChargesOf(orgId, period, invoiceId);
      if (charges.length === 0) continue;
      const draft = usageInvoice({ id: invoiceId, org, period, now: clock(), stripeConfigured }, charges);
      orgs.push({ orgId, orgName: org.name, alreadyInvoiced: false, invoiceId, lines: draft.lines.map((l) => ({ description: l.description, amount: l.amount })), subtotal: draft.subtotal, tax: draft.tax, total: draft.total });
    }
    const open = orgs.filter((o) => !o.alreadyInvoiced);
    return { period, orgs, toInvoice: { count: open.length, subtotal: sumMoney(open.map((o) => o.subtotal)), tax: sumMoney(open.map((o) => o.tax)), total: sumMoney(open.map((o) => o.total)) } };
  }

  async function closePeriod(period: string): Promise<{ period: string; created: number; invoices: Invoice[] }> {
    assertClosable(period);
    const invoices: Invoice[] = [];
    let created = 0;
    for (const orgId of await allOrgIds(db)) {
      const result = await closeOrg(orgId, period);
      if (result.created) created++;
      if (!result.invoice) continue;
      let invoice = result.invoice;
      if (invoice.stripeSync === 'pending') {
        try {
          invoice = (await pushInvoice(orgId, invoice.id)) ?? invoice;
        } catch (error) {
          logger.warn('Stripe sync of a usage invoice left to the scheduled sync', { invoiceId: invoice.id, error: describeError(error) });
          invoice = (await getInvoice(db, orgId, invoice.id)) ?? invoice;
        }
      }
      invoices.push(invoice);
    }
    logger.info('billing period closed', { period, created, invoices: invoices.length });
    return { period, created, invoices };
  }

  return {
    closePeriod,
    previewClose,
    /** The monthly job: closes the month before the clock's. */
    closePreviousPeriod: () => closePeriod(shiftPeriod(periodOf(clock()), -1)),
  };
}
