/** Finance pages: the monthly close (previewed first), reconciliation, revenue by site and GPU type, receivables by age. */
import type { FC } from 'hono/jsx';
import type { Money } from '#domain/money.ts';
import { formatMoney } from '#domain/money.ts';
import { Alert, CsrfField, MoneyText, Notice, TableHead } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';
import { PriceLines } from './price-lines.tsx';

const PeriodForm: FC<{ action: string; period: string; button: string; error?: string | undefined }> = ({ action, period, button, error }) => (
  <form method="get" action={action} class="inline" novalidate>
    <span class="field">
      <label for="period">Period</label>
      <input type="month" id="period" name="period" value={period} aria-describedby={error ? 'period-hint period-error' : 'period-hint'} aria-invalid={error ? 'true' : undefined} />
      <span class="hint" id="period-hint">
        A month, YYYY-MM (UTC)
      </span>
      {error ? (
        <span class="field-error" id="period-error">{`Error: ${error}`}</span>
      ) : null}
    </span>
    <button type="submit">{button}</button>
  </form>
);

const Links: FC<{ period: string }> = ({ period }) => (
  <p>
    <a href={`/invoices?period=${period}`}>{`Invoices of ${period}`}</a>
    {' · '}
    <a href={`/billing/reconciliation?period=${period}`}>{`Reconciliation of ${period}`}</a>
    {' · '}
    <a href={`/billing/revenue?period=${period}`}>{`Revenue of ${period}`}</a>
    {' · '}
    <a href={`/v1/invoices/export.csv?period=${period}`} download={`invoices-${period}.csv`}>{`Download CSV of ${period}`}</a>
  </p>
);

export interface ClosePreview {
  period: string;
  orgs: { orgId: string; orgName: string; alreadyInvoiced: boolean; invoiceId: string; lines: { description: string; amount: Money }[]; subtotal: Money; tax: Money; total: Money }[];
  toInvoice: { count: number; subtotal: Money; tax: Money; total: Money };
}

