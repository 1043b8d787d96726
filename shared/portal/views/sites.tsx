import type { FC } from 'hono/jsx';
import type { Catalog, Pool, Site } from '#domain/catalog.ts';
import { eur } from '#domain/money.ts';
import { formatDay } from '../format.ts';
import { AvailabilityChart } from './charts.tsx';
import { HeatLegend, HeatMap, type HeatRow } from './heatmap.tsx';
import { MoneyText, TableHead, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

export interface PoolAvailability {
  poolId: string;
  capacity: number;
  minAvailable: number;
  slots: { start: string; available: number }[];
}

const STATUS_ORDER: Record<Site['status'], number> = { active: 0, maintenance: 1, planned: 2 };
const bySiteStatusThenName = (a: Site, b: Site) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || a.name.localeCompare(b.name);

const gpuName = (catalog: Catalog, id: string) => catalog.gpuTypes.find((g) => g.id === id)?.name ?? id;

export interface SitesHeat {
  month: string;
  rows: HeatRow[];
  days: string[];
  now: Date;
  prev: string | null;
  next: string | null;
}

export const SitesPage: FC<{ viewer: Viewer; catalog: Catalog; availability: PoolAvailability[]; from: string; days: number; heat: SitesHeat }> = ({ viewer, catalog, availability, from, days, heat }) => (
  <Layout title="Sites and pools" viewer={viewer} current="sites">
    <section aria-labelledby="heat-heading">
      <h2 id="heat-heading">{`Availability in ${heat.month}`}</h2>
      <p>Each cell is a UTC day: the GPUs free in every hour of it, coloured by the share of the pool that is free. Choose a day to see its hours and book from one.</p>
      <nav class="month-nav" aria-label="Months">
        {heat.prev ? <a href={`/sites?month=${heat.prev}`}>{`Previous month (${heat.prev})`}</a> : <span class="muted">This is the current month</span>}
        {heat.next ? <a href={`/sites?month=${heat.next}`}>{`Next month (${heat.next})`}</a> : <span class="muted">Bookings open 12 months ahead</span>}
      </nav>
      <HeatLegend />
      <HeatMap catalog={catalog} rows={heat.rows} days={heat.days} now={heat.now} caption={`Free GPUs per pool and day, ${heat.month} (UTC)`} />
    </section>
    <p>{`Free GPUs per UTC day for the next ${days} days from ${formatDay(from)}. A day counts the GPUs free in every one of its hours.`}</p>
    {[...catalog.sites].sort(bySiteStatusThenName).map((site) => {
      const pools = catalog.pools.filter((p) => p.site === site.id);
      return (
        <section aria-labelledby={`site-${site.id}`}>
          <h2 id={`site-${site.id}`}>{site.name}</h2>
          <dl class="facts">
            <dt>Location</dt>
            <dd>{`${site.city}, ${site.country}`}</dd>
            <dt>Status</dt>
            <dd>{site.status}</dd>
            <dt>Power</dt>
            <dd>{`${site.powerMw} MW`}</dd>
            <dt>Cooling</dt>
            <dd>{site.cooling}</dd>
            <dt>Opens</dt>
            <dd>
              <Time iso={site.opensAt} />
            </dd>
          </dl>
          {pools.length === 0 ? (
            <p>No GPU pools at this site yet.</p>
          ) : (
            <>
              <table>
                <caption>{`GPU pools at ${site.name}`}</caption>
                <TableHead
                  columns={[
                    'GPU type',
                    { num: 'Total GPUs' },
                    'Booked in',
                    { num: 'On-demand per GPU-hour' },
                    { num: 'Reserved per GPU-hour (before discounts)' },
                    { num: `Free in every hour, next ${days} days` },
                  ]}
                />
                <tbody>
                  {pools.map((pool) => (
                    <PoolRow pool={pool} catalog={catalog} availability={availability.find((a) => a.poolId === pool.id)} />
                  ))}
                </tbody>
              </table>
              {pools.map((pool) => {
                const a = availability.find((x) => x.poolId === pool.id);
                const name = gpuName(catalog, pool.gpuType);
                return (
                  <section aria-labelledby={`pool-${pool.id}`}>
                    <h3 id={`pool-${pool.id}`}>{`${name} at ${site.name}`}</h3>
                    {a ? <AvailabilityChart id={`avail-${pool.id}`} title={`Availability of ${name} at ${site.name}: free GPUs per day`} capacity={a.capacity} slots={a.slots} /> : null}
                    <p>
                      <a href={`/book?site=${encodeURIComponent(site.id)}&gpuType=${encodeURIComponent(pool.gpuType)}`}>{`Get a price for ${name} at ${site.name}`}</a>
                    </p>
                  </section>
                );
              })}
            </>
          )}
        </section>
      );
    })}
  </Layout>
);

const PoolRow: FC<{ pool: Pool; catalog: Catalog; availability: PoolAvailability | undefined }> = ({ pool, catalog, availability }) => (
  <tr>
    <th scope="row">{gpuName(catalog, pool.gpuType)}</th>
    <td class="num">{pool.totalGpus.toLocaleString('en-US')}</td>
    <td>{`steps of ${pool.stepGpus} GPUs (at least ${pool.minGpus}; ${pool.gpusPerNode} per node)`}</td>
    <td class="num">
      <MoneyText value={pool.onDemandRate} />
    </td>
    <td class="num">
      <MoneyText value={eur(pool.priceBook.reservedRatePerGpuHour)} />
    </td>
    <td class="num">{availability ? availability.minAvailable.toLocaleString('en-US') : '—'}</td>
  </tr>
);
