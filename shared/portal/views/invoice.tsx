/** One invoice: its lines, VAT, credit notes and what is left to pay, with Stripe's page and PDF. */
import type { FC } from 'hono/jsx';
import type { CreditNote, Invoice } from '#domain/invoice.ts';
import { eur, formatMoney, subtractMoney } from '#domain/money.ts';
import type { Role } from '#domain/principal.ts';
import { safeExternalUrl } from '../invoices.ts';
import { CsrfField, InputField, MoneyText, Outcome, StatusBadge, TableHead, Time } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';
import { PriceLines, vatTotals } from './price-lines.tsx';

const KIND: Record<Invoice['kind'], string> = { reservation: 'Reservation invoice', extension: 'Extension invoice', usage: 'On-demand usage invoice' };

/** What a person is told about Stripe: never Stripe's own or our internal error text. */
export function stripeStatusText(i: { stripeSync: string; hostedInvoiceUrl: string | null }, role: Role): string {
  switch (i.stripeSync) {
    case 'synced':
      return i.hostedInvoiceUrl ? 'Sent through Stripe.' : 'Sent through Stripe; its page is being prepared.';
    case 'pending':
      return 'Being sent to Stripe; the payment page appears here shortly.';
    case 'failed':
      return role === 'finance' ? 'Sending to Stripe failed; the sync job retries it.' : 'The payment page is not ready yet; we will email it.';
    default:
      return role === 'finance' ? 'Not sent: Stripe is not configured in this environment.' : 'The payment page is not available yet.';
  }
}

export const InvoicePage: FC<{
  viewer: Viewer;
  invoice: Invoice;
  creditNotes: CreditNote[];
  orgName: string;
  notice: string | null;
  alerts: string[];
  creditForm?: { amount: string; reason: string; errors: Partial<Record<'amount' | 'reason', string>> } | undefined;
}> = (p) => {
  const i = p.invoice;
  const hosted = safeExternalUrl(i.hostedInvoiceUrl);
  const pdf = safeExternalUrl(i.pdfUrl);
  const net = subtractMoney(i.total, i.creditedTotal);
  const left = subtractMoney(i.subtotal, i.creditedSubtotal);
  return (
    <Layout title={`${KIND[i.kind]} ${i.id}`} viewer={p.viewer} current="invoices">
      <Outcome alerts={p.alerts} notice={p.notice} />
      <dl class="facts">
        <dt>Customer</dt>
        <dd>{`${i.customer.name} (${p.orgName === i.customer.name ? i.orgId : p.orgName}), ${i.customer.country}${i.customer.vatNumber ? `, VAT ${i.customer.vatNumber}` : ''}`}</dd>
        <dt>Status</dt>
        <dd>
          <StatusBadge status={i.status} />
        </dd>
        <dt>Period</dt>
        <dd>{i.period}</dd>
        {i.reservationId ? (
          <>
            <dt>Reservation</dt>
            <dd>{p.viewer.role === 'customer' ? <a href={`/reservations/${encodeURIComponent(i.reservationId)}`}>{i.reservationId}</a> : i.reservationId}</dd>
          </>
        ) : null}
        <dt>Issued</dt>
        <dd>
          <Time iso={i.createdAt} />
        </dd>
        {i.paidAt ? (
          <>
            <dt>Paid</dt>
            <dd>
              <Time iso={i.paidAt} />
            </dd>
          </>
        ) : null}
        <dt>Stripe</dt>
        <dd>
          {hosted ? (
            <a href={hosted} rel="noopener noreferrer">
              {`Pay or view ${i.id} on Stripe`}
            </a>
          ) : (
            stripeStatusText(i, p.viewer.role)
          )}
          {pdf ? (
            <>
              {' · '}
              <a href={pdf} rel="noopener noreferrer">
                {`PDF of ${i.id}`}
              </a>
            </>
          ) : null}
        </dd>
      </dl>
      <PriceLines
        caption={`Lines of ${i.id}`}
        detail
        lines={i.lines}
        totals={[
          ...vatTotals({ ...i, rateBps: i.taxRateBps }).map((row, index) => (index === 1 ? { ...row, label: `VAT (${i.taxRateBps / 100} % of the subtotal)` } : row)),
          ...(p.creditNotes.length > 0
            ? [
                { label: 'Credit notes (including VAT)', amount: eur(-i.creditedTotal.amount) },
                { label: 'Net amount', amount: net, strong: true },
              ]
            : []),
        ]}
        mention={i.legalMention}
      />
      <section aria-labelledby="credit-notes-heading">
        <h2 id="credit-notes-heading">Credit notes</h2>
        {p.creditNotes.length === 0 ? (
          <p>No credit notes on this invoice.</p>
        ) : (
          <table>
            <caption>{`Credit notes on ${i.id}`}</caption>
            <TableHead columns={['Credit note', 'Issued', 'Reason', { num: 'Excluding VAT' }, { num: 'VAT' }, { num: 'Including VAT' }]} />
            <tbody>
              {p.creditNotes.map((n) => (
                <tr>
                  <th scope="row">{n.id}</th>
                  <td>
                    <Time iso={n.createdAt} />
                  </td>
                  <td>{n.reason}</td>
                  <td class="num">
                    <MoneyText value={eur(-n.subtotal.amount)} />
                  </td>
                  <td class="num">
                    <MoneyText value={eur(-n.tax.amount)} />
                  </td>
                  <td class="num">
                    <MoneyText value={eur(-n.total.amount)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {p.viewer.role === 'finance' ? (
        <section aria-labelledby="credit-heading">
          <h2 id="credit-heading">Issue a credit note</h2>
          {left.amount <= 0 ? (
            <p>This invoice is fully credited.</p>
          ) : (
            <form method="post" action={`/invoices/${encodeURIComponent(i.id)}/credit-notes`} class="stack" novalidate>
              <CsrfField token={p.viewer.csrfToken} />
              <InputField
                id="credit-amount"
                name="amount"
                label="Amount excluding VAT (€)"
                type="text"
                inputmode="text"
                value={p.creditForm?.amount ?? ''}
                hint={`Up to ${formatMoney(left)} is left to credit; VAT at ${i.taxRateBps / 100} % is added.`}
                error={p.creditForm?.errors.amount}
              />
              <InputField id="credit-reason" name="reason" label="Reason" type="text" value={p.creditForm?.reason ?? ''} hint="Printed on the credit note." error={p.creditForm?.errors.reason} />
              <div class="buttons">
                <button type="submit">Issue credit note</button>
              </div>
            </form>
          )}
        </section>
      ) : null}
      <p>
        <a href="/invoices">All invoices</a>
      </p>
    </Layout>
  );
};
