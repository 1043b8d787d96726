/**
 * One reservation: what it is, its timeline, its usage against what was reserved, its invoices and
 * credit notes, and the actions it allows, each money-moving one through a preview first.
 */
import type { FC } from 'hono/jsx';
import type { Catalog, Pool } from '#domain/catalog.ts';
import { formatMoney } from '#domain/money.ts';
import type { Reservation } from '#domain/reservation.ts';
import { formatUtc, toUtcInput } from '../format.ts';
import type { PortalInvoiceDetail } from '../invoices.ts';
import { UsageChart } from './charts.tsx';
import { BookingFacts, InputField, MoneyText, Outcome, PostButton, StatusBadge, TableHead, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';
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
        <BookingFacts catalog={p.catalog} booking={r} openEnd="running (no end)" />
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
