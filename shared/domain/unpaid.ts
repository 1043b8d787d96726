/**
 * Unpaid invoices release capacity (issue 15, hoarding; docs/billing.md "Unpaid invoices release
 * capacity"): a confirmed booking whose invoice is still open when its payment terms and a grace have
 * passed gives its future hours back to the market.
 */
const DAY_MS = 86_400_000;

/** Payment terms of our invoices: Stripe's `days_until_due` (stripe-gateway.ts's default). */
export const PAYMENT_TERMS_DAYS = 30;
/** Days after the due date before the capacity is released: time for a late transfer to land. */
export const RELEASE_GRACE_DAYS = 7;

/** When an invoice finalized at `finalizedAt` and still open releases its booking's capacity. */
export const releaseAt = (finalizedAt: string): Date => new Date(new Date(finalizedAt).getTime() + (PAYMENT_TERMS_DAYS + RELEASE_GRACE_DAYS) * DAY_MS);

/** The latest finalization time whose open invoices release their capacity at `now`. */
export const finalizedReleasableBy = (now: Date): string => new Date(now.getTime() - (PAYMENT_TERMS_DAYS + RELEASE_GRACE_DAYS) * DAY_MS).toISOString();
