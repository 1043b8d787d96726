/** The Find capacity page: the search form, a heat map of free GPUs per pool and day, and offer cards. */
import type { FC } from 'hono/jsx';
import type { Catalog } from '#domain/catalog.ts';
import { formatBpsAsPercent, formatMoney, type Money } from '#domain/money.ts';
import type { OfferView } from '../../services/offers.ts';
import { formatDay, formatUtc, toUtcInput } from '../format.ts';
import { Alert, CsrfField, InputField, SelectField } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

export interface FindValues {
  gpuType: string;
  gpus: string;
  durationHours: string;
  minDurationHours: string;
  maxDurationHours: string;
  earliestStart: string;
  latestEnd: string;
  sites: string[];
}

export interface HeatRow {
  poolId: string;
  siteName: string;
  capacity: number;
  /** Per day: free GPUs in every hour of the day, or null before the pool takes bookings. */
  days: (number | null)[];
  opensAt: string | null;
}

export interface HeatMap {
  from: string;
  days: number;
  rows: HeatRow[];
  earlier: string | null;
  later: string | null;
}

export interface OfferCard extends OfferView {
  siteName: string;
  vat: { rateBps: number; tax: Money; total: Money; mention: string | null };
}

export interface FindPageProps {
  viewer: Viewer;
  catalog: Catalog;
  values: FindValues;
  alerts: string[];
  searched: boolean;
  offers: OfferCard[];
  nearest: { mostGpus: string | null; earliestFit: string | null } | null;
  heat: HeatMap | null;
  /** The query string of this search, without the heat map's page, for its Earlier/Later links. */
  query: string;
}

const heatClass = (free: number | null, capacity: number): string => {
  if (free === null) return 'heat heat-closed';
  if (capacity <= 0 || free <= 0) return 'heat heat-0';
  const share = free / capacity;
  return `heat ${share >= 0.75 ? 'heat-4' : share >= 0.5 ? 'heat-3' : share >= 0.25 ? 'heat-2' : 'heat-1'}`;
};

