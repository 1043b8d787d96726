/**
 * Capacity as a heat map: pools × days, each cell coloured by the share of the pool's GPUs free all
 * day and labelled with the free count; a cell links to that day's hours. Days before a planned
 * pool opens are drawn as not bookable.
 */
import type { FC } from 'hono/jsx';
import type { Catalog, Pool } from '#domain/catalog.ts';
import { formatUtc, poolName } from '../format.ts';
import { Layout, type Viewer } from './layout.tsx';
import { TableHead } from './components.tsx';

export interface HeatRow {
  pool: Pool;
  slots: { start: string; available: number }[];
}

const count = (n: number) => n.toLocaleString('en-US');
const WEEKDAY = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** The colour class of a free share: 5 steps, each with text that keeps a 4.5:1 contrast. */
export function heatLevel(available: number, capacity: number): string {
  if (capacity <= 0 || available <= 0) return 'heat-0';
  const share = available / capacity;
  return share >= 0.75 ? 'heat-4' : share >= 0.5 ? 'heat-3' : share >= 0.25 ? 'heat-2' : 'heat-1';
}

export const HeatLegend: FC = () => (
  <ul class="heat-legend" aria-label="Colour key">
    <li>
      <span class="heat-4">≥ 75 % free</span>
    </li>
    <li>
      <span class="heat-3">50–74 %</span>
    </li>
    <li>
      <span class="heat-2">25–49 %</span>
    </li>
    <li>
      <span class="heat-1">under 25 %</span>
    </li>
    <li>
      <span class="heat-0">none free</span>
    </li>
    <li>
      <span class="heat-closed">not bookable (before opening, or past)</span>
    </li>
  </ul>
);

export const HeatMap: FC<{ catalog: Catalog; rows: HeatRow[]; days: string[]; now: Date; caption: string }> = ({ catalog, rows, days, now, caption }) => (
  <div class="heat-wrap">
    <table class="heat">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Pool</th>
          {days.map((d) => (
            <th scope="col" class="heat-day">
              <abbr title={d}>{d.slice(8, 10)}</abbr>
              <span class="heat-wd">{WEEKDAY[new Date(`${d}T00:00:00Z`).getUTCDay()]!.slice(0, 2)}</span>
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => {
          const title = poolName(catalog, row.pool);
          const opens = Date.parse(row.pool.bookableFrom);
          return (
            <tr>
              <th scope="row">{title}</th>
              {days.map((d) => {
                const dayStart = Date.parse(`${d}T00:00:00Z`);
                const slot = row.slots.find((s) => s.start.slice(0, 10) === d);
                const closed = dayStart + 86_400_000 <= opens || dayStart + 86_400_000 <= now.getTime() || !slot;
                if (closed) {
                  return (
                    <td class="heat-closed">
                      <span aria-label={`${d}: ${title} not bookable`}>–</span>
                    </td>
                  );
                }
                return (
                  <td class={heatLevel(slot.available, row.pool.totalGpus)}>
                    <a href={`/sites/day?pool=${encodeURIComponent(row.pool.id)}&date=${d}`} aria-label={`${d}: ${count(slot.available)} of ${count(row.pool.totalGpus)} GPUs of ${title} free all day`}>
                      {slot.available >= 1000 ? `${Math.floor(slot.available / 100) / 10}k` : String(slot.available)}
                    </a>
                  </td>
                );
              })}
            </tr>
          );
        })}
      </tbody>
    </table>
  </div>
);

/** One pool's day, hour by hour, with a link to book from each free hour. */
export const DayPage: FC<{ viewer: Viewer; catalog: Catalog; pool: Pool; date: string; slots: { start: string; available: number }[]; now: Date }> = (p) => {
  const title = poolName(p.catalog, p.pool);
  const opens = Date.parse(p.pool.bookableFrom);
  const prev = new Date(Date.parse(`${p.date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
  const next = new Date(Date.parse(`${p.date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  return (
    <Layout title={`${title} on ${p.date}`} viewer={p.viewer} current="sites">
      <p>
        {`Free GPUs per hour (UTC) of ${count(p.pool.totalGpus)}. Booked in whole nodes of ${p.pool.stepGpus}. `}
        <a href={`/sites/day?pool=${encodeURIComponent(p.pool.id)}&date=${prev}`}>{`Previous day (${prev})`}</a>
        {' · '}
        <a href={`/sites/day?pool=${encodeURIComponent(p.pool.id)}&date=${next}`}>{`Next day (${next})`}</a>
        {' · '}
        <a href={`/sites?month=${p.date.slice(0, 7)}`}>{`Back to ${p.date.slice(0, 7)}`}</a>
      </p>
      <table class="heat-hours">
        <caption>{`Hours of ${p.date}`}</caption>
        <TableHead columns={['Hour (UTC)', { num: 'Free GPUs' }, 'Book']} />
        <tbody>
          {p.slots.map((s) => {
            const t = Date.parse(s.start);
            const bookable = t > p.now.getTime() && t >= opens && s.available >= p.pool.minGpus;
            const end = new Date(t + 24 * 3_600_000).toISOString().slice(0, 16);
            return (
              <tr>
                <th scope="row">{formatUtc(s.start)}</th>
                <td class={`num ${t >= opens && t > p.now.getTime() ? heatLevel(s.available, p.pool.totalGpus) : 'heat-closed'}`}>{t >= opens ? count(s.available) : 'not open'}</td>
                <td>
                  {bookable ? (
                    <a href={`/book?site=${encodeURIComponent(p.pool.site)}&gpuType=${encodeURIComponent(p.pool.gpuType)}&gpus=${p.pool.minGpus}&start=${s.start.slice(0, 16)}&end=${end}`}>
                      {`Book from ${s.start.slice(11, 16)}`}
                    </a>
                  ) : (
                    '—'
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </Layout>
  );
};
