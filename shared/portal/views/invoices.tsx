import type { FC } from 'hono/jsx';
import { sumMoney } from '#domain/money.ts';
import { INVOICE_STATUSES, type InvoiceStatus } from '#domain/invoice.ts';
import { safeExternalUrl, type PortalInvoice } from '../invoices.ts';
import { Alert, MoneyText, StatusBadge, TableHead, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

const StripeLinks: FC<{ invoice: PortalInvoice; finance?: boolean }> = ({ invoice, finance }) => {
  const hosted = safeExternalUrl(invoice.hostedInvoiceUrl);
  const pdf = safeExternalUrl(invoice.pdfUrl);
  if (!hosted && !pdf) return <>{finance && invoice.note ? invoice.note : 'Payment page not ready yet'}</>;
  return (
    <>
      {hosted ? (
        <a href={hosted} rel="noopener noreferrer">
          {`Pay or view ${invoice.id} on Stripe`}
        </a>
      ) : null}
      {hosted && pdf ? <br /> : null}
      {pdf ? (
        <a href={pdf} rel="noopener noreferrer">
          {`PDF of ${invoice.id}`}
        </a>
      ) : null}
    </>
  );
};

const net = (i: PortalInvoice) => ({ ...i.total, amount: i.total.amount - (i.creditedTotal?.amount ?? 0) });
const credited = (i: PortalInvoice) => ({ ...i.total, amount: -(i.creditedTotal?.amount ?? 0) });
const InvoiceLink: FC<{ i: PortalInvoice }> = ({ i }) => <a href={`/invoices/${encodeURIComponent(i.id)}`}>{i.id}</a>;

const forWhat = (i: PortalInvoice) => (i.reservationId ? `Reservation ${i.reservationId}` : i.period ? `Usage ${i.period}` : '—');

/** How many invoices, their total, what was credited on them and the net, as a row's cells; `strong` marks the net as the table's total. */
const SumCells: FC<{ invoices: PortalInvoice[]; strong?: boolean }> = ({ invoices, strong }) => (
  <>
    <td class="num">{String(invoices.length)}</td>
    <td class="num">
      <MoneyText value={sumMoney(invoices.map((i) => i.total))} />
    </td>
    <td class="num">
      <MoneyText value={sumMoney(invoices.map(credited))} />
    </td>
    <td class={strong ? 'num total' : 'num'}>
      <MoneyText value={sumMoney(invoices.map(net))} />
    </td>
  </>
);

/** One invoice in a list: a customer's list shows when it was issued; finance's shows the note where Stripe has no page. */
const InvoiceRow: FC<{ i: PortalInvoice; finance?: boolean }> = ({ i, finance }) => (
  <tr>
    <th scope="row">
      <InvoiceLink i={i} />
    </th>
    <td>{forWhat(i)}</td>
    {finance ? null : (
      <td>
        <Time iso={i.createdAt} />
      </td>
    )}
    <td>
      <StatusBadge status={i.status} />
    </td>
    <td class="num">
      <MoneyText value={i.total} />
    </td>
    <td class="num">
      <MoneyText value={credited(i)} />
    </td>
    <td class={finance ? 'num' : 'num total'}>
      <MoneyText value={net(i)} />
    </td>
    <td>
      <StripeLinks invoice={i} finance={finance} />
    </td>
  </tr>
);

/** A customer's own invoices. */
export const CustomerInvoicesPage: FC<{ viewer: Viewer; invoices: PortalInvoice[] }> = ({ viewer, invoices }) => (
  <Layout title="Invoices" viewer={viewer} current="invoices">
    {invoices.length === 0 ? (
      <p>No invoices yet. Confirming a reservation invoices it; on-demand usage is invoiced after each month closes.</p>
    ) : (
      <table>
        <caption>Your invoices, with links to Stripe’s hosted pages</caption>
        <TableHead columns={['Invoice', 'For', 'Issued', 'Status', { num: 'Total incl. VAT' }, { num: 'Credited' }, { num: 'Net' }, 'Stripe']} />
        <tbody>
          {invoices.map((i) => (
            <InvoiceRow i={i} />
          ))}
        </tbody>
      </table>
    )}
  </Layout>
);

export interface OrgInvoices {
  orgId: string;
  orgName: string;
  invoices: PortalInvoice[];
}

/** Finance: every org's invoices of one period, the CSV export, totals by status. */
export const FinanceInvoicesPage: FC<{
  viewer: Viewer;
  period: string;
  periodInput: string;
  status: InvoiceStatus | null;
  orgs: { id: string; name: string }[];
  org: string | null;
  byOrg: OrgInvoices[];
  alerts: string[];
}> = (p) => {
  const all = p.byOrg.flatMap((o) => o.invoices);
  const orgName = p.org ? (p.orgs.find((o) => o.id === p.org)?.name ?? p.org) : null;
  const scope = `${p.period}${orgName ? `, ${orgName}` : ''}${p.status ? `, status ${p.status}` : ''}`;
  const csvHref = `/v1/invoices/export.csv?period=${encodeURIComponent(p.period)}`;
  return (
    <Layout title={`Invoices for ${p.period}`} viewer={p.viewer} current="invoices">
      <Alert messages={p.alerts} />
      <form method="get" action="/invoices" class="inline" novalidate>
        <span class="field">
          <label for="period">Period</label>
          <input type="text" id="period" name="period" value={p.periodInput} inputmode="numeric" placeholder="2026-11" aria-describedby="period-hint" autocomplete="off" />
          <span class="hint" id="period-hint">
            YYYY-MM (UTC month)
          </span>
        </span>
        <span class="field">
          <label for="status">Status</label>
          <select id="status" name="status">
            <option value="" selected={p.status === null}>
              Any status
            </option>
            {INVOICE_STATUSES.map((s) => (
              <option value={s} selected={p.status === s}>
                {s}
              </option>
            ))}
          </select>
        </span>
        <span class="field">
          <label for="org">Org</label>
          <select id="org" name="org">
            <option value="" selected={p.org === null}>
              Every org
            </option>
            {p.orgs.map((o) => (
              <option value={o.id} selected={p.org === o.id}>
                {`${o.name} (${o.id})`}
              </option>
            ))}
          </select>
        </span>
        <button type="submit">Show invoices</button>
      </form>
      <p>
        <a href={csvHref} download={`invoices-${p.period}.csv`}>
          Download CSV
        </a>
        {` (one row per invoice line and credit notes as negative rows, period ${p.period}; UTF-8 with a byte-order mark, so Excel opens it as is)`}
      </p>
      <table>
        <caption>{`Totals for ${scope}, credit notes netted`}</caption>
        <TableHead columns={['Status', { num: 'Invoices' }, { num: 'Total incl. VAT' }, { num: 'Credited' }, { num: 'Net' }]} />
        <tbody>
          {INVOICE_STATUSES.filter((s) => all.some((i) => i.status === s)).map((s) => {
            return (
              <tr>
                <th scope="row">{s}</th>
                <SumCells invoices={all.filter((i) => i.status === s)} />
              </tr>
            );
          })}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">All</th>
            <SumCells invoices={all} strong />
          </tr>
        </tfoot>
      </table>
      {p.byOrg.length === 0 ? <p>{`No invoices for ${scope}.`}</p> : null}
      {p.byOrg.map((o) => (
        <section aria-labelledby={`org-${o.orgId}`}>
          <h2 id={`org-${o.orgId}`}>{o.orgName}</h2>
          <table>
            <caption>{`Invoices of ${o.orgName} (${o.orgId}) for ${p.period}`}</caption>
            <TableHead columns={['Invoice', 'For', 'Status', { num: 'Total incl. VAT' }, { num: 'Credited' }, { num: 'Net' }, 'Stripe']} />
            <tbody>
              {o.invoices.map((i) => (
                <InvoiceRow i={i} finance />
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row" colspan={5}>
                  {`Net total of ${o.orgName}`}
                </th>
                <td class="num total">
                  <MoneyText value={sumMoney(o.invoices.map(net))} />
                </td>
                <td></td>
              </tr>
            </tfoot>
          </table>
        </section>
      ))}
    </Layout>
  );
};

export interface Receivable {
  orgId: string;
  orgName: string;
  open: PortalInvoice[];
  uncollectible: PortalInvoice[];
}

/** Finance: what each org still owes (open invoices) and what was written off as uncollectible. */
export const ReceivablesPage: FC<{ viewer: Viewer; receivables: Receivable[] }> = ({ viewer, receivables }) => {
  const open = receivables.flatMap((r) => r.open);
  const bad = receivables.flatMap((r) => r.uncollectible);
  return (
    <Layout title="Receivables" viewer={viewer} current="receivables">
      <p>
        {'Outstanding: '}
        <strong>
          <MoneyText value={sumMoney(open.map((i) => i.total))} />
        </strong>
        {` in ${open.length} open invoice${open.length === 1 ? '' : 's'}; uncollectible: `}
        <MoneyText value={sumMoney(bad.map((i) => i.total))} />
        {` in ${bad.length}.`}
      </p>
      {receivables.length === 0 ? (
        <p>Nothing is owed: no open or uncollectible invoices.</p>
      ) : (
        <table>
          <caption>Receivables by org</caption>
          <TableHead columns={['Org', { num: 'Open invoices' }, { num: 'Outstanding' }, 'Oldest open since', { num: 'Uncollectible' }, 'Open invoices']} />
          <tbody>
            {receivables.map((r) => {
              const oldest = r.open.map((i) => i.createdAt).sort()[0] ?? null;
              return (
                <tr>
                  <th scope="row">{`${r.orgName} (${r.orgId})`}</th>
                  <td class="num">{String(r.open.length)}</td>
                  <td class="num total">
                    <MoneyText value={sumMoney(r.open.map((i) => i.total))} />
                  </td>
                  <td>
                    <Time iso={oldest} />
                  </td>
                  <td class="num">
                    <MoneyText value={sumMoney(r.uncollectible.map((i) => i.total))} />
                  </td>
                  <td>
                    {r.open.length === 0
                      ? '—'
                      : r.open.map((i) => (
                          <>
                            <StripeLinks invoice={i} />
                            <br />
                          </>
                        ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Layout>
  );
};
