import type { FC } from 'hono/jsx';
import type { Catalog } from '#domain/catalog.ts';
import type { Reservation } from '#domain/reservation.ts';
import { allowedActions } from '#domain/reservation-actions.ts';
import { poolName } from '../format.ts';
import { MoneyText, Outcome, PostButton, StatusBadge, TableHead, Time } from './components.tsx';
import { UsageChart } from './charts.tsx';
import { Layout, type Viewer } from './layout.tsx';

export interface ReservationUsage {
  slotHours: 1 | 24;
  slots: { start: string; gpuSeconds: number }[];
}


export const ReservationsPage: FC<{
  viewer: Viewer;
  catalog: Catalog;
  now: Date;
  reservations: Reservation[];
  nextCursor: string | null;
  paged: boolean;
  usage: Map<string, ReservationUsage>;
  notice: string | null;
  alerts: string[];
  extendValues?: Record<string, string>;
}> = (p) => (
  <Layout title="Your reservations" viewer={p.viewer} current="reservations">
    <Outcome alerts={p.alerts} notice={p.notice} />
    <p>
      <a href="/book">Book GPUs for a window</a>
      {' · '}
      <a href="/on-demand">Start on demand</a>
    </p>
    {p.reservations.length === 0 ? (
      <p>
        {'No reservations yet. '}
        <a href="/book">Get a quote on the Book page</a>.
      </p>
    ) : (
      <table>
        <caption>Reservations, newest first</caption>
        <TableHead columns={['Reservation', 'Status', 'Pool', { num: 'GPUs' }, 'Window (UTC)', { num: 'Price' }, 'Actions']} />
        <tbody>
          {p.reservations.map((r) => (
            <ReservationRow r={r} catalog={p.catalog} now={p.now} csrf={p.viewer.csrfToken} extendValue={p.extendValues?.[r.id]} />
          ))}
        </tbody>
      </table>
    )}
    {p.nextCursor || p.paged ? (
      <p>
        {p.nextCursor ? <a href={`/reservations?cursor=${encodeURIComponent(p.nextCursor)}`}>Older reservations</a> : null}
        {p.nextCursor && p.paged ? ' · ' : null}
        {p.paged ? <a href="/reservations">Newest reservations</a> : null}
      </p>
    ) : null}
    {p.reservations.length > 0 ? (
      <section aria-labelledby="usage-heading">
        <h2 id="usage-heading">Usage</h2>
        {p.usage.size === 0 ? (
          <p>No usage has been metered for these reservations yet. Usage appears here once a site’s metering agent reports it.</p>
        ) : (
          p.reservations
            .filter((r) => p.usage.has(r.id))
            .map((r) => {
              const u = p.usage.get(r.id)!;
              return (
                <section aria-labelledby={`usage-${r.id}`}>
                  <h3 id={`usage-${r.id}`}>{`Usage of ${r.id} (${poolName(p.catalog, r)})`}</h3>
                  <UsageChart id={`usage-chart-${r.id}`} title={`Usage of ${r.id}: GPU-hours metered per ${u.slotHours === 1 ? 'hour' : 'day'}`} gpus={r.gpus} slotHours={u.slotHours} slots={u.slots} />
                </section>
              );
            })
        )}
      </section>
    ) : null}
  </Layout>
);

const ReservationRow: FC<{ r: Reservation; catalog: Catalog; now: Date; csrf: string; extendValue: string | undefined }> = ({ r, catalog, now, csrf, extendValue }) => {
  const can = allowedActions(r, now);
  const action = (name: string) => `/reservations/${encodeURIComponent(r.id)}/${name}`;
  return (
    <tr>
      <th scope="row">
        <a href={`/reservations/${encodeURIComponent(r.id)}`}>{r.id}</a>
        <br />
        <span class="hint">{r.kind === 'on_demand' ? 'on-demand' : 'reserved'}</span>
      </th>
      <td>
        <StatusBadge status={r.status} />
        {r.status === 'held' && r.holdExpiresAt ? (
          <>
            <br />
            {'hold until '}
            <Time iso={r.holdExpiresAt} />
          </>
        ) : null}
      </td>
      <td>{poolName(catalog, r)}</td>
      <td class="num">{String(r.gpus)}</td>
      <td>
        <Time iso={r.start} />
        {' to '}
        {r.end ? <Time iso={r.end} /> : 'running'}
      </td>
      <td class="num">
        {r.kind === 'on_demand' ? 'metered' : <MoneyText value={r.price} />}
        {r.refund ? (
          <>
            <br />
            {'refund '}
            <MoneyText value={r.refund.amount} />
            {` (${r.refund.percent} %)`}
          </>
        ) : null}
      </td>
      <td>
        {can.confirm ? <PostButton action={action('confirm')} csrf={csrf} label="Confirm" /> : null}
        {can.cancel ? (
          <form method="get" action={action('cancel')} class="inline">
            <button type="submit" class="danger">
              Cancel
            </button>
          </form>
        ) : null}
        {can.stop ? <PostButton action={action('stop')} csrf={csrf} label="Stop" className="danger" /> : null}
        {can.extend ? (
          <form method="get" action={action('extend')} class="inline" novalidate>
            <span class="field">
              <label for={`new-end-${r.id}`}>New end</label>
              <input type="datetime-local" step="3600" id={`new-end-${r.id}`} name="end" value={extendValue ?? ''} min={r.end ? r.end.slice(0, 16) : undefined} autocomplete="off" aria-describedby={`new-end-${r.id}-hint`} />
              <span class="hint" id={`new-end-${r.id}-hint`}>
                UTC, on the hour, after the current end; the price is shown before anything is charged
              </span>
            </span>
            <button type="submit" class="secondary">
              Extend
            </button>
          </form>
        ) : null}
        {!can.confirm && !can.cancel && !can.stop && !can.extend ? '—' : null}
      </td>
    </tr>
  );
};
