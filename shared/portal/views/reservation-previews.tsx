/** The previews of what changing a reservation moves (extend: the extra hours' price; cancel: the refund), each confirmed with a POST. */
import type { FC } from 'hono/jsx';
import type { Catalog } from '#domain/catalog.ts';
import { formatMoney, type Money } from '#domain/money.ts';
import type { Refund, Reservation } from '#domain/reservation.ts';
import { formatUtc, poolName } from '../format.ts';
import type { TaxedAmount } from '../vat.ts';
import { PostButton, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';
import { PriceLines, vatTotals } from './price-lines.tsx';

/** Extend, step 2: the extra hours' price lines and VAT, and a button to confirm. */
export const ExtendPreviewPage: FC<{
  viewer: Viewer;
  catalog: Catalog;
  reservation: Reservation;
  extension: { start: string; end: string; gpuHours: number; lines: { description: string; amount: Money }[]; price: Money };
  tax: TaxedAmount;
  endValue: string;
}> = (p) => {
  const r = p.reservation;
  return (
    <Layout title={`Extend ${r.id}`} viewer={p.viewer} current="reservations">
      <section class="preview" aria-labelledby="preview-heading">
        <h2 id="preview-heading">Price of the extension</h2>
        <p>
          {`${r.gpus} GPUs of ${poolName(p.catalog, r)} from `}
          <Time iso={p.extension.start} />
          {' to '}
          <Time iso={p.extension.end} />
          {` (${p.extension.gpuHours.toLocaleString('en-US')} GPU-hours).`}
        </p>
        <PriceLines caption="Extension price lines" lines={p.extension.lines} totals={vatTotals(p.tax)} mention={p.tax.mention} />
        <p>{r.status === 'held' ? 'The hold is extended now; it is invoiced with the reservation on Confirm.' : `On confirmation an extension invoice of ${formatMoney(p.tax.total)} including VAT is issued.`}</p>
        <div class="buttons">
          <PostButton action={`/reservations/${encodeURIComponent(r.id)}/extend`} csrf={p.viewer.csrfToken} label="Confirm extension" hidden={{ end: p.endValue, from: 'detail' }} />
          <a href={`/reservations/${encodeURIComponent(r.id)}`}>Back without extending</a>
        </div>
      </section>
    </Layout>
  );
};

/** Cancel, step 2: the refund by the policy (amount and rule), and a button to confirm. */
export const CancelPreviewPage: FC<{ viewer: Viewer; catalog: Catalog; reservation: Reservation; refund: Refund; refundTax: TaxedAmount | null; policy: string }> = (p) => {
  const r = p.reservation;
  return (
    <Layout title={`Cancel ${r.id}`} viewer={p.viewer} current="reservations">
      <section class="preview" aria-labelledby="preview-heading">
        <h2 id="preview-heading">What cancelling now refunds</h2>
        <dl class="facts">
          <dt>Reservation</dt>
          <dd>{`${r.gpus} GPUs of ${poolName(p.catalog, r)}, ${formatUtc(r.start)} to ${r.end ? formatUtc(r.end) : '—'}`}</dd>
          <dt>Paid</dt>
          <dd>{r.status === 'held' ? 'nothing (held, not confirmed)' : `${r.price ? formatMoney(r.price) : '—'} excluding VAT`}</dd>
          <dt>Refund</dt>
          <dd>
            <strong>{`${formatMoney(p.refund.amount)} excluding VAT (${p.refund.percent} %)`}</strong>
            {p.refundTax && p.refund.amount.amount > 0 ? ` + VAT ${formatMoney(p.refundTax.tax)} = ${formatMoney(p.refundTax.total)}, issued as a credit note` : ''}
          </dd>
          <dt>Rule</dt>
          <dd>{p.refund.rule}</dd>
        </dl>
        <p class="hint">{p.policy}</p>
        <div class="buttons">
          <PostButton action={`/reservations/${encodeURIComponent(r.id)}/cancel`} csrf={p.viewer.csrfToken} label="Confirm cancellation" className="danger" hidden={{ from: 'detail' }} />
          <a href={`/reservations/${encodeURIComponent(r.id)}`}>Keep the reservation</a>
        </div>
      </section>
    </Layout>
  );
};
