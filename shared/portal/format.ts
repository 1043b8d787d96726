/** How the portal writes instants and quantities: always UTC, always with the unit. */

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

export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
