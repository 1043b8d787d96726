/** The Book page's availability panel: also served alone (GET /book/availability) for the page's script to swap in as the form changes. */
import type { FC } from 'hono/jsx';
import type { Catalog, Pool } from '#domain/catalog.ts';
import { formatUtc, poolName } from '../format.ts';
import { WindowAvailabilityChart } from './charts.tsx';

export interface BookAvailabilityView {
  /** The chosen pool, or null when Site and GPU type do not name one yet. */
  pool: Pool | null;
  /** The GPUs asked for, when readable. */
  needed: number | null;
  /** The window drawn (the chosen one, or the next 7 days). */
  window: { start: string; end: string; chosen: boolean } | null;
  slotHours: 1 | 24;
  slots: { start: string; available: number }[];
  /** Why nothing is drawn, or what was cut short. */
  message: string | null;
}

/** The chosen pool's free GPUs over the chosen window; the page's script redraws it as the form changes. */
export const BookAvailability: FC<{ catalog: Catalog; view: BookAvailabilityView }> = ({ catalog, view }) => {
  const { pool, window } = view;
  if (!pool) return <p>{view.message ?? 'Choose a site and a GPU type to see the pool’s free GPUs.'}</p>;
  const name = poolName(catalog, pool);
  return (
    <>
      <p>
        {`${name}: ${pool.totalGpus.toLocaleString('en-US')} GPUs, booked in whole nodes of ${pool.stepGpus}.`}
        {window ? ` ${window.chosen ? 'Your window' : 'Next 7 days'}: ${formatUtc(window.start)} to ${formatUtc(window.end)}.` : ''}
      </p>
      {view.message ? <p class="hint">{view.message}</p> : null}
      <WindowAvailabilityChart
        id="book-avail"
        title={`Free capacity of ${name} per ${view.slotHours === 1 ? "hour" : "day"}`}
        capacity={pool.totalGpus}
        needed={view.needed}
        slotHours={view.slotHours}
        slots={view.slots}
      />
      <p>
        <a href={`/sites?site=${encodeURIComponent(pool.site)}&gpuType=${encodeURIComponent(pool.gpuType)}`}>{`Availability of ${name} over 12 months`}</a>
      </p>
    </>
  );
};
