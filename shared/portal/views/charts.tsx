/**
 * Server-rendered SVG bar charts with text alternatives: the SVG is an image named by its title and
 * described by a one-line summary, and the same numbers are in a table under a disclosure.
 */
import type { FC } from 'hono/jsx';
import { formatDay, formatGpuHours, formatUtc } from '../format.ts';
import { TableHead } from './components.tsx';

export interface Bar {
  /** When the bar starts (ISO). */
  start: string;
  /** Full text of the bar, e.g. "2026-12-01: 1,016 of 1,024 GPUs free". */
  text: string;
  /** Short tick under the bar, shown for some bars only. */
  tick: string;
  value: number;
}

const BAR = 16;
const GAP = 4;
const LEFT = 44;
const TOP = 8;
const HEIGHT = 120;
const BOTTOM = 22;

const BarChart: FC<{ id: string; title: string; summary: string; max: number; bars: Bar[]; tickEvery: number; isBad: (b: Bar) => boolean; line?: { value: number; label: string } | undefined; columns: [string, string]; cells: (b: Bar) => [string, string] }> = (p) => {
  const width = LEFT + p.bars.length * (BAR + GAP) + GAP;
  const scale = (v: number) => (p.max > 0 ? Math.round((Math.max(0, Math.min(v, p.max)) / p.max) * HEIGHT) : 0);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${TOP + HEIGHT + BOTTOM}`} role="img" aria-labelledby={`${p.id}-title`} aria-describedby={`${p.id}-desc`} xmlns="http://www.w3.org/2000/svg">
        <title id={`${p.id}-title`}>{p.title}</title>
        <desc id={`${p.id}-desc`}>{p.summary}</desc>
        <line x1={LEFT - 2} y1={TOP} x2={LEFT - 2} y2={TOP + HEIGHT} stroke="#8c959f" />
        <line x1={LEFT - 2} y1={TOP + HEIGHT} x2={width} y2={TOP + HEIGHT} stroke="#8c959f" />
        <text x={LEFT - 6} y={TOP + 10} text-anchor="end" font-size="10" fill="#55606e">
          {String(p.max)}
        </text>
        <text x={LEFT - 6} y={TOP + HEIGHT} text-anchor="end" font-size="10" fill="#55606e">
          0
        </text>
        {p.line && p.line.value > 0 && p.line.value <= p.max ? (
          <g>
            <line x1={LEFT - 2} y1={TOP + HEIGHT - scale(p.line.value)} x2={width} y2={TOP + HEIGHT - scale(p.line.value)} stroke="#b45309" stroke-dasharray="4 3" />
            <text x={width - 2} y={TOP + HEIGHT - scale(p.line.value) - 3} text-anchor="end" font-size="10" fill="#7c2d12">
              {p.line.label}
            </text>
          </g>
        ) : null}
        {p.bars.map((b, i) => {
          const h = scale(b.value);
          const x = LEFT + GAP + i * (BAR + GAP);
          return (
            <g>
              <rect x={x} y={TOP + HEIGHT - h} width={BAR} height={h} fill={p.isBad(b) ? '#a4161a' : '#0b5cad'}>
                <title>{b.text}</title>
              </rect>
              {i % p.tickEvery === 0 ? (
                <text x={x + BAR / 2} y={TOP + HEIGHT + 15} text-anchor="middle" font-size="9" fill="#55606e">
                  {b.tick}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>{p.summary}</figcaption>
      <details>
        <summary>{`${p.title}: table`}</summary>
        <table>
          <caption class="visually-hidden">{p.title}</caption>
          <TableHead columns={[p.columns[0], { num: p.columns[1] }]} />
          <tbody>
            {p.bars.map((b) => {
              const [when, value] = p.cells(b);
              return (
                <tr>
                  <th scope="row">{when}</th>
                  <td class="num">{value}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </details>
    </figure>
  );
};

const count = (n: number) => n.toLocaleString('en-US');

/** Free GPUs of one pool per UTC day. */
export const AvailabilityChart: FC<{ id: string; title: string; capacity: number; slots: { start: string; available: number }[] }> = ({ id, title, capacity, slots }) => {
  if (slots.length === 0) return null;
  const lowest = slots.reduce((a, b) => (b.available < a.available ? b : a));
  const fullyFree = slots.filter((s) => s.available >= capacity).length;
  const summary =
    lowest.available >= capacity
      ? `All ${count(capacity)} GPUs are free on each of the ${slots.length} days from ${formatDay(slots[0]!.start)}.`
      : `Fewest free: ${count(lowest.available)} of ${count(capacity)} GPUs on ${formatDay(lowest.start)}; all free on ${fullyFree} of ${slots.length} days.`;
  const bars: Bar[] = slots.map((s) => ({
    start: s.start,
    value: s.available,
    tick: s.start.slice(8, 10),
    text: `${formatDay(s.start)}: ${count(s.available)} of ${count(capacity)} GPUs free`,
  }));
  return <BarChart id={id} title={title} summary={summary} max={capacity} bars={bars} tickEvery={7} isBad={(b) => b.value <= 0} columns={['Day (UTC)', 'Free GPUs (all day)']} cells={(b) => [formatDay(b.start), count(b.value)]} />;
};

/** GPU-hours metered per hour (short windows) or per day (long ones). */
export const UsageChart: FC<{ id: string; title: string; gpus: number; slotHours: 1 | 24; slots: { start: string; gpuSeconds: number }[] }> = ({ id, title, gpus, slotHours, slots }) => {
  if (slots.length === 0) return null;
  const total = slots.reduce((s, b) => s + b.gpuSeconds, 0);
  const max = gpus * slotHours;
  const unit = slotHours === 1 ? 'hour' : 'day';
  const summary = `${formatGpuHours(total)} GPU-hours metered over ${slots.length} ${unit}${slots.length === 1 ? '' : 's'} from ${formatUtc(slots[0]!.start)} (at most ${count(max)} GPU-hours per ${unit}).`;
  const bars: Bar[] = slots.map((s) => ({
    start: s.start,
    value: s.gpuSeconds / 3600,
    tick: slotHours === 1 ? s.start.slice(11, 13) : s.start.slice(8, 10),
    text: `${slotHours === 1 ? formatUtc(s.start) : formatDay(s.start)}: ${formatGpuHours(s.gpuSeconds)} GPU-hours`,
  }));
  return (
    <BarChart
      id={id}
      title={title}
      summary={summary}
      max={max}
      bars={bars}
      tickEvery={slotHours === 1 ? 6 : 7}
      isBad={() => false}
      columns={[slotHours === 1 ? 'Hour (UTC)' : 'Day (UTC)', 'GPU-hours']}
      cells={(b) => [slotHours === 1 ? formatUtc(b.start) : formatDay(b.start), formatGpuHours(b.value * 3600)]}
    />
  );
};

/**
 * Free GPUs of one pool over a booking window, per hour (short windows) or per day, with the GPUs
 * asked for drawn as a line: bars below it (too few free) are red.
 */
export const WindowAvailabilityChart: FC<{ id: string; title: string; capacity: number; needed: number | null; slotHours: 1 | 24; slots: { start: string; available: number }[] }> = (p) => {
  if (p.slots.length === 0) return null;
  const lowest = p.slots.reduce((a, b) => (b.available < a.available ? b : a));
  const unit = p.slotHours === 1 ? 'hour' : 'day';
  const at = (iso: string) => (p.slotHours === 1 ? formatUtc(iso) : formatDay(iso));
  const short = p.needed !== null ? p.slots.filter((s) => s.available < p.needed!).length : 0;
  const summary =
    `Fewest free: ${count(lowest.available)} of ${count(p.capacity)} GPUs (${at(lowest.start)}).` +
    (p.needed !== null ? (short === 0 ? ` ${count(p.needed)} GPUs are free in every ${unit} of the window.` : ` Too few for ${count(p.needed)} GPUs in ${short} of ${p.slots.length} ${unit}s.`) : '');
  const bars: Bar[] = p.slots.map((s) => ({
    start: s.start,
    value: s.available,
    tick: p.slotHours === 1 ? s.start.slice(11, 13) : s.start.slice(8, 10),
    text: `${at(s.start)}: ${count(s.available)} of ${count(p.capacity)} GPUs free`,
  }));
  const needed = p.needed;
  return (
    <BarChart
      id={p.id}
      title={p.title}
      summary={summary}
      max={p.capacity}
      bars={bars}
      tickEvery={p.slotHours === 1 ? 6 : 7}
      isBad={(b) => (needed !== null ? b.value < needed : b.value <= 0)}
      line={needed !== null ? { value: needed, label: `${count(needed)} asked` } : undefined}
      columns={[p.slotHours === 1 ? 'Hour (UTC)' : 'Day (UTC)', p.slotHours === 1 ? 'Free GPUs' : 'Free GPUs (all day)']}
      cells={(b) => [at(b.start), count(b.value)]}
    />
  );
};
