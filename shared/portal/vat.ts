/**
 * The VAT the signed-in org pays on amounts excluding VAT, by the rule its invoices follow
 * (shared/domain/vat.ts): the Book page's quote, Find capacity's offers, the extend and cancel
 * previews, the on-demand form.
 */
import type { Money } from '#domain/money.ts';
import { invoiceTotals, taxTreatmentFor } from '#domain/vat.ts';
import type { Db } from '#store/db.ts';
import { getOrg } from '#store/orgs.ts';

export interface TaxedAmount {
  rateBps: number;
  subtotal: Money;
  tax: Money;
  total: Money;
  mention: string | null;
}

export interface OrgTax {
  rateBps: number;
  legalMention: string | null;
}

/** What an org that is not found pays: no VAT, no mention. */
export const NO_TAX: OrgTax = { rateBps: 0, legalMention: null };

/** The org's VAT rate and legal mention; null when the org is not found. */
export async function orgTaxOf(db: Db, orgId: string): Promise<OrgTax | null> {
  const org = await getOrg(db, orgId);
  return org ? taxTreatmentFor(org) : null;
}

/** `amounts` (excluding VAT) with the VAT at `tax`'s rate. */
export function taxed(tax: OrgTax, amounts: Money[]): TaxedAmount {
  return { rateBps: tax.rateBps, ...invoiceTotals(amounts, tax.rateBps), mention: tax.legalMention };
}

/** `amounts` with the VAT the org pays (none when it is not found). */
export async function taxedFor(db: Db, orgId: string, amounts: Money[]): Promise<TaxedAmount> {
  return taxed((await orgTaxOf(db, orgId)) ?? NO_TAX, amounts);
}
