/**
 * Resale in the portal (docs/resale.md): the seller's listings with their fills, and "Sell unused
 * hours" on a reservation with the expected earnings shown before anything is listed.
 */
import type { FC } from 'hono/jsx';
import { formatMoney } from '#domain/money.ts';
import type { Fill, Listing } from '#domain/resale.ts';
import type { Reservation } from '#domain/reservation.ts';
import { formatCents, formatUtc } from '../format.ts';
import { Alert, CsrfField, InputField, MoneyText, Notice, PostButton, StatusBadge, TableHead, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

const FillRow: FC<{ fill: Fill }> = ({ fill }) => (
  <li>
    {`${fill.gpuHours.toLocaleString('en-US')} GPU-hours, ${fill.settled ? 'sold' : 'held by a buyer (not yet confirmed)'} `}
    <Time iso={fill.at} />
    {fill.settled && fill.gross && fill.fee && fill.earnings ? ` — buyer's price ${formatMoney(fill.gross)}, fee ${formatMoney(fill.fee)}, your earnings ${formatMoney(fill.earnings)}` : ''}
  </li>
);

export const ListingsPage: FC<{ viewer: Viewer; listings: Listing[]; notice: string | null; alerts: string[]; now: Date }> = (p) => (
  <Layout title="Listings" viewer={p.viewer} current="listings">
    <p>
      Hours of your reservations you put up for resale. Other orgs' bookings take them through the normal quote and reservation path; each sold GPU-hour earns the
      buyer's price minus the platform fee, credited on your invoice for that reservation. Sell hours from a reservation's page.
    </p>
    {p.notice ? <Notice>{p.notice}</Notice> : null}
    {p.alerts.length > 0 ? <Alert messages={p.alerts} /> : null}
    {p.listings.length === 0 ? (
      <p>No listings yet.</p>
    ) : (
      <div class="table-wrap">
        <table>
          <caption>Your listings, newest first</caption>
          <TableHead
            columns={[
              'Listing',
              'Reservation',
              'Hours (UTC)',
              { num: 'GPUs' },
              { num: 'Minimum / GPU-h' },
              'Status',
              { num: 'Sold GPU-h' },
              { num: 'Earnings' },
              'Sales',
              'Action',
            ]}
          />
          <tbody>
            {p.listings.map((l) => (
              <tr>
                <th scope="row">{l.id}</th>
                <td>
                  <a href={`/reservations/${encodeURIComponent(l.reservationId)}`}>{l.reservationId}</a>
                </td>
                <td>{`${formatUtc(l.start)} → ${formatUtc(l.end)}`}</td>
                <td class="num">{String(l.gpus)}</td>
                <td class="num">{formatCents(l.minPricePerGpuHour)}</td>
                <td>
                  <StatusBadge status={l.status} />
                </td>
                <td class="num">{l.soldGpuHours.toLocaleString('en-US')}</td>
                <td class="num">
                  <MoneyText value={l.earnings} />
                </td>
                <td>{l.fills.length === 0 ? 'None yet' : <ul>{l.fills.map((f) => <FillRow fill={f} />)}</ul>}</td>
                <td>
                  {l.status === 'open' && new Date(l.start) > p.now ? (
                    <PostButton action={`/listings/${encodeURIComponent(l.id)}/withdraw`} csrf={p.viewer.csrfToken} label={`Withdraw ${l.id}`} className="danger" />
                  ) : (
                    '—'
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
  </Layout>
);

export interface SellForm {
  start: string;
  end: string;
  gpus: string;
  minPrice: string;
}

export interface SellPreview {
  gpuHours: number;
  pricePerGpuHour: number;
  priceBasis: string;
  gross: number;
  fee: number;
  feeBps: number;
  earnings: number;
}

export const SellPage: FC<{
  viewer: Viewer;
  reservation: Reservation;
  stepGpus: number;
  form: SellForm;
  errors: Partial<Record<keyof SellForm, string>>;
  alerts: string[];
  preview: SellPreview | null;
}> = (p) => {
  const r = p.reservation;
  const action = `/reservations/${encodeURIComponent(r.id)}/sell`;
  return (
    <Layout title="Sell unused hours" viewer={p.viewer} current="listings">
      <p>
        {`${r.id}: ${r.gpus} GPUs, ${formatUtc(r.start)} → ${r.end ? formatUtc(r.end) : '—'}. List whole future hours inside it and a number of GPUs in steps of ${p.stepGpus}; other orgs can then book them. What is not sold stays yours, and you can withdraw the listing until its window starts.`}
      </p>
      {p.alerts.length > 0 ? <Alert messages={p.alerts} /> : null}
      {p.preview ? (
        <section aria-labelledby="preview-heading">
          <h2 id="preview-heading">Expected earnings</h2>
          <dl>
            <dt>GPU-hours listed</dt>
            <dd>{p.preview.gpuHours.toLocaleString('en-US')}</dd>
            <dt>If all are sold at</dt>
            <dd>{`${formatCents(p.preview.pricePerGpuHour)} per GPU-hour (${p.preview.priceBasis})`}</dd>
            <dt>Buyers pay</dt>
            <dd>{formatCents(p.preview.gross)}</dd>
            <dt>{`Platform fee (${(p.preview.feeBps / 100).toFixed(p.preview.feeBps % 100 === 0 ? 0 : 2)} %)`}</dt>
            <dd>{formatCents(p.preview.fee)}</dd>
            <dt>You earn</dt>
            <dd>
              <strong>{formatCents(p.preview.earnings)}</strong>
              {' excluding VAT, credited on your invoice for this reservation as each sale is confirmed'}
            </dd>
          </dl>
          <form method="post" action={action}>
            <CsrfField token={p.viewer.csrfToken} />
            <input type="hidden" name="start" value={p.form.start} />
            <input type="hidden" name="end" value={p.form.end} />
            <input type="hidden" name="gpus" value={p.form.gpus} />
            <input type="hidden" name="minPrice" value={p.form.minPrice} />
            <input type="hidden" name="step" value="confirm" />
            <div class="buttons">
              <button type="submit">List these hours</button>
              <a href={action}>Change</a>
            </div>
          </form>
        </section>
      ) : null}
      <form method="post" action={action} novalidate>
        <CsrfField token={p.viewer.csrfToken} />
        <input type="hidden" name="step" value="preview" />
        <InputField id="start" name="start" label="From (UTC)" type="datetime-local" step="3600" value={p.form.start} error={p.errors.start} hint="A whole hour, in the future, inside the reservation" />
        <InputField id="end" name="end" label="To (UTC)" type="datetime-local" step="3600" value={p.form.end} error={p.errors.end} hint="A whole hour, at most the reservation's end" />
        <InputField id="gpus" name="gpus" label="GPUs" type="number" min={String(p.stepGpus)} max={String(r.gpus)} step={String(p.stepGpus)} value={p.form.gpus} error={p.errors.gpus} />
        <InputField
          id="minPrice"
          name="minPrice"
          label="Minimum price per GPU-hour (EUR, optional)"
          type="text"
          inputmode="text"
          value={p.form.minPrice}
          error={p.errors.minPrice}
          hint="No booking paying less per GPU-hour takes these hours; leave empty for none"
        />
        <div class="buttons">
          <button type="submit">Preview earnings</button>
        </div>
      </form>
    </Layout>
  );
};
