/**
 * Resale and market data in the portal (docs/resale.md): the price history of a pool, the seller's
 * listings with their fills, and "Sell unused hours" on a reservation with the expected earnings
 * shown before anything is listed.
 */
import type { FC } from 'hono/jsx';
import { eur, formatMoney } from '#domain/money.ts';
import type { Fill, Listing } from '#domain/resale.ts';
import type { Reservation } from '#domain/reservation.ts';
import { formatDay, formatUtc, plural } from '../format.ts';
import { Alert, CsrfField, InputField, MoneyText, Notice, PostButton, SelectField, StatusBadge, TableHead, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

const cents = (n: number | null) => (n === null ? '—' : formatMoney(eur(n)));

export interface PriceStatsView {
  min: number | null;
  p50: number | null;
  p95: number | null;
  max: number | null;
  count: number;
}

export interface MarketDay {
  start: string;
  listPricePerGpuHour: number;
  quotedPerGpuHour: PriceStatsView;
  bookedPerGpuHour: PriceStatsView;
  bookedGpuHours: number;
  utilizationBps: number;
  resoldGpuHours: number;
}

const W = 720;
const H = 180;
const LEFT = 56;
const TOP = 10;
const BOTTOM = 24;

/** Median booked (bars) and quoted (dots) price per GPU-hour per day, with the list price as a dashed line. */
const PriceChart: FC<{ title: string; days: MarketDay[] }> = ({ title, days }) => {
  const values = days.flatMap((d) => [d.listPricePerGpuHour, d.bookedPerGpuHour.p95 ?? 0, d.quotedPerGpuHour.p95 ?? 0]);
  const max = Math.max(1, ...values);
  const step = (W - LEFT) / Math.max(1, days.length);
  const y = (v: number) => TOP + H - Math.round((v / max) * H);
  const booked = days.filter((d) => d.bookedPerGpuHour.count > 0);
  const summary =
    booked.length === 0
      ? `No bookings in these ${plural(days.length, 'day')}; list price ${cents(days[0]?.listPricePerGpuHour ?? null)} per GPU-hour.`
      : `Booked on ${plural(booked.length, 'day')} of ${days.length}; median booked price from ${cents(Math.min(...booked.map((d) => d.bookedPerGpuHour.p50!)))} to ${cents(Math.max(...booked.map((d) => d.bookedPerGpuHour.p50!)))} per GPU-hour; list price ${cents(days[0]?.listPricePerGpuHour ?? null)}.`;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${TOP + H + BOTTOM}`} role="img" aria-labelledby="price-chart-title" aria-describedby="price-chart-desc" xmlns="http://www.w3.org/2000/svg">
        <title id="price-chart-title">{title}</title>
        <desc id="price-chart-desc">{summary}</desc>
        <line x1={LEFT - 2} y1={TOP} x2={LEFT - 2} y2={TOP + H} stroke="#8c959f" />
        <line x1={LEFT - 2} y1={TOP + H} x2={W} y2={TOP + H} stroke="#8c959f" />
        <text x={LEFT - 6} y={TOP + 10} text-anchor="end" font-size="10" fill="#55606e">
          {cents(max)}
        </text>
        <text x={LEFT - 6} y={TOP + H} text-anchor="end" font-size="10" fill="#55606e">
          €0
        </text>
        {days.map((d, i) => {
          const x = LEFT + i * step;
          const p50 = d.bookedPerGpuHour.p50;
          return (
            <g>
              {p50 !== null ? (
                <rect x={x + 1} y={y(p50)} width={Math.max(1, step - 2)} height={TOP + H - y(p50)} fill="#0b5cad">
                  <title>{`${formatDay(d.start)}: median booked ${cents(p50)} per GPU-hour (${plural(d.bookedPerGpuHour.count, 'booking')})`}</title>
                </rect>
              ) : null}
              {d.quotedPerGpuHour.p50 !== null ? (
                <circle cx={x + step / 2} cy={y(d.quotedPerGpuHour.p50)} r="2.5" fill="#7c2d12">
                  <title>{`${formatDay(d.start)}: median quoted ${cents(d.quotedPerGpuHour.p50)} per GPU-hour`}</title>
                </circle>
              ) : null}
              {i % 7 === 0 ? (
                <text x={x + step / 2} y={TOP + H + 15} text-anchor="middle" font-size="9" fill="#55606e">
                  {formatDay(d.start).slice(5)}
                </text>
              ) : null}
            </g>
          );
        })}
        {days.length > 0 ? <line x1={LEFT - 2} y1={y(days[0]!.listPricePerGpuHour)} x2={W} y2={y(days[0]!.listPricePerGpuHour)} stroke="#b45309" stroke-dasharray="4 3" /> : null}
      </svg>
      <figcaption>{`${summary} Bars: median booked price; dots: median quoted price; dashed line: list price.`}</figcaption>
    </figure>
  );
};

export interface MarketPageProps {
  viewer: Viewer;
  pools: { id: string; site: string; gpuType: string; label: string }[];
  poolId: string;
  days: MarketDay[];
  from: string;
  to: string;
}

export const MarketPage: FC<MarketPageProps> = (p) => {
  const pool = p.pools.find((x) => x.id === p.poolId);
  return (
    <Layout title="Market prices" viewer={p.viewer} current="market">
      <p>
        What GPU-hours were quoted and booked for, per day, from the market's rollups (no org is named). Resold GPU-hours are hours customers sold back through
        listings.
      </p>
      <form method="get" action="/market" class="inline-form">
        <SelectField id="pool" name="pool" label="Pool" value={p.poolId} options={p.pools.map((x) => ({ value: x.id, text: x.label }))} />
        <button type="submit">Show</button>
      </form>
      {pool ? (
        <section aria-labelledby="history-heading">
          <h2 id="history-heading">{`${pool.label}: ${formatDay(p.from)} to ${formatDay(p.to)} (UTC days)`}</h2>
          <PriceChart title={`Price per GPU-hour, ${pool.label}`} days={p.days} />
          <div class="table-wrap">
            <table>
              <caption>Price per GPU-hour by day (excluding VAT)</caption>
              <TableHead
                columns={[
                  'Day',
                  { num: 'List' },
                  { num: 'Quoted p50 (n)' },
                  { num: 'Booked min / p50 / p95 / max' },
                  { num: 'Bookings' },
                  { num: 'Booked GPU-h' },
                  { num: 'Utilization' },
                  { num: 'Resold GPU-h' },
                ]}
              />
              <tbody>
                {p.days.map((d) => (
                  <tr>
                    <th scope="row">{formatDay(d.start)}</th>
                    <td class="num">{cents(d.listPricePerGpuHour)}</td>
                    <td class="num">{`${cents(d.quotedPerGpuHour.p50)} (${d.quotedPerGpuHour.count})`}</td>
                    <td class="num">
                      {d.bookedPerGpuHour.count === 0
                        ? '—'
                        : `${cents(d.bookedPerGpuHour.min)} / ${cents(d.bookedPerGpuHour.p50)} / ${cents(d.bookedPerGpuHour.p95)} / ${cents(d.bookedPerGpuHour.max)}`}
                    </td>
                    <td class="num">{String(d.bookedPerGpuHour.count)}</td>
                    <td class="num">{d.bookedGpuHours.toLocaleString('en-US')}</td>
                    <td class="num">{`${(d.utilizationBps / 100).toFixed(1)} %`}</td>
                    <td class="num">{d.resoldGpuHours.toLocaleString('en-US')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      ) : (
        <p>Choose a pool.</p>
      )}
    </Layout>
  );
};

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
                <td class="num">{cents(l.minPricePerGpuHour)}</td>
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
            <dd>{`${cents(p.preview.pricePerGpuHour)} per GPU-hour (${p.preview.priceBasis})`}</dd>
            <dt>Buyers pay</dt>
            <dd>{cents(p.preview.gross)}</dd>
            <dt>{`Platform fee (${(p.preview.feeBps / 100).toFixed(p.preview.feeBps % 100 === 0 ? 0 : 2)} %)`}</dt>
            <dd>{cents(p.preview.fee)}</dd>
            <dt>You earn</dt>
            <dd>
              <strong>{cents(p.preview.earnings)}</strong>
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
