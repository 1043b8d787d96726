/** Operator pages: the fleet (sites, pools with their price books, maintenance) and the audit log. */
import type { FC } from 'hono/jsx';
import type { PublicPool, Site } from '#domain/catalog.ts';
import { formatMoney } from '#domain/money.ts';
import { Layout, type Viewer } from './layout.tsx';
import { CsrfField, TableHead, Time } from './components.tsx';
import type { AuditEntry } from '#store/audit.ts';

export interface FleetPool extends PublicPool {
  maintenance: { id: string; start: string; end: string; gpus: number; reason: string }[];
  capacityChanges: { effectiveFrom: string; totalGpus: number }[];
}

const pct = (bps: number) => `${(bps / 100).toLocaleString('en', { maximumFractionDigits: 2 })} %`;

export const FleetPage: FC<{ viewer: Viewer; sites: Site[]; pools: FleetPool[]; notice?: { ok: boolean; text: string } | null }> = ({ viewer, sites, pools, notice }) => (
  <Layout title="Fleet" viewer={viewer} current="fleet">
    {notice ? <p role={notice.ok ? 'status' : 'alert'}>{notice.text}</p> : null}
    <p>Sites, pools and price books as new quotes see them. Schedule a pool's capacity below (GPUs installed or retired from an hour; a reduction below what is sold is refused). Other changes go through the operator API (PATCH /v1/sites/…, PATCH /v1/pools/…); every change is in the audit log.</p>
    <h2>Sites</h2>
    <table>
      <caption>Sites and their facility figures</caption>
      <TableHead columns={['Site', 'Status', 'Opens', 'Power', 'PUE', 'Grid (g CO2e/kWh)', 'Heat reuse']} />
      <tbody>
        {sites.map((s) => (
          <tr>
            <th scope="row">{`${s.name} (${s.id})`}</th>
            <td>{s.status}</td>
            <td>
              <Time iso={s.opensAt} />
            </td>
            <td>{`${s.powerMw} MW`}</td>
            <td>{String(s.pue)}</td>
            <td>{String(s.gridCarbonGramsPerKwh)}</td>
            <td>{`${Math.round(s.heatReuseFraction * 100)} %`}</td>
          </tr>
        ))}
      </tbody>
    </table>
    <h2>Pools and price books</h2>
    {pools.map((p) => (
      <section aria-labelledby={`pool-${p.id}`}>
        <h3 id={`pool-${p.id}`}>{p.id}</h3>
        <dl>
          <dt>GPUs</dt>
          <dd>{`${p.totalGpus} (${p.gpusPerNode} per node; bookings of ${p.minGpus}+ in steps of ${p.stepGpus})`}</dd>
          <dt>Bookable from</dt>
          <dd>
            <Time iso={p.bookableFrom} />
          </dd>
          <dt>On-demand rate</dt>
          <dd>{`${formatMoney(p.onDemandRate)}/GPU-h`}</dd>
          <dt>Reserved rate</dt>
          <dd>{`${formatMoney(p.reservedRate)}/GPU-h`}</dd>
          <dt>Duration discounts</dt>
          <dd>{p.durationDiscounts.map((t) => `≥ ${t.minHours} h: −${pct(t.discountBps)}`).join('; ') || 'none'}</dd>
          <dt>Lead-time discounts</dt>
          <dd>{p.leadTimeDiscounts.map((t) => `≥ ${t.minDaysAhead} days ahead: −${pct(t.discountBps)}`).join('; ') || 'none'}</dd>
          <dt>Utilization band</dt>
          <dd>{`×${p.utilizationBand.floorBps / 10000} to ×${p.utilizationBand.ceilingBps / 10000}, ×1 at ${pct(p.utilizationBand.targetBps)} utilized`}</dd>
          <dt>Capacity schedule</dt>
          <dd>
            {p.capacityChanges.length === 0
              ? 'no scheduled changes'
              : p.capacityChanges.map((c) => (
                  <>
                    {'From '}
                    <Time iso={c.effectiveFrom} />
                    {`: ${c.totalGpus} GPUs. `}
                  </>
                ))}
          </dd>
          <dt>Maintenance</dt>
          <dd>
            {p.maintenance.length === 0
              ? 'none scheduled'
              : p.maintenance.map((w) => (
                  <>
                    {`${w.gpus} GPUs, `}
                    <Time iso={w.start} />
                    {' → '}
                    <Time iso={w.end} />
                    {`: ${w.reason}. `}
                  </>
                ))}
          </dd>
        </dl>
        <form method="post" action={`/fleet/pools/${p.id}/capacity`}>
          <CsrfField token={viewer.csrfToken} />
          <label for={`cap-from-${p.id}`}>{`Capacity of ${p.id} from (UTC)`}</label>
          <input id={`cap-from-${p.id}`} name="effectiveFrom" type="datetime-local" step="3600" required />
          <label for={`cap-gpus-${p.id}`}>{`Total GPUs of ${p.id}`}</label>
          <input id={`cap-gpus-${p.id}`} name="totalGpus" type="number" min="0" step={String(p.gpusPerNode)} required />
          <button type="submit">{`Schedule capacity change for ${p.id}`}</button>
        </form>
      </section>
    ))}
  </Layout>
);

/** An audit entry as the page lists it (the store's, without its id). */
export type AuditRow = Omit<AuditEntry, 'id'>;

/** The fields that differ between before and after, as "field: old → new". */
const changes = (before: Record<string, unknown> | null, after: Record<string, unknown> | null): string => {
  if (!before) return 'created';
  if (!after) return 'removed';
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return keys.map((k) => `${k}: ${JSON.stringify(before[k])} → ${JSON.stringify(after[k])}`).join('; ') || 'no change';
};

export const AuditPage: FC<{ viewer: Viewer; entries: AuditRow[]; next: string | null }> = ({ viewer, entries, next }) => (
  <Layout title="Audit log" viewer={viewer} current="audit">
    <table>
      <caption>Catalog changes, newest first</caption>
      <TableHead columns={['When', 'Who', 'What', 'Target', 'Change']} />
      <tbody>
        {entries.map((e) => (
          <tr>
            <td>
              <Time iso={e.at} />
            </td>
            <td>{e.actor}</td>
            <td>{e.action}</td>
            <td>{e.target}</td>
            <td>{changes(e.before, e.after)}</td>
          </tr>
        ))}
      </tbody>
    </table>
    {next ? <a href={`/audit?cursor=${encodeURIComponent(next)}`}>Older entries</a> : null}
  </Layout>
);
