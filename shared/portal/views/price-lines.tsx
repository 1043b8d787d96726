/**
 * The one price-line table of the portal: a quote's, an extension preview's, an invoice's and the
 * monthly close preview's lines, each a row named by its description with its amount, optionally its
 * GPU-hours and unit price, then the totals rows the page passes (subtotal, VAT, total, credit notes…)
 * and the legal mention. Every page that shows price lines uses it, so they read the same everywhere.
 */
import type { FC } from 'hono/jsx';
import type { Money } from '#domain/money.ts';
import { MoneyText } from './components.tsx';

export interface PriceLineRow {
  description: string;
  amount: Money;
  /** With `detail`: GPU-seconds the line charges (null for discounts). */
  gpuSeconds?: number | null | undefined;
  /** With `detail`: price per GPU-hour (null for discount and utilization lines). */
  unitPrice?: Money | null | undefined;
}

export interface TotalRow {
  label: string;
  amount: Money;
  /** The row that is the answer (bold). */
  strong?: boolean;
}

const gpuHours = (gpuSeconds: number | null | undefined) =>
  gpuSeconds !== null && gpuSeconds !== undefined ? (gpuSeconds / 3600).toLocaleString('en-US', { maximumFractionDigits: 2 }) : '—';

/** VAT's label: the rate, and that it is of the subtotal (docs/pricing.md: once, on the subtotal). */
export const vatLabel = (rateBps: number) => `VAT (${rateBps / 100} %)`;

/** The usual totals: subtotal excluding VAT, VAT at the rate (of the subtotal), total including VAT. */
export function vatTotals(t: { subtotal: Money; tax: Money; total: Money; rateBps: number }, subtotalLabel = 'Subtotal (excluding VAT)'): TotalRow[] {
  return [
    { label: subtotalLabel, amount: t.subtotal },
    { label: vatLabel(t.rateBps), amount: t.tax },
    { label: 'Total including VAT', amount: t.total, strong: true },
  ];
}

export const PriceLines: FC<{ caption: string; lines: PriceLineRow[]; totals: TotalRow[]; detail?: boolean; mention?: string | null | undefined }> = ({ caption, lines, totals, detail, mention }) => {
  const span = detail ? 3 : 1;
  return (
    <table class="price-lines">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Line</th>
          {detail ? (
            <>
              <th scope="col" class="num">
                GPU-hours
              </th>
              <th scope="col" class="num">
                Unit price
              </th>
            </>
          ) : null}
          <th scope="col" class="num">
            Amount
          </th>
        </tr>
      </thead>
      <tbody>
        {lines.map((l) => (
          <tr>
            <th scope="row">{l.description}</th>
            {detail ? (
              <>
                <td class="num">{gpuHours(l.gpuSeconds)}</td>
                <td class="num">
                  <MoneyText value={l.unitPrice ?? null} />
                </td>
              </>
            ) : null}
            <td class="num">
              <MoneyText value={l.amount} />
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        {totals.map((t) => (
          <tr>
            <th scope="row" colspan={span > 1 ? span : undefined}>
              {t.label}
            </th>
            <td class={t.strong ? 'num total' : 'num'}>
              <MoneyText value={t.amount} />
            </td>
          </tr>
        ))}
        {mention ? (
          <tr>
            <td colspan={span + 1} class="hint">
              {mention}
            </td>
          </tr>
        ) : null}
      </tfoot>
    </table>
  );
};
