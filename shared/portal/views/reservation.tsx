/**
 * One reservation: what it is, its timeline, its usage against what was reserved, its invoices and
 * credit notes, and the actions it allows, each money-moving one through a preview first.
 */
import type { FC } from 'hono/jsx';
import type { Catalog, Pool } from '#domain/catalog.ts';
import { formatMoney, type Money } from '#domain/money.ts';
import type { Refund, Reservation } from '#domain/reservation.ts';
import { formatUtc, poolName, toUtcInput } from '../format.ts';
import type { PortalInvoiceDetail } from '../invoices.ts';
import { UsageChart } from './charts.tsx';
import { Alert, CsrfField, InputField, MoneyText, Outcome, PostButton, StatusBadge, TableHead, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';
import { PriceLines, vatTotals } from './price-lines.tsx';
import { allowedActions } from '#domain/reservation-actions.ts';
import type { ReservationUsage } from './reservations.tsx';

export interface TimelineEntry {
  at: string;
  text: string;
  href?: string | undefined;
}

const kindText = (r: Reservation) => (r.kind === 'on_demand' ? 'on-demand' : 'reserved');

/** What happened to a reservation, oldest first, from its own record and its invoices and credit notes. */
export function timelineOf(r: Reservation, invoices: PortalInvoiceDetail[], now: Date): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  const t = now.getTime();
  if (r.kind === 'reserved') out.push({ at: r.createdAt, text: r.holdExpiresAt ? `Held: ${r.gpus} GPUs until ${formatUtc(r.holdExpiresAt)}` : `Held: ${r.gpus} GPUs` });
  else out.push({ at: r.createdAt, text: `Started on demand: ${r.gpus} GPUs` });
  if (r.confirmedAt) out.push({ at: r.confirmedAt, text: `Confirmed at ${r.price ? formatMoney(r.price) : ''} excluding VAT`.replace(' at  ', ' ') });
  if (r.status === 'expired') out.push({ at: r.updatedAt, text: 'The hold expired before confirmation; the GPUs were released' });
  for (const { invoice, creditNotes } of invoices) {
    out.push({ at: invoice.createdAt, text: `${invoice.kind === 'extension' ? 'Extension invoice' : invoice.kind === 'usage' ? 'Usage invoice' : 'Invoice'} ${invoice.id}: ${formatMoney(invoice.total)} including VAT`, href: `/invoices/${encodeURIComponent(invoice.id)}` });
    for (const n of creditNotes) out.push({ at: n.createdAt, text: `Credit note ${n.id} on ${invoice.id}: ${formatMoney(n.total)} including VAT (${n.reason})`, href: `/invoices/${encodeURIComponent(invoice.id)}` });
  }
  if (r.cancelledAt) out.push({ at: r.cancelledAt, text: `Cancelled${r.refund ? `: refund ${formatMoney(r.refund.amount)} (${r.refund.rule})` : ''}` });
  if (r.stoppedAt) out.push({ at: r.stoppedAt, text: 'Stopped' });
  const started = ['active', 'completed'].includes(r.status) || (r.status === 'stopped' && r.kind === 'reserved');
  if (r.kind === 'reserved' && started && Date.parse(r.start) <= t) out.push({ at: r.start, text: 'Started: the GPUs are yours' });
  if (r.kind === 'reserved' && r.status === 'completed' && r.end) out.push({ at: r.end, text: 'Ended' });
  if (r.kind === 'reserved' && ['held', 'confirmed'].includes(r.status)) out.push({ at: r.start, text: 'Starts (scheduled)' });
  if (r.kind === 'reserved' && ['held', 'confirmed', 'active'].includes(r.status) && r.end) out.push({ at: r.end, text: 'Ends (scheduled)' });
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

export interface ReservationPageProps {
  viewer: Viewer;
  catalog: Catalog;
  now: Date;
  reservation: Reservation;
  pool: Pool | null;
  usage: ReservationUsage | null;
  invoices: PortalInvoiceDetail[];
  notice: string | null;
  alerts: string[];
  extendValue?: string | undefined;
  extendError?: string | undefined;
}

export const ReservationPage: FC<ReservationPageProps> = (p) => {
  const r = p.reservation;
  const can = allowedActions(r, p.now);
  const base = `/reservations/${encodeURIComponent(r.id)}`;
  const timeline = timelineOf(r, p.invoices, p.now);
  return (
    <Layout title={`Reservation ${r.id}`} viewer={p.viewer} current="reservations">
      <Outcome alerts={p.alerts} notice={p.notice} />
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={r.status} />
          {` (${kindText(r)})`}
        </dd>
        <dt>Pool</dt>
        <dd>{poolName(p.catalog, r)}</dd>
        <dt>GPUs</dt>
        <dd>{String(r.gpus)}</dd>
        <dt>Window</dt>
        <dd>
          <Time iso={r.start} />
          {' to '}
          {r.end ? <Time iso={r.end} /> : 'running (no end)'}
        </dd>
        {r.kind === 'reserved' ? (
          <>
            <dt>Price</dt>
            <dd>
              <MoneyText value={r.price} />
              {' excluding VAT'}
            </dd>
          </>
        ) : (
          <>
            <dt>Rate</dt>
            <dd>{p.pool ? `${formatMoney(p.pool.onDemandRate)} per GPU-hour (${formatMoney({ ...p.pool.onDemandRate, amount: p.pool.onDemandRate.amount * r.gpus })} per hour for ${r.gpus} GPUs), excluding VAT; invoiced monthly` : '—'}</dd>
          </>
        )}
        {r.refund ? (
          <>
            <dt>Refund</dt>
            <dd>{`${formatMoney(r.refund.amount)} (${r.refund.percent} %): ${r.refund.rule}`}</dd>
          </>
        ) : null}
      </dl>

      <section aria-labelledby="actions-heading">
        <h2 id="actions-heading">Actions</h2>
        {!can.confirm && !can.cancel && !can.extend && !can.stop ? <p>{`No actions: this reservation is ${r.status}.`}</p> : null}
        <div class="buttons">
          {can.confirm ? <PostButton action={`${base}/confirm`} csrf={p.viewer.csrfToken} label="Confirm" hidden={{ from: 'detail' }} /> : null}
          {can.cancel ? (
            <form method="get" action={`${base}/cancel`} class="inline">
              <button type="submit" class="danger">
                Cancel
              </button>
            </form>
          ) : null}
          {can.stop ? <PostButton action={`${base}/stop`} csrf={p.viewer.csrfToken} label="Stop" className="danger" hidden={{ from: 'detail' }} /> : null}
          {r.kind === 'reserved' && (r.status === 'confirmed' || r.status === 'active') && r.end && Date.parse(r.end) - p.now.getTime() >= 3_600_000 ? (
            <form method="get" action={`${base}/sell`} class="inline">
              <button type="submit">Sell unused hours</button>
            </form>
          ) : null}
        </div>
        {can.stop && p.pool ? <p class="hint">{`Stop ends metering now; usage so far is invoiced at ${formatMoney(p.pool.onDemandRate)} per GPU-hour after the month closes.`}</p> : null}
        {can.extend ? (
          <form method="get" action={`${base}/extend`} class="inline" novalidate>
            <InputField
              id="new-end"
              name="end"
              label="New end"
              type="datetime-local"
              value={p.extendValue ?? ''}
              min={r.end ? toUtcInput(new Date(Date.parse(r.end) + 3_600_000).toISOString()) : undefined}
              step="3600"
              hint={`UTC, on the hour, after the current end ${r.end ? formatUtc(r.end) : ''}. You see the price before anything is charged.`}
              error={p.extendError}
            />
            <button type="submit" class="secondary">
              Preview extension
            </button>
          </form>
        ) : null}
      </section>

      <section aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">Timeline</h2>
        <ol class="timeline">
          {timeline.map((e) => (
            <li>
              <Time iso={e.at} />
              {': '}
              {e.href ? <a href={e.href}>{e.text}</a> : e.text}
            </li>
          ))}
        </ol>
      </section>

      <section aria-labelledby="usage-heading">
        <h2 id="usage-heading">Usage</h2>
        {p.usage ? (
          <UsageChart
            id="usage-chart"
            title={`Usage of ${r.id}: GPU-hours metered per ${p.usage.slotHours === 1 ? 'hour' : 'day'} against the ${r.gpus} GPUs reserved`}
            gpus={r.gpus}
            slotHours={p.usage.slotHours}
            slots={p.usage.slots}
          />
        ) : (
          <p>No usage has been metered for this reservation yet.</p>
        )}
      </section>

      <section aria-labelledby="invoices-heading">
        <h2 id="invoices-heading">Invoices and credit notes</h2>
        {p.invoices.length === 0 ? (
          <p>{r.kind === 'on_demand' ? 'On-demand usage is invoiced after each month closes.' : 'No invoice yet: confirming invoices a reservation.'}</p>
        ) : (
          <table>
            <caption>{`Invoices and credit notes of ${r.id}`}</caption>
            <TableHead columns={['Document', 'Issued', 'Status', { num: 'Including VAT' }]} />
            <tbody>
              {p.invoices.flatMap(({ invoice, creditNotes }) => [
                <tr>
                  <th scope="row">
                    <a href={`/invoices/${encodeURIComponent(invoice.id)}`}>{`${invoice.kind === 'extension' ? 'Extension invoice' : 'Invoice'} ${invoice.id}`}</a>
                  </th>
                  <td>
                    <Time iso={invoice.createdAt} />
                  </td>
                  <td>
                    <StatusBadge status={invoice.status} />
                  </td>
                  <td class="num">
                    <MoneyText value={invoice.total} />
                  </td>
                </tr>,
                ...creditNotes.map((n) => (
                  <tr>
                    <th scope="row">{`Credit note ${n.id} (on ${invoice.id})`}</th>
                    <td>
                      <Time iso={n.createdAt} />
                    </td>
                    <td>
                      <StatusBadge status={n.status} />
                    </td>
                    <td class="num">
                      <MoneyText value={{ ...n.total, amount: -n.total.amount }} />
                    </td>
                  </tr>
                )),
              ])}
            </tbody>
          </table>
        )}
      </section>
      <p>
        <a href="/reservations">All your reservations</a>
      </p>
    </Layout>
  );
};

export interface TaxedAmount {
  rateBps: number;
  subtotal: Money;
  tax: Money;
  total: Money;
  mention: string | null;
}

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

/** Start on demand: pool, GPUs, and the hourly rate shown before starting. */
export const OnDemandPage: FC<{ viewer: Viewer; catalog: Catalog; now: Date; values: { pool: string; gpus: string }; errors: Partial<Record<'pool' | 'gpus', string>>; alerts: string[]; rateBps: number }> = (p) => {
  const bookable = p.catalog.pools.filter((pool) => Date.parse(pool.bookableFrom) <= p.now.getTime());
  const chosen = bookable.find((pool) => pool.id === p.values.pool) ?? null;
  return (
    <Layout title="Start on demand" viewer={p.viewer} current="reservations">
      <Alert messages={p.alerts} />
      <p>On-demand GPUs start now and run until you stop them; they are metered per GPU-second and invoiced after each month closes.</p>
      <table>
        <caption>On-demand rates (excluding VAT)</caption>
        <TableHead columns={['Pool', { num: 'Per GPU-hour' }, { num: 'Per 8-GPU node-hour' }]} />
        <tbody>
          {bookable.map((pool) => (
            <tr>
              <th scope="row">{poolName(p.catalog, pool)}</th>
              <td class="num">
                <MoneyText value={pool.onDemandRate} />
              </td>
              <td class="num">
                <MoneyText value={{ ...pool.onDemandRate, amount: pool.onDemandRate.amount * pool.gpusPerNode }} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form method="post" action="/on-demand" class="stack" novalidate>
        <CsrfField token={p.viewer.csrfToken} />
        <div class="field">
          <label for="od-pool">Pool</label>
          <select id="od-pool" name="pool" aria-describedby={p.errors.pool ? 'od-pool-error' : undefined} aria-invalid={p.errors.pool ? 'true' : undefined}>
            <option value="" selected={!chosen}>
              Choose a pool
            </option>
            {bookable.map((pool) => (
              <option value={pool.id} selected={chosen?.id === pool.id}>
                {`${poolName(p.catalog, pool)} — ${formatMoney(pool.onDemandRate)} per GPU-hour`}
              </option>
            ))}
          </select>
          {p.errors.pool ? (
            <p class="field-error" id="od-pool-error">
              {`Error: ${p.errors.pool}`}
            </p>
          ) : null}
        </div>
        <InputField id="od-gpus" name="gpus" label="GPUs" type="number" value={p.values.gpus} min="8" step="8" inputmode="numeric" hint="Whole nodes: a multiple of 8." error={p.errors.gpus} />
        <p class="hint">{`VAT at ${p.rateBps / 100} % is added on the invoice.`}</p>
        <div class="buttons">
          <button type="submit">Start on demand</button>
        </div>
      </form>
    </Layout>
  );
};
