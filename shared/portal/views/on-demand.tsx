/** Start on demand: the pools' hourly rates, then the form (pool, GPUs). */
import type { FC } from 'hono/jsx';
import type { Catalog } from '#domain/catalog.ts';
import { formatMoney } from '#domain/money.ts';
import { poolName } from '../format.ts';
import { Alert, CsrfField, InputField, MoneyText, SelectField, TableHead } from './components.tsx';
import { Layout, type Viewer } from './layout.tsx';

/** Start on demand: pool, GPUs, and the hourly rate shown before starting. */
export const OnDemandPage: FC<{ viewer: Viewer; catalog: Catalog; now: Date; values: { pool: string; gpus: string }; errors: Partial<Record<'pool' | 'gpus', string>>; alerts: string[]; rateBps: number }> = (p) => {
  const bookable = p.catalog.pools.filter((pool) => Date.parse(pool.bookableFrom) <= p.now.getTime());
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
        <SelectField
          id="od-pool"
          name="pool"
          label="Pool"
          value={p.values.pool}
          placeholder="Choose a pool"
          options={bookable.map((pool) => ({ value: pool.id, text: `${poolName(p.catalog, pool)} — ${formatMoney(pool.onDemandRate)} per GPU-hour` }))}
          error={p.errors.pool}
        />
        <InputField id="od-gpus" name="gpus" label="GPUs" type="number" value={p.values.gpus} min="8" step="8" inputmode="numeric" hint="Whole nodes: a multiple of 8." error={p.errors.gpus} />
        <p class="hint">{`VAT at ${p.rateBps / 100} % is added on the invoice.`}</p>
        <div class="buttons">
          <button type="submit">Start on demand</button>
        </div>
      </form>
    </Layout>
  );
};
