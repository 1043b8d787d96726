import type { Money } from './money.ts';
import type { PriceBook } from './pricing.ts';

export type SiteStatus = 'active' | 'planned' | 'maintenance';

export interface Site {
  id: string;
  name: string;
  city: string;
  country: string;
  timezone: string;
  powerMw: number;
  cooling: string;
  status: SiteStatus;
  opensAt: string;
}

export interface GpuType {
  id: string;
  vendor: string;
  name: string;
  memoryGb: number;
  interconnect: string;
  peakBf16Tflops: number;
}

export interface Pool {
  id: string;
  site: string;
  gpuType: string;
  totalGpus: number;
  gpusPerNode: number;
  minGpus: number;
  stepGpus: number;
  onDemandRate: Money;
  priceBook: PriceBook;
  bookableFrom: string;
}

export interface Catalog {
  sites: Site[];
  gpuTypes: GpuType[];
  pools: Pool[];
}

export const poolLabel = (pool: Pool, catalog: Catalog): string => {
  const gpu = catalog.gpuTypes.find((g) => g.id === pool.gpuType);
  const site = catalog.sites.find((s) => s.id === pool.site);
  return `${gpu?.name ?? pool.gpuType} · ${site?.name ?? pool.site}`;
};
