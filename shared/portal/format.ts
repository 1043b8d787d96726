/** How the portal writes instants, quantities and pools: always UTC, always with the unit. */
import type { Catalog } from '#domain/catalog.ts';
import { eur, formatMoney } from '#domain/money.ts';

/** `2026-12-01 08:00 UTC` */
export const formatUtc = (iso: string | Date): string => {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
};

/** `2026-12-01T08:00`: what the Start and End fields show and accept. */
export const toUtcInput = (iso: string): string => new Date(iso).toISOString().slice(0, 16);

/** `2026-12-01` */
export const formatDay = (iso: string | Date): string => (typeof iso === 'string' ? new Date(iso) : iso).toISOString().slice(0, 10);

/** GPU-seconds as GPU-hours with at most one decimal: 5400 → "1.5". */
export const formatGpuHours = (gpuSeconds: number): string => {
  const tenths = Math.round(gpuSeconds / 360);
  return tenths % 10 === 0 ? String(tenths / 10) : (tenths / 10).toFixed(1);
};

/** `H100 SXM at Marseille`: a pool (or a quote or reservation of one) by its GPU type's and site's names. */
export const poolName = (catalog: Pick<Catalog, 'gpuTypes' | 'sites'>, of: { site: string; gpuType: string }): string =>
  `${catalog.gpuTypes.find((g) => g.id === of.gpuType)?.name ?? of.gpuType} at ${catalog.sites.find((s) => s.id === of.site)?.name ?? of.site}`;

/** Cents in euros (`€2.10`), or `—` for none. */
export const formatCents = (n: number | null): string => (n === null ? '—' : formatMoney(eur(n)));

export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

const EUROS = /^\s*(\d{1,12})(?:[.,](\d{1,2}))?\s*$/;

/** "25000.5" → 2500050 cents, exactly (never through floating point); null when it is not an amount. */
export function parseEuros(text: string): number | null {
  const m = EUROS.exec(text.replaceAll('\u00a0', '').replaceAll(' ', ''));
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}