export const ClosePage: FC<{ viewer: Viewer; period: string; alerts: string[]; periodError?: string | undefined; preview: ClosePreview | null; closed: { created: number; invoices: { id: string; orgName: string; total: Money }[] } | null }> = (p) => (
  <Layout title="Monthly close" viewer={p.viewer} current="close">
    <Alert messages={p.alerts} />
    <p>The close invoices each org’s on-demand usage of a past month (and late usage of earlier months). Preview it first; closing twice creates nothing new.</p>
    <PeriodForm action="/billing/close" period={p.period} button="Preview close" error={p.periodError} />
    {p.closed ? (
      <Notice>
        <p>{`${p.period} is closed: ${p.closed.created} new invoice${p.closed.created === 1 ? '' : 's'}, ${p.closed.invoices.length} in all.`}</p>
      </Notice>
    ) : null}
    {p.closed && p.closed.invoices.length > 0 ? (
      <table>
        <caption>{`Usage invoices of ${p.period}`}</caption>
        <TableHead columns={['Invoice', 'Org', { num: 'Including VAT' }]} />
        <tbody>
          {p.closed.invoices.map((i) => (
            <tr>
              <th scope="row">
                <a href={`/invoices/${encodeURIComponent(i.id)}`}>{i.id}</a>
              </th>
              <td>{i.orgName}</td>
              <td class="num">
                <MoneyText value={i.total} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    ) : null}
    {p.preview ? (
      <section aria-labelledby="close-preview-heading" class="preview">
        <h2 id="close-preview-heading">{`What closing ${p.preview.period} invoices`}</h2>
        {p.preview.orgs.length === 0 ? <p>{`No on-demand usage to invoice for ${p.preview.period}.`}</p> : null}
        {p.preview.orgs.map((o) => (
          <PriceLines
            caption={`${o.orgName}: ${o.alreadyInvoiced ? `already invoiced (${o.invoiceId})` : 'to invoice'}`}
            lines={o.lines}
            totals={[
              { label: 'Subtotal (excluding VAT)', amount: o.subtotal },
              { label: 'VAT', amount: o.tax },
              { label: 'Total including VAT', amount: o.total, strong: true },
            ]}
          />
        ))}
        <p>{`New invoices: ${p.preview.toInvoice.count}, ${formatMoney(p.preview.toInvoice.subtotal)} excluding VAT, ${formatMoney(p.preview.toInvoice.total)} including VAT.`}</p>
        <form method="post" action="/billing/close" class="inline">
          <CsrfField token={p.viewer.csrfToken} />
          <input type="hidden" name="period" value={p.preview.period} />
          <button type="submit">{`Close ${p.preview.period}`}</button>
        </form>
      </section>
    ) : null}
    <Links period={p.period} />
  </Layout>
);

export interface Reconciliation {
  period: string;
  invoices: { count: number; subtotal: Money; tax: Money; total: Money; voided: Money };
  creditNotes: { count: number; subtotal: Money; tax: Money; total: Money };
  invoiced: Money;
  pricedReservations: Money;
  meteredUsage: Money;
  refundsByPolicy: Money;
  expected: Money;
  difference: Money;
  checks: { invoicesMatchPricedReservationsAndUsage: boolean; creditNotesMatchPolicyRefunds: boolean };
  balanced: boolean;
  usageAwaitingNextClose: Money;
}

const Row: FC<{ label: string; value: Money; strong?: boolean }> = ({ label, value, strong }) => (
  <tr>
    <th scope="row">{label}</th>
    <td class={strong ? 'num total' : 'num'}>
      <MoneyText value={value} />
    </td>
  </tr>
);

export const ReconciliationPage: FC<{ viewer: Viewer; period: string; alerts: string[]; periodError?: string | undefined; r: Reconciliation | null }> = (p) => (
  <Layout title={`Reconciliation of ${p.period}`} viewer={p.viewer} current="reconciliation">
    <Alert messages={p.alerts} />
    <PeriodForm action="/billing/reconciliation" period={p.period} button="Show reconciliation" error={p.periodError} />
    {p.r ? (
      <>
        <p role="status" class={p.r.balanced ? 'notice' : 'alert'}>
          {p.r.balanced
            ? `Balanced: invoiced ${formatMoney(p.r.invoiced)} equals what was sold less the policy's refunds, to the cent.`
            : `Not balanced: a difference of ${formatMoney(p.r.difference)}.`}
        </p>
        <table>
          <caption>Invoiced (excluding VAT)</caption>
          <tbody>
            <Row label={`Invoices (${p.r.invoices.count})`} value={p.r.invoices.subtotal} />
            <Row label={`Credit notes (${p.r.creditNotes.count})`} value={{ ...p.r.creditNotes.subtotal, amount: -p.r.creditNotes.subtotal.amount }} />
            <Row label="Invoiced, net" value={p.r.invoiced} strong />
          </tbody>
        </table>
        <table>
          <caption>Sold (excluding VAT)</caption>
          <tbody>
            <Row label="Priced reservations and extensions" value={p.r.pricedReservations} />
            <Row label="Metered on-demand usage invoiced by the close" value={p.r.meteredUsage} />
            <Row label="Refunds by the cancellation policy" value={{ ...p.r.refundsByPolicy, amount: -p.r.refundsByPolicy.amount }} />
            <Row label="Expected" value={p.r.expected} strong />
          </tbody>
        </table>
        <table>
          <caption>Checks</caption>
          <tbody>
            <tr>
              <th scope="row">Invoices match priced reservations and usage</th>
              <td>{p.r.checks.invoicesMatchPricedReservationsAndUsage ? 'yes' : 'no'}</td>
            </tr>
            <tr>
              <th scope="row">Credit notes match the policy’s refunds</th>
              <td>{p.r.checks.creditNotesMatchPolicyRefunds ? 'yes' : 'no (credit notes issued by finance count here)'}</td>
            </tr>
            <tr>
              <th scope="row">VAT invoiced, less VAT credited</th>
              <td class="num">{formatMoney({ ...p.r.invoices.tax, amount: p.r.invoices.tax.amount - p.r.creditNotes.tax.amount })}</td>
            </tr>
            <tr>
              <th scope="row">Usage awaiting the next close</th>
              <td class="num">{formatMoney(p.r.usageAwaitingNextClose)}</td>
            </tr>
          </tbody>
        </table>
      </>
    ) : null}
    <Links period={p.period} />
  </Layout>
);

export interface Revenue {
  period: string;
  rows: { site: string | null; gpuType: string | null; gpuHours: number; invoiced: Money; credited: Money; net: Money }[];
  total: { invoiced: Money; credited: Money; net: Money };
}

export const RevenuePage: FC<{ viewer: Viewer; period: string; alerts: string[]; periodError?: string | undefined; revenue: Revenue | null; names: (site: string | null, gpuType: string | null) => string }> = (p) => (
  <Layout title={`Revenue of ${p.period}`} viewer={p.viewer} current="revenue">
    <Alert messages={p.alerts} />
    <PeriodForm action="/billing/revenue" period={p.period} button="Show revenue" error={p.periodError} />
    {p.revenue ? (
      p.revenue.rows.length === 0 ? (
        <p>{`Nothing was invoiced in ${p.period}.`}</p>
      ) : (
        <table>
          <caption>{`Revenue by site and GPU type, ${p.period} (excluding VAT)`}</caption>
          <TableHead columns={['Pool', { num: 'GPU-hours' }, { num: 'Invoiced' }, { num: 'Credited' }, { num: 'Net' }]} />
          <tbody>
            {p.revenue.rows.map((r) => (
              <tr>
                <th scope="row">{p.names(r.site, r.gpuType)}</th>
                <td class="num">{r.gpuHours.toLocaleString('en-US')}</td>
                <td class="num">
                  <MoneyText value={r.invoiced} />
                </td>
                <td class="num">
                  <MoneyText value={{ ...r.credited, amount: -r.credited.amount }} />
                </td>
                <td class="num total">
                  <MoneyText value={r.net} />
                </td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row" colspan={2}>
                All pools
              </th>
              <td class="num">
                <MoneyText value={p.revenue.total.invoiced} />
              </td>
              <td class="num">
                <MoneyText value={{ ...p.revenue.total.credited, amount: -p.revenue.total.credited.amount }} />
              </td>
              <td class="num total">
                <MoneyText value={p.revenue.total.net} />
              </td>
            </tr>
          </tfoot>
        </table>
      )
    ) : null}
    <Links period={p.period} />
  </Layout>
);

export interface ReceivablesByAge {
  asOf: string;
  total: Money;
  buckets: { bucket: string; count: number; amount: Money }[];
  invoices: { invoiceId: string; orgId: string; customerName: string; period: string; total: Money; outstanding: Money; ageDays: number; bucket: string }[];
}

export const ReceivablesByAgePage: FC<{ viewer: Viewer; r: ReceivablesByAge }> = ({ viewer, r }) => (
  <Layout title="Receivables" viewer={viewer} current="receivables">
    <p>{`Outstanding: ${formatMoney(r.total)} in ${r.invoices.length} open invoice${r.invoices.length === 1 ? '' : 's'}, net of credit notes.`}</p>
    <table>
      <caption>Outstanding by age</caption>
      <TableHead columns={['Age', { num: 'Invoices' }, { num: 'Outstanding' }]} />
      <tbody>
        {r.buckets.map((b) => (
          <tr>
            <th scope="row">{b.bucket}</th>
            <td class="num">{String(b.count)}</td>
            <td class="num">
              <MoneyText value={b.amount} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
    {r.invoices.length > 0 ? (
      <table>
        <caption>Open invoices, oldest first</caption>
        <TableHead columns={['Invoice', 'Org', { num: 'Age (days)' }, { num: 'Total' }, { num: 'Outstanding' }]} />
        <tbody>
          {r.invoices.map((i) => (
            <tr>
              <th scope="row">
                <a href={`/invoices/${encodeURIComponent(i.invoiceId)}`}>{i.invoiceId}</a>
              </th>
              <td>{i.customerName}</td>
              <td class="num">{String(i.ageDays)}</td>
              <td class="num">
                <MoneyText value={i.total} />
              </td>
              <td class="num total">
                <MoneyText value={i.outstanding} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    ) : null}
  </Layout>
);