const HeatMapTable: FC<{ heat: HeatMap; query: string; gpuName: string }> = ({ heat, query, gpuName }) => {
  const days = Array.from({ length: heat.days }, (_, i) => new Date(Date.parse(heat.from) + i * 86_400_000));
  return (
    <section aria-labelledby="heat-heading">
      <h2 id="heat-heading">Free GPUs per pool and day</h2>
      <p class="hint">{`${gpuName}: GPUs free in every hour of each UTC day, ${formatDay(heat.from)} to ${formatDay(days[days.length - 1]!)}. Darker is freer; “not yet bookable” marks days before a planned site opens.`}</p>
      <nav aria-label="Heat map months" class="buttons">
        {heat.earlier ? <a href={`/find?${query}&heat=${heat.earlier}`}>Earlier days</a> : null}
        {heat.later ? <a href={`/find?${query}&heat=${heat.later}`}>Later days</a> : null}
      </nav>
      <div class="table-wrap">
        <table class="heatmap">
          <caption>{`Free ${gpuName} GPUs per site pool and day`}</caption>
          <thead>
            <tr>
              <th scope="col">Site pool</th>
              {days.map((d) => (
                <th scope="col" class="num">
                  <abbr title={formatDay(d)}>{d.toISOString().slice(5, 10)}</abbr>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {heat.rows.map((row) => (
              <tr>
                <th scope="row">{`${row.siteName} (${row.poolId}, ${row.capacity} GPUs)`}</th>
                {row.days.map((free) => (
                  <td class={heatClass(free, row.capacity)}>{free === null ? <span title={`opens ${row.opensAt ? formatDay(row.opensAt) : ''}`}>not yet bookable</span> : String(free)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
};

const OfferCardView: FC<{ offer: OfferCard; index: number; csrf: string; gpuName: string }> = ({ offer, index, csrf, gpuName }) => (
  <article class="panel offer" aria-labelledby={`offer-${index}`}>
    <h3 id={`offer-${index}`}>{`${offer.siteName}: ${offer.gpus} × ${gpuName}, ${offer.durationHours} h from ${formatUtc(offer.start)}`}</h3>
    <dl class="facts">
      <dt>Window</dt>
      <dd>{`${formatUtc(offer.start)} → ${formatUtc(offer.end)}`}</dd>
      <dt>Pool</dt>
      <dd>{offer.poolId}</dd>
      <dt>Total (before VAT)</dt>
      <dd class="total">{formatMoney(offer.total)}</dd>
      <dt>Price per GPU-hour</dt>
      <dd>{formatMoney(offer.pricePerGpuHour)}</dd>
      <dt>{`VAT you pay (${formatBpsAsPercent(offer.vat.rateBps)} %)`}</dt>
      <dd>{`${formatMoney(offer.vat.tax)}; total with VAT ${formatMoney(offer.vat.total)}`}</dd>
    </dl>
    {offer.vat.mention ? <p class="hint">{offer.vat.mention}</p> : null}
    <form method="post" action="/book/quote" class="inline">
      <CsrfField token={csrf} />
      <input type="hidden" name="site" value={offer.site} />
      <input type="hidden" name="gpuType" value={offer.gpuType} />
      <input type="hidden" name="gpus" value={String(offer.gpus)} />
      <input type="hidden" name="start" value={toUtcInput(offer.start)} />
      <input type="hidden" name="end" value={toUtcInput(offer.end)} />
      <button type="submit" aria-describedby={`offer-${index}`}>
        Get quote
      </button>
    </form>
  </article>
);

export const FindPage: FC<FindPageProps> = (p) => {
  const gpuName = p.catalog.gpuTypes.find((g) => g.id === p.values.gpuType)?.name ?? p.values.gpuType;
  return (
    <Layout title="Find capacity" viewer={p.viewer} current="find">
      <p>Say what you need; every offer fits in every hour and is priced exactly as its quote. Times are UTC.</p>
      <Alert messages={p.alerts} />
      <form method="get" action="/find" class="stack" aria-label="Find capacity">
        <SelectField id="find-gpu-type" name="gpuType" label="GPU type" value={p.values.gpuType} options={p.catalog.gpuTypes.map((g) => ({ value: g.id, text: g.name }))} />
        <InputField id="find-gpus" name="gpus" label="GPUs" type="number" min="1" step="1" value={p.values.gpus} hint="Whole nodes: a multiple of 8" />
        <InputField id="find-duration" name="durationHours" label="Duration (hours)" type="number" min="1" max="8760" step="1" value={p.values.durationHours} hint="Or leave empty and give a range below" />
        <fieldset>
          <legend>Or a range of durations</legend>
          <InputField id="find-min-duration" name="minDurationHours" label="Shortest (hours)" type="number" min="1" max="8760" step="1" value={p.values.minDurationHours} />
          <InputField id="find-max-duration" name="maxDurationHours" label="Longest (hours)" type="number" min="1" max="8760" step="1" value={p.values.maxDurationHours} />
        </fieldset>
        <InputField id="find-earliest" name="earliestStart" label="Earliest start (UTC)" type="datetime-local" value={p.values.earliestStart} hint="Default: the next whole hour" />
        <InputField id="find-latest" name="latestEnd" label="Latest end (UTC)" type="datetime-local" value={p.values.latestEnd} hint="Default: as far as bookings go" />
        <fieldset>
          <legend>Sites</legend>
          <p class="hint">None ticked: every site.</p>
          {p.catalog.sites.map((s) => (
            <div class="check">
              <input type="checkbox" id={`find-site-${s.id}`} name="site" value={s.id} checked={p.values.sites.includes(s.id)} />
              <label for={`find-site-${s.id}`}>{s.status === 'planned' ? `${s.name} (planned, opens ${formatDay(s.opensAt)})` : s.name}</label>
            </div>
          ))}
        </fieldset>
        <div class="buttons">
          <button type="submit">Find capacity</button>
        </div>
      </form>
      {p.heat ? <HeatMapTable heat={p.heat} query={p.query} gpuName={gpuName} /> : null}
      {p.searched ? (
        <section aria-labelledby="offers-heading">
          <h2 id="offers-heading">{p.offers.length > 0 ? `Offers (${p.offers.length})` : 'No offers'}</h2>
          {p.offers.length === 0 && p.nearest ? (
            <div role="status">
              <p>Nothing fits that search. What would:</p>
              <ul>
                <li>{p.nearest.mostGpus ?? 'No pool has a whole node free for that long in the range.'}</li>
                <li>{p.nearest.earliestFit ?? 'No window after the range fits within the booking limits.'}</li>
              </ul>
            </div>
          ) : null}
          {p.offers.map((o, i) => (
            <OfferCardView offer={o} index={i} csrf={p.viewer.csrfToken} gpuName={gpuName} />
          ))}
        </section>
      ) : null}
    </Layout>
  );
};
