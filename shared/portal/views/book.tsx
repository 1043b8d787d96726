import type { FC } from 'hono/jsx';
import type { Catalog } from '#domain/catalog.ts';
import type { Reservation } from '#domain/reservation.ts';
import type { Quote } from '#store/quotes.ts';
import { FIELD_LABELS, type BookingField, type BookingFormValues } from '../booking-form.ts';
import { Alert, CsrfField, MoneyText, Notice, StatusBadge, TextField, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

export interface BookPageProps {
  viewer: Viewer;
  catalog: Catalog;
  now: Date;
  values: BookingFormValues;
  fieldErrors: Partial<Record<BookingField, string>>;
  alerts: string[];
  quote: Quote | null;
  reservation: Reservation | null;
}

const poolName = (catalog: Catalog, site: string, gpuType: string) =>
  `${catalog.gpuTypes.find((g) => g.id === gpuType)?.name ?? gpuType} at ${catalog.sites.find((s) => s.id === site)?.name ?? site}`;

export const BookPage: FC<BookPageProps> = (p) => {
  const steps = [...new Set(p.catalog.pools.map((pool) => `${pool.stepGpus}/${pool.minGpus}`))];
  const gpusHint =
    steps.length === 1
      ? `Whole nodes: a multiple of ${p.catalog.pools[0]!.stepGpus}, at least ${p.catalog.pools[0]!.minGpus}.`
      : 'Whole nodes of the pool (see Sites for each pool’s step).';
  return (
    <Layout title="Book GPU capacity" viewer={p.viewer} current="book">
      <Alert messages={p.alerts} />
      {p.reservation ? <ReservationPanel {...p} reservation={p.reservation} /> : p.quote ? <QuotePanel {...p} quote={p.quote} /> : null}
      <section aria-labelledby="quote-form-heading">
        <h2 id="quote-form-heading">{p.quote || p.reservation ? 'Get another quote' : 'Get a quote'}</h2>
        <p>Quotes are priced for the exact window and hold their price for 15 minutes. All times are UTC.</p>
        <form method="post" action="/book/quote" class="stack" novalidate>
          <CsrfField token={p.viewer.csrfToken} />
          <TextField
            id="site"
            name="site"
            label={FIELD_LABELS.site}
            value={p.values.site}
            list="site-options"
            hint={`Site id or name: ${p.catalog.sites.map((s) => `${s.id} (${s.name}${s.status === 'active' ? '' : `, ${s.status}`})`).join(', ')}.`}
            error={p.fieldErrors.site}
          />
          <datalist id="site-options">
            {p.catalog.sites.map((s) => (
              <option value={s.id}>{s.name}</option>
            ))}
          </datalist>
          <TextField
            id="gpu-type"
            name="gpuType"
            label={FIELD_LABELS.gpuType}
            value={p.values.gpuType}
            list="gpu-type-options"
            hint={`GPU type id or name: ${p.catalog.gpuTypes.map((g) => `${g.id} (${g.name})`).join(', ')}.`}
            error={p.fieldErrors.gpuType}
          />
          <datalist id="gpu-type-options">
            {p.catalog.gpuTypes.map((g) => (
              <option value={g.id}>{g.name}</option>
            ))}
          </datalist>
          <TextField id="gpus" name="gpus" label={FIELD_LABELS.gpus} value={p.values.gpus} inputmode="numeric" hint={gpusHint} error={p.fieldErrors.gpus} />
          <TextField
            id="start"
            name="start"
            label={FIELD_LABELS.start}
            value={p.values.start}
            placeholder="2026-12-01T08:00"
            hint="UTC, on the hour, e.g. 2026-12-01T08:00."
            error={p.fieldErrors.start}
          />
          <TextField
            id="end"
            name="end"
            label={FIELD_LABELS.end}
            value={p.values.end}
            placeholder="2026-12-03T08:00"
            hint="UTC, on the hour, after Start, e.g. 2026-12-03T08:00."
            error={p.fieldErrors.end}
          />
          <div class="buttons">
            <button type="submit">Get quote</button>
          </div>
        </form>
      </section>
    </Layout>
  );
};

const QuotePanel: FC<BookPageProps & { quote: Quote }> = ({ quote, catalog, now, viewer }) => {
  const expired = Date.parse(quote.expiresAt) <= now.getTime();
  return (
    <section aria-labelledby="quote-heading" class="panel">
      <h2 id="quote-heading">{`Quote ${quote.id}`}</h2>
      {expired ? (
        <p>
          {'This quote expired at '}
          <Time iso={quote.expiresAt} />
          {'. Get a new quote to reserve.'}
        </p>
      ) : (
        <Notice>
          <p>
            {`Quote ready: ${quote.gpus} GPUs of ${poolName(catalog, quote.site, quote.gpuType)}. It is valid until `}
            <Time iso={quote.expiresAt} />.
          </p>
        </Notice>
      )}
      <dl class="facts">
        <dt>Pool</dt>
        <dd>{poolName(catalog, quote.site, quote.gpuType)}</dd>
        <dt>GPUs</dt>
        <dd>{String(quote.gpus)}</dd>
        <dt>Window</dt>
        <dd>
          <Time iso={quote.start} />
          {' to '}
          <Time iso={quote.end} />
          {` (${quote.gpuHours.toLocaleString('en-US')} GPU-hours)`}
        </dd>
        <dt>Quote expires</dt>
        <dd>
          <Time iso={quote.expiresAt} />
        </dd>
      </dl>
      <table>
        <caption>Price lines</caption>
        <thead>
          <tr>
            <th scope="col">Line</th>
            <th scope="col" class="num">
              Amount
            </th>
          </tr>
        </thead>
        <tbody>
          {quote.lines.map((l) => (
            <tr>
              <th scope="row">{l.description}</th>
              <td class="num">
                <MoneyText value={l.amount} />
              </td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">Total (excluding VAT)</th>
            <td class="num total">
              <MoneyText value={quote.total} />
            </td>
          </tr>
        </tfoot>
      </table>
      <form method="post" action="/book/reserve" class="inline">
        <CsrfField token={viewer.csrfToken} />
        <input type="hidden" name="quoteId" value={quote.id} />
        <button type="submit">Reserve</button>
      </form>
      <p class="hint">Reserve holds these GPUs for 15 minutes at this price; Confirm then books them.</p>
    </section>
  );
};

const ReservationPanel: FC<BookPageProps & { reservation: Reservation }> = ({ reservation: r, catalog, now, viewer }) => {
  const holdLive = r.status === 'held' && r.holdExpiresAt !== null && Date.parse(r.holdExpiresAt) > now.getTime();
  return (
    <section aria-labelledby="reservation-heading" class="panel">
      <h2 id="reservation-heading">{`Reservation ${r.id}`}</h2>
      {r.status === 'held' ? (
        <Notice>
          <p>
            {`Held: ${r.gpus} GPUs of ${poolName(catalog, r.site, r.gpuType)} are yours until `}
            <Time iso={r.holdExpiresAt} />
            {holdLive ? '. Confirm before then to book them.' : '. The hold has lapsed; get a new quote.'}
          </p>
        </Notice>
      ) : r.status === 'confirmed' ? (
        <Notice>
          <p>
            {'Confirmed at '}
            <Time iso={r.confirmedAt} />
            {r.invoiceId ? `. Invoice ${r.invoiceId}.` : '. No invoice was issued for it yet.'}
          </p>
        </Notice>
      ) : null}
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={r.status} />
        </dd>
        <dt>Pool</dt>
        <dd>{poolName(catalog, r.site, r.gpuType)}</dd>
        <dt>GPUs</dt>
        <dd>{String(r.gpus)}</dd>
        <dt>Window</dt>
        <dd>
          <Time iso={r.start} />
          {' to '}
          <Time iso={r.end} />
        </dd>
        <dt>Price</dt>
        <dd>
          <MoneyText value={r.price} />
        </dd>
        {r.status === 'held' ? (
          <>
            <dt>Hold expires</dt>
            <dd>
              <Time iso={r.holdExpiresAt} />
            </dd>
          </>
        ) : null}
        {r.invoiceId ? (
          <>
            <dt>Invoice</dt>
            <dd>{r.invoiceId}</dd>
          </>
        ) : null}
      </dl>
      {r.status === 'held' ? (
        <form method="post" action={`/reservations/${encodeURIComponent(r.id)}/confirm`} class="inline">
          <CsrfField token={viewer.csrfToken} />
          <input type="hidden" name="from" value="book" />
          <button type="submit">Confirm</button>
        </form>
      ) : null}
      <p>
        <a href="/reservations">All your reservations</a>
      </p>
    </section>
  );
};
