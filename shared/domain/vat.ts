/**
 * VAT for a French seller of GPU capacity (a service supplied to the customer). See docs/pricing.md.
 *
 * - France (and Monaco, which is inside the French VAT territory): French VAT 20 %, VAT number or not.
 * - Another EU member state, with a VAT number (a business): reverse charge, 0 %, with the legal mention.
 * - Another EU member state, without a VAT number: French VAT 20 % ('eu_vat'). The product sells to
 *   businesses; a customer without a VAT number is taxed as if the service were supplied in France.
 * - Outside the EU: no French VAT ('export_none'), with the legal mention.
 *
 * VAT on an invoice is computed once, on its subtotal: tax = round_half_up(subtotal × rate), total =
 * subtotal + tax. Each line shows its share of that VAT (`lineTaxes`), and those shares are what
 * Stripe is sent as the lines' tax amounts, so Stripe's total VAT is ours to the cent (Stripe's own
 * tax rates would round per line instead). See docs/pricing.md.
 */
import { addMoney, applyBps, eur, sumMoney, type Money } from './money.ts';

export type TaxTreatment = 'fr_vat' | 'eu_reverse_charge' | 'eu_vat' | 'export_none';

export interface TaxDetermination {
  treatment: TaxTreatment;
  rateBps: number;
  legalMention: string | null;
}

export interface InvoiceTotals {
  subtotal: Money;
  tax: Money;
  total: Money;
}

/** The 27 EU member states, ISO 3166-1 alpha-2 (Greece is GR; its VAT prefix EL is accepted as an alias). */
export const EU_COUNTRIES: readonly string[] = Object.freeze([
  'AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GR', 'HR', 'HU',
  'IE', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL', 'PT', 'RO', 'SE', 'SI', 'SK',
]);

export const FRENCH_VAT_RATE_BPS = 2000;

export const REVERSE_CHARGE_MENTION = 'Autoliquidation / VAT reverse charge — Article 196 of Council Directive 2006/112/EC';
export const EXPORT_MENTION = 'VAT not applicable — Article 259-1 of the French CGI';

/** Countries taxed as France: Monaco belongs to the French VAT territory. */
const FRENCH_VAT_TERRITORY: readonly string[] = ['FR', 'MC'];

const normalizeCountry = (country: string): string => {
  const code = country.trim().toUpperCase();
  if (!/^[A-Z]{2}$/.test(code)) throw new RangeError(`country must be an ISO 3166-1 alpha-2 code, got "${country}"`);
  return code === 'EL' ? 'GR' : code;
};

export const isEuCountry = (country: string): boolean => EU_COUNTRIES.includes(normalizeCountry(country));

/**
 * How an invoice to this customer is taxed. `country` is ISO 3166-1 alpha-2 (case-insensitive); a VAT
 * number counts when it is non-blank (its validity, e.g. through VIES, is checked where the org is created).
 */
export const taxTreatmentFor = (customer: { country: string; vatNumber?: string | null }): TaxDetermination => {
  const country = normalizeCountry(customer.country);
  const hasVatNumber = (customer.vatNumber ?? '').trim() !== '';
  if (FRENCH_VAT_TERRITORY.includes(country)) return { treatment: 'fr_vat', rateBps: FRENCH_VAT_RATE_BPS, legalMention: null };
  if (EU_COUNTRIES.includes(country)) {
    return hasVatNumber
      ? { treatment: 'eu_reverse_charge', rateBps: 0, legalMention: REVERSE_CHARGE_MENTION }
      : { treatment: 'eu_vat', rateBps: FRENCH_VAT_RATE_BPS, legalMention: null };
  }
  return { treatment: 'export_none', rateBps: 0, legalMention: EXPORT_MENTION };
};

const assertRate = (rateBps: number): void => {
  if (!Number.isSafeInteger(rateBps) || rateBps < 0) throw new RangeError(`rateBps must be a non-negative integer, got ${rateBps}`);
};

/** VAT on a subtotal: round_half_up(subtotal × rateBps / 10000), rounded once. A negative subtotal carries negative VAT. */
export const taxOnSubtotal = (subtotal: Money, rateBps: number): Money => {
  assertRate(rateBps);
  return eur(applyBps(subtotal.amount, rateBps));
};

/** subtotal = Σ lines; tax = taxOnSubtotal(subtotal) (once, on the whole); total = subtotal + tax, exactly. */
export const invoiceTotals = (lines: readonly Money[], rateBps: number): InvoiceTotals => {
  const subtotal = sumMoney(lines);
  const tax = taxOnSubtotal(subtotal, rateBps);
  return { subtotal, tax, total: addMoney(subtotal, tax) };
};

/**
 * The invoice's VAT shared over its lines, for showing per line and for sending to Stripe: each line
 * gets round_half_up(line × rate), and the difference to the invoice's VAT (at most half a cent per
 * line) goes to the first line of the largest amount. The shares sum to `invoiceTotals(...).tax`
 * exactly.
 */
export const lineTaxes = (lines: readonly Money[], rateBps: number): Money[] => {
  const { tax } = invoiceTotals(lines, rateBps);
  const shares = lines.map((line) => applyBps(line.amount, rateBps));
  if (shares.length === 0) return [];
  const largest = lines.reduce((best, line, index) => (line.amount > lines[best]!.amount ? index : best), 0);
  shares[largest] = shares[largest]! + (tax.amount - shares.reduce((a, b) => a + b, 0));
  return shares.map(eur);
};
