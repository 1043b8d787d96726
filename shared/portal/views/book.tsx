/** The Book page: the booking form, the availability beside it, then the quote and the reservation it becomes. */
import type { FC } from 'hono/jsx';
import type { Catalog, Site } from '#domain/catalog.ts';
import type { Reservation } from '#domain/reservation.ts';
import type { Quote } from '#store/quotes.ts';
import { formatMoney, type Money } from '#domain/money.ts';
import { DAY_MS, HOUR_MS } from '#domain/time.ts';
import { FIELD_LABELS, poolOf, type BookingField, type BookingFormValues } from '../booking-form.ts';
import { poolName, toUtcInput } from '../format.ts';
import { BookAvailability, type BookAvailabilityView } from './book-availability.tsx';
import { Alert, BookingFacts, CsrfField, InputField, MoneyText, Notice, SelectField, StatusBadge, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';
import { PriceLines, vatTotals } from './price-lines.tsx';

export interface BookPageProps {
  viewer: Viewer;
  catalog: Catalog;
  now: Date;
  values: BookingFormValues;
  fieldErrors: Partial<Record<BookingField, string>>;
  alerts: string[];
  quote: Quote | null;
  reservation: Reservation | null;
  availability: BookAvailabilityView;
  /** VAT of the quote for this org (rate and amount), when a quote is shown. */
  quoteTax?: { rateBps: number; tax: Money; total: Money; mention: string | null } | null;
}

/** The first whole UTC hour after `now`, as a datetime-local value: the earliest Start. */
export const earliestStart = (now: Date): string => toUtcInput(new Date(Math.floor(now.getTime() / HOUR_MS + 1) * HOUR_MS).toISOString());

const siteOption = (s: Site) => ({
  value: s.id,
  text: s.status === 'planned' ? `${s.name} (planned, opens ${s.opensAt.slice(0, 10)})` : s.status === 'maintenance' ? `${s.name} (maintenance)` : s.name,
});

export const BookPage: FC<BookPageProps> = (p) => {
  const chosen = poolOf(p.catalog, p.values.site, p.values.gpuType);
  const steps = [...new Set(p.catalog.pools.map((pool) => pool.stepGpus))];
  const step = chosen?.stepGpus ?? (steps.length === 1 ? steps[0]! : 1);
  const min = chosen?.minGpus ?? Math.min(...p.catalog.pools.map((pool) => pool.minGpus));
  const gpusHint = chosen
    ? `Whole nodes: a multiple of ${chosen.stepGpus}, at least ${chosen.minGpus}, at most ${chosen.totalGpus}.`
    : `Whole nodes: a multiple of ${step}, at least ${min}.`;
  const earliest = earliestStart(p.now);
  const latest = toUtcInput(new Date(p.now.getTime() + 366 * DAY_MS).toISOString());
  return (
    <Layout title="Book GPU capacity" viewer={p.viewer} current="book" script>
      <Alert messages={p.alerts} />
      {p.reservation ? <ReservationPanel {...p} reservation={p.reservation} /> : p.quote ? <QuotePanel {...p} quote={p.quote} /> : null}
      <div class="book-grid">
        <section aria-labelledby="quote-form-heading">
          <h2 id="quote-form-heading">{p.quote || p.reservation ? 'Get another quote' : 'Get a quote'}</h2>
          <p>Quotes are priced for the exact window and hold their price for 15 minutes. All times are UTC.</p>
          <form
            method="post"
            action="/book/quote"
            class="stack"
            novalidate
            data-availability="book-availability"
            data-pools={JSON.stringify(p.catalog.pools.map((pool) => ({ site: pool.site, gpuType: pool.gpuType, step: pool.stepGpus, min: pool.minGpus, max: pool.totalGpus })))}
          >
            <CsrfField token={p.viewer.csrfToken} />
            <SelectField
              id="site"
              name="site"
              label={FIELD_LABELS.site}
              value={p.values.site}
              placeholder="Choose a site"
              options={p.catalog.sites.map(siteOption)}
              hint="Planned sites are bookable from their opening date."
              error={p.fieldErrors.site}
            />
            <SelectField
              id="gpu-type"
              name="gpuType"
              label={FIELD_LABELS.gpuType}
              value={p.values.gpuType}
              placeholder="Choose a GPU type"
              options={p.catalog.gpuTypes.map((g) => ({ value: g.id, text: `${g.name} (${g.memoryGb} GB)` }))}
              error={p.fieldErrors.gpuType}
            />
            <InputField
              id="gpus"
              name="gpus"
              label={FIELD_LABELS.gpus}
              type="number"
              value={p.values.gpus}
              min={String(min)}
              step={String(step)}
              max={chosen ? String(chosen.totalGpus) : undefined}
              inputmode="numeric"
              hint={gpusHint}
              error={p.fieldErrors.gpus}
            />
            <InputField
              id="start"
              name="start"
              label={FIELD_LABELS.start}
              type="datetime-local"
              value={p.values.start}
              min={earliest}
              max={latest}
              step="3600"
              hint={`UTC, on the hour, from ${earliest.replace('T', ' ')} UTC.`}
              error={p.fieldErrors.start}
            />
            <InputField
              id="end"
              name="end"
              label={FIELD_LABELS.end}
              type="datetime-local"
              value={p.values.end}
              min={earliest}
              step="3600"
              hint="UTC, on the hour, after Start (at most 365 days)."
              error={p.fieldErrors.end}
            />
            <div class="buttons">
              <button type="submit">Get quote</button>
            </div>
          </form>
        </section>
        <section aria-labelledby="book-availability-heading" class="book-side">
          <h2 id="book-availability-heading">Availability</h2>
          <div id="book-availability" aria-live="polite">
            <BookAvailability catalog={p.catalog} view={p.availability} />
          </div>
        </section>
      </div>
    </Layout>
  );
};

const QuotePanel: FC<BookPageProps & { quote: Quote }> = ({ quote, catalog, now, viewer, quoteTax }) => {
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
            {`Quote ready: ${quote.gpus} GPUs of ${poolName(catalog, quote)}. It is valid until `}
            <Time iso={quote.expiresAt} />.
          </p>
        </Notice>
      )}
      <dl class="facts">
        <BookingFacts catalog={catalog} booking={quote} after={` (${quote.gpuHours.toLocaleString('en-US')} GPU-hours)`} />
        <dt>Quote expires</dt>
        <dd>
          <Time iso={quote.expiresAt} />
        </dd>
      </dl>
      <PriceLines
        caption="Price lines"
        lines={quote.lines}
        totals={quoteTax ? vatTotals({ ...quoteTax, subtotal: quote.total }, 'Total (excluding VAT)') : [{ label: 'Total (excluding VAT)', amount: quote.total, strong: true }]}
        mention={quoteTax?.mention}
      />
      <form method="post" action="/book/reserve" class="inline">
        <CsrfField token={viewer.csrfToken} />
        <input type="hidden" name="quoteId" value={quote.id} />
        <button type="submit">Reserve</button>
      </form>
      <p class="hint">
        {quoteTax ? `You will be invoiced ${formatMoney(quoteTax.total)} including VAT on Confirm. ` : ''}
        Reserve holds these GPUs for 15 minutes at this price; Confirm then books them.
      </p>
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
            {`Held: ${r.gpus} GPUs of ${poolName(catalog, r)} are yours until `}
            <Time iso={r.holdExpiresAt} />
            {holdLive ? '. Confirm before then to book them.' : '. The hold has lapsed; get a new quote.'}
          </p>
        </Notice>
      ) : r.status === 'confirmed' ? (
        <Notice>
          <p>
            {'Confirmed at '}
            <Time iso={r.confirmedAt} />
            {r.invoiceId ? `. Invoice ${r.invoiceId} was issued.` : '. No invoice was issued for it yet.'}
          </p>
        </Notice>
      ) : null}
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={r.status} />
        </dd>
        <BookingFacts catalog={catalog} booking={r} />
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
            <dd>
              <a href={`/invoices/${encodeURIComponent(r.invoiceId)}`}>{`Invoice ${r.invoiceId}`}</a>
            </dd>
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
        <a href={`/reservations/${encodeURIComponent(r.id)}`}>{`Details of ${r.id}`}</a>
        {' · '}
        <a href="/reservations">All your reservations</a>
      </p>
    </section>
  );
};
