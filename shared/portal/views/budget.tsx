/** The Budget page: this month's figures, the month-to-date chart (reserved vs on-demand by day), and the admin's form. */
import type { FC } from 'hono/jsx';
import { formatMoney, type Money } from '#domain/money.ts';
import { Alert, CsrfField, MoneyText, Notice, TableHead, TextField } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

export interface BudgetFigures {
  monthlyLimit: Money;
  alertThresholdsPct: number[];
  enforce: boolean;
  stopOnDemandAtLimit: boolean;
  period: string;
  spent: Money;
  committed: Money;
  forecast: Money;
  remaining: Money;
  thresholdsReached: number[];
}

export interface SpendDay {
  date: string;
  reserved: Money;
  onDemand: Money;
}

export interface BudgetForm {
  limit: string;
  thresholds: string;
  enforce: boolean;
  stopOnDemand: boolean;
}

const W = 18;
const GAP = 4;
const LEFT = 64;
const TOP = 8;
const HEIGHT = 140;
const BOTTOM = 22;

/** Stacked bars per day: reserved (dark) and on-demand (light), with a table of the same numbers. */
export const SpendChart: FC<{ period: string; days: SpendDay[] }> = ({ period, days }) => {
  const title = `Month-to-date spend, ${period}, by day`;
  const total = days.reduce((s, d) => s + d.reserved.amount + d.onDemand.amount, 0);
  const reserved = days.reduce((s, d) => s + d.reserved.amount, 0);
  const summary =
    days.length === 0
      ? `Nothing spent in ${period} yet.`
      : `${formatMoney({ amount: total, currency: 'EUR' })} over ${days.length} day${days.length === 1 ? '' : 's'}: ${formatMoney({ amount: reserved, currency: 'EUR' })} reserved, ${formatMoney({ amount: total - reserved, currency: 'EUR' })} on-demand.`;
  const max = Math.max(1, ...days.map((d) => Math.max(0, d.reserved.amount) + Math.max(0, d.onDemand.amount)));
  const scale = (v: number) => Math.round((Math.max(0, v) / max) * HEIGHT);
  const width = LEFT + Math.max(1, days.length) * (W + GAP) + GAP;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${TOP + HEIGHT + BOTTOM}`} role="img" aria-labelledby="spend-title spend-desc" xmlns="http://www.w3.org/2000/svg">
        <title id="spend-title">{title}</title>
        <desc id="spend-desc">{summary}</desc>
        <line x1={LEFT - 2} y1={TOP} x2={LEFT - 2} y2={TOP + HEIGHT} stroke="#8c959f" />
        <line x1={LEFT - 2} y1={TOP + HEIGHT} x2={width} y2={TOP + HEIGHT} stroke="#8c959f" />
        <text x={LEFT - 6} y={TOP + 10} text-anchor="end" font-size="10" fill="#55606e">
          {formatMoney({ amount: max, currency: 'EUR' })}
        </text>
        {days.map((d, i) => {
          const r = scale(d.reserved.amount);
          const o = scale(d.onDemand.amount);
          const x = LEFT + GAP + i * (W + GAP);
          return (
            <g>
              <rect x={x} y={TOP + HEIGHT - r} width={W} height={r} fill="#0b5cad">
                <title>{`${d.date}: ${formatMoney(d.reserved)} reserved`}</title>
              </rect>
              <rect x={x} y={TOP + HEIGHT - r - o} width={W} height={o} fill="#7fb3e6">
                <title>{`${d.date}: ${formatMoney(d.onDemand)} on-demand`}</title>
              </rect>
              <text x={x + W / 2} y={TOP + HEIGHT + 15} text-anchor="middle" font-size="9" fill="#55606e">
                {d.date.slice(8, 10)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption>{`${summary} Dark: reserved; light: on-demand.`}</figcaption>
      <details>
        <summary>{`${title}: table`}</summary>
        <table>
          <caption class="visually-hidden">{title}</caption>
          <TableHead columns={['Day (UTC)', { num: 'Reserved' }, { num: 'On-demand' }]} />
          <tbody>
            {days.map((d) => (
              <tr>
                <th scope="row">{d.date}</th>
                <td class="num">{formatMoney(d.reserved)}</td>
                <td class="num">{formatMoney(d.onDemand)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
};

export const BudgetPage: FC<{
  viewer: Viewer;
  admin: boolean;
  period: string;
  budget: BudgetFigures | null;
  days: SpendDay[];
  form: BudgetForm;
  errors: Record<string, string>;
  saved: string | null;
}> = ({ viewer, admin, period, budget, days, form, errors, saved }) => (
  <Layout title="Budget" viewer={viewer} current="budget">
    {saved ? <Notice>{saved}</Notice> : null}
    <Alert messages={Object.values(errors)} />
    {budget ? (
      <section aria-labelledby="figures-h">
        <h2 id="figures-h">{`This month (${budget.period})`}</h2>
        <dl class="facts">
          <dt>Monthly limit</dt>
          <dd>
            <MoneyText value={budget.monthlyLimit} />
          </dd>
          <dt>Spent</dt>
          <dd>
            <MoneyText value={budget.spent} />
          </dd>
          <dt>Committed</dt>
          <dd>
            <MoneyText value={budget.committed} />
          </dd>
          <dt>Remaining</dt>
          <dd>
            <MoneyText value={budget.remaining} />
          </dd>
          <dt>Forecast for the month</dt>
          <dd>
            <MoneyText value={budget.forecast} />
          </dd>
          <dt>Alerts reached</dt>
          <dd>{budget.thresholdsReached.length ? budget.thresholdsReached.map((p) => `${p} %`).join(', ') : 'none yet'}</dd>
          <dt>Hard cap</dt>
          <dd>
            {budget.enforce ? 'Bookings over the limit are refused' : 'Alerts only'}
            {budget.stopOnDemandAtLimit ? '; on-demand stops at the limit' : ''}
          </dd>
        </dl>
      </section>
    ) : (
      <p>{admin ? 'Your org has no budget yet. Set one below.' : 'Your org has no budget yet. An org admin can set one.'}</p>
    )}
    <section aria-labelledby="chart-h">
      <h2 id="chart-h">Spend by day</h2>
      <SpendChart period={period} days={days} />
    </section>
    {admin ? (
      <section aria-labelledby="form-h">
        <h2 id="form-h">{budget ? 'Change the budget' : 'Set a budget'}</h2>
        <form method="post" action="/budget" novalidate>
          <CsrfField token={viewer.csrfToken} />
          <TextField id="limit" name="limit" label="Monthly limit (EUR)" value={form.limit} inputmode="text" hint="Excluding VAT, e.g. 25000 or 25000.50" error={errors.limit} />
          <TextField id="thresholds" name="thresholds" label="Alert thresholds (%)" value={form.thresholds} hint="Comma-separated, increasing, from 1 to 100, e.g. 50, 80, 100" error={errors.thresholds} />
          <div class="field">
            <input type="checkbox" id="enforce" name="enforce" value="on" checked={form.enforce} />
            <label for="enforce">Refuse bookings over the limit</label>
          </div>
          <div class="field">
            <input type="checkbox" id="stopOnDemand" name="stopOnDemand" value="on" checked={form.stopOnDemand} />
            <label for="stopOnDemand">Stop on-demand at the limit</label>
          </div>
          <button type="submit">Save budget</button>
        </form>
        {budget ? (
          <form method="post" action="/budget/remove" class="inline">
            <CsrfField token={viewer.csrfToken} />
            <button type="submit" class="secondary">
              Remove budget
            </button>
          </form>
        ) : null}
      </section>
    ) : null}
  </Layout>
);
