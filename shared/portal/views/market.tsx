/**
 * Market data in the portal (docs/resale.md): the price history of a pool (list, quoted and booked
 * prices, utilization, resold hours). The seller's listings and "Sell unused hours" are in resale.tsx.
 */
import type { FC } from 'hono/jsx';
import { formatCents, formatDay, plural } from '../format.ts';
import { SelectField, TableHead } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

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
      ? `No bookings in these ${plural(days.length, 'day')}; list price ${formatCents(days[0]?.listPricePerGpuHour ?? null)} per GPU-hour.`
      : `Booked on ${plural(booked.length, 'day')} of ${days.length}; median booked price from ${formatCents(Math.min(...booked.map((d) => d.bookedPerGpuHour.p50!)))} to ${formatCents(Math.max(...booked.map((d) => d.bookedPerGpuHour.p50!)))} per GPU-hour; list price ${formatCents(days[0]?.listPricePerGpuHour ?? null)}.`;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${TOP + H + BOTTOM}`} role="img" aria-labelledby="price-chart-title" aria-describedby="price-chart-desc" xmlns="http://www.w3.org/2000/svg">
        <title id="price-chart-title">{title}</title>
        <desc id="price-chart-desc">{summary}</desc>
        <line x1={LEFT - 2} y1={TOP} x2={LEFT - 2} y2={TOP + H} stroke="#8c959f" />
        <line x1={LEFT - 2} y1={TOP + H} x2={W} y2={TOP + H} stroke="#8c959f" />
        <text x={LEFT - 6} y={TOP + 10} text-anchor="end" font-size="10" fill="#55606e">
          {formatCents(max)}
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
                  <title>{`${formatDay(d.start)}: median booked ${formatCents(p50)} per GPU-hour (${plural(d.bookedPerGpuHour.count, 'booking')})`}</title>
                </rect>
              ) : null}
              {d.quotedPerGpuHour.p50 !== null ? (
                <circle cx={x + step / 2} cy={y(d.quotedPerGpuHour.p50)} r="2.5" fill="#7c2d12">
                  <title>{`${formatDay(d.start)}: median quoted ${formatCents(d.quotedPerGpuHour.p50)} per GPU-hour`}</title>
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
                    <td class="num">{formatCents(d.listPricePerGpuHour)}</td>
                    <td class="num">{`${formatCents(d.quotedPerGpuHour.p50)} (${d.quotedPerGpuHour.count})`}</td>
                    <td class="num">
                      {d.bookedPerGpuHour.count === 0
                        ? '—'
                        : `${formatCents(d.bookedPerGpuHour.min)} / ${formatCents(d.bookedPerGpuHour.p50)} / ${formatCents(d.bookedPerGpuHour.p95)} / ${formatCents(d.bookedPerGpuHour.max)}`}
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
