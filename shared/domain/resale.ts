/**
 * Resale, pure: a customer lists part of a reserved booking (a window of whole future hours and a
 * number of GPUs); other orgs' bookings take listed GPU-hours through the normal quote → hold →
 * confirm path. A listed GPU-hour stays in the seller's reservation (and in the pool's `used`
 * count) until a booking takes it; then it moves from the seller's reservation to the buyer's in
 * the buyer's own transaction, so capacity per pool-hour is unchanged and nothing is sold twice.
 *
 * A buyer's hold takes the hours provisionally (`settled: false` on both sides); confirming it
 * settles the sale (the seller earns the buyer's price minus the pool's fee); a hold that lapses
 * (expired, or cancelled while held) gives the hours back to the seller's reservation and listing.
 * See docs/resale.md for the design and the fee and rounding rules.
 */
import { DEFAULT_RESALE_FEE_BPS, type Pool, type ResaleOrder } from './catalog.ts';
import { DomainError } from './errors.ts';
import { eur, type Money } from './money.ts';
import type { Reservation } from './reservation.ts';
import { epochHour, fromEpochHour, isWholeHour } from './time.ts';

export type ListingStatus = 'open' | 'sold' | 'withdrawn' | 'ended';

/** GPUs in every hour of [startHour, endHour) (UTC epoch hours). */
export interface Run {
  startHour: number;
  endHour: number;
  gpus: number;
}

/** One booking's take of one listing: provisional while the buyer's hold is open, settled at its confirmation. */
export interface Fill {
  id: string;
  buyerReservationId: string;
  buyerOrgId: string;
  runs: Run[];
  gpuHours: number;
  settled: boolean;
  at: string;
  /** Set when settled: the part of the buyer's price for these GPU-hours, the platform's fee and the seller's earnings (gross − fee). */
  gross: Money | null;
  fee: Money | null;
  earnings: Money | null;
  settledAt: string | null;
}

export interface Listing {
  id: string;
  orgId: string;
  reservationId: string;
  poolId: string;
  site: string;
  gpuType: string;
  start: string;
  end: string;
  gpus: number;
  /** Cents per GPU-hour; a booking whose average price per GPU-hour is lower never takes this listing. */
  minPricePerGpuHour: number | null;
  status: ListingStatus;
  /** GPUs taken (provisionally or settled) per hour of the window, index 0 = the first hour. */
  taken: number[];
  fills: Fill[];
  soldGpuHours: number;
  earnings: Money;
  fees: Money;
  createdAt: string;
  updatedAt: string;
  endedAt: string | null;
  version: number;
}

/** The resale side of a reservation: the seller's open listings and sales, the buyer's purchases. */
export interface ResaleState {
  /** Open listings on this reservation (seller). */
  listings: string[];
  /** GPU-hours taken from this reservation by other orgs' bookings (seller). */
  sold: SaleRef[];
  /** GPU-hours this booking took from listings (buyer). */
  bought: PurchaseRef[];
  /**
   * Changes of the reservation made by resale alone, without a `reservation.*` event (a listing
   * opened, withdrawn or ended, hours provisionally taken or given back: those have `listing.*`
   * events or none); its version counts them besides its own changes.
   */
  changes?: number | undefined;
}

/** The reservation's resale state replaced by a change that has no `reservation.*` event of its own. */
export const withResale = (r: Reservation, state: ResaleState): Reservation => ({ ...r, resale: { ...state, changes: (state.changes ?? 0) + 1 } });

export interface SaleRef {
  fillId: string;
  listingId: string;
  buyerReservationId: string;
  runs: Run[];
  settled: boolean;
}

export interface PurchaseRef {
  fillId: string;
  listingId: string;
  sellerOrgId: string;
  sellerReservationId: string;
  runs: Run[];
  settled: boolean;
}

export { DEFAULT_RESALE_FEE_BPS, type ResaleOrder } from './catalog.ts';

/** A pool's resale settings (an operator may change them per pool). */
export const resaleFeeBps = (pool: Pool): number => pool.resaleFeeBps ?? DEFAULT_RESALE_FEE_BPS;
export const resaleOrder = (pool: Pool): ResaleOrder => pool.resaleOrder ?? 'operator_first';

export const emptyResale = (): ResaleState => ({ listings: [], sold: [], bought: [] });
export const resaleOf = (r: Reservation): ResaleState => r.resale ?? emptyResale();

export const runGpuHours = (runs: Run[]): number => runs.reduce((s, r) => s + (r.endHour - r.startHour) * r.gpus, 0);

/** GPUs the runs hold in `hour`. */
export const runsAt = (runs: Run[], hour: number): number => runs.reduce((s, r) => (hour >= r.startHour && hour < r.endHour ? s + r.gpus : s), 0);

/** Run-length encoding of per-hour amounts starting at `startHour` (zeros left out). */
export function toRuns(startHour: number, amounts: number[]): Run[] {
  const out: Run[] = [];
  for (let i = 0; i < amounts.length; i++) {
    const gpus = amounts[i]!;
    if (gpus === 0) continue;
    const last = out.at(-1);
    if (last && last.endHour === startHour + i && last.gpus === gpus) last.endHour++;
    else out.push({ startHour: startHour + i, endHour: startHour + i + 1, gpus });
  }
  return out;
}

/** GPUs of this reservation sold to other orgs in `hour` (provisionally or settled). */
export const soldAt = (r: Reservation, hour: number): number => resaleOf(r).sold.reduce((s, x) => s + runsAt(x.runs, hour), 0);

/** GPUs the reservation still has for itself in `hour` (what its metering may use). */
export const remainingGpusAt = (r: Reservation, hour: number): number => r.gpus - soldAt(r, hour);

/** Hours of a reserved booking that other orgs bought, as per-hour amounts over its window. */
function windowHours(r: Reservation): { sH: number; eH: number } {
  return { sH: epochHour(new Date(r.start)), eH: epochHour(new Date(r.end!)) };
}

/**
 * What a reservation that stops occupying (cancelled, expired) gives back to the pool, per hour of
 * its window: its GPUs minus those sold to others (now the buyers') minus, for a lapsing hold, the
 * hours it took from listings (they go back to their sellers, who still hold them in `used`).
 */
export function releaseProfile(r: Reservation): Run[] {
  const { sH, eH } = windowHours(r);
  const state = resaleOf(r);
  const amounts: number[] = [];
  for (let h = sH; h < eH; h++) {
    const giveBack = r.status === 'held' ? state.bought.filter((b) => !b.settled).reduce((s, b) => s + runsAt(b.runs, h), 0) : 0;
    amounts.push(r.gpus - soldAt(r, h) - giveBack);
  }
  return toRuns(sH, amounts);
}

/** GPU-hours of the reservation not sold to others. */
export function unsoldGpuHours(r: Reservation): number {
  const { sH, eH } = windowHours(r);
  return (eH - sH) * r.gpus - resaleOf(r).sold.reduce((s, x) => s + runGpuHours(x.runs), 0);
}

/** The part of a booking's price for `part` of its `whole` GPU-hours, rounded down to the cent. */
export const shareOf = (price: Money, part: number, whole: number): Money => eur(whole <= 0 ? 0 : Math.floor((price.amount * part) / whole));

/**
 * The money of a settled fill: `gross` is the buyer's price for the GPU-hours taken (the booking's
 * total × taken ÷ its GPU-hours, rounded down to the cent); the fee is gross × the pool's fee (bps),
 * rounded half up to the cent; the seller earns gross − fee. gross = fee + earnings exactly.
 */
export function fillMoney(buyerTotal: Money, buyerGpuHours: number, takenGpuHours: number, feeBps: number): { gross: Money; fee: Money; earnings: Money } {
  const gross = shareOf(buyerTotal, takenGpuHours, buyerGpuHours).amount;
  const fee = Math.floor((gross * feeBps + 5_000) / 10_000);
  return { gross: eur(gross), fee: eur(fee), earnings: eur(gross - fee) };
}

/** Expected earnings of selling a whole listing at `pricePerGpuHour` (the portal shows it before listing). */
export function expectedEarnings(gpuHours: number, pricePerGpuHour: number, feeBps: number): { gross: Money; fee: Money; earnings: Money } {
  return fillMoney(eur(gpuHours * pricePerGpuHour), gpuHours, gpuHours, feeBps);
}

export const listingHours = (l: Pick<Listing, 'start' | 'end'>): { sH: number; eH: number } => ({ sH: epochHour(new Date(l.start)), eH: epochHour(new Date(l.end)) });
export const listingGpuHours = (l: Listing): number => {
  const { sH, eH } = listingHours(l);
  return (eH - sH) * l.gpus;
};

/** A listing can be sold from now on: open and its window not started. */
export const isSellable = (l: Listing, now: Date): boolean => l.status === 'open' && new Date(l.start) > now;

/** GPUs of the listing still for sale in `hour` (0 outside its window or once it is not sellable). */
export function listedAt(l: Listing, hour: number, now: Date): number {
  if (!isSellable(l, now)) return 0;
  const { sH, eH } = listingHours(l);
  if (hour < sH || hour >= eH) return 0;
  return l.gpus - (l.taken[hour - sH] ?? 0);
}

/**
 * May a booking of `buyerOrgId` priced `total` for `gpuHours` take this listing? Never its own
 * org's listing; never below the listing's minimum (the booking's average price per GPU-hour,
 * compared exactly: total ≥ minimum × GPU-hours).
 */
export const eligibleFor = (l: Listing, buyerOrgId: string, total: Money, gpuHours: number): boolean =>
  l.orgId !== buyerOrgId && (l.minPricePerGpuHour === null || total.amount >= l.minPricePerGpuHour * gpuHours);

/** Cheapest first (no minimum counts as 0), then oldest, then by id. */
export const sellingOrder = (a: Listing, b: Listing): number =>
  (a.minPricePerGpuHour ?? 0) - (b.minPricePerGpuHour ?? 0) || a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);

/** GPUs for sale per hour in [startHour, endHour) from these listings (the ones a booking may take). */
export function listedProfile(listings: Listing[], startHour: number, endHour: number, now: Date): Map<number, number> {
  const out = new Map<number, number>();
  for (const l of listings) {
    const { sH, eH } = listingHours(l);
    for (let h = Math.max(sH, startHour); h < Math.min(eH, endHour); h++) {
      const n = listedAt(l, h, now);
      if (n > 0) out.set(h, (out.get(h) ?? 0) + n);
    }
  }
  return out;
}

/**
 * How a booking of `gpus` in every hour of [startHour, endHour) is served: per hour from the
 * operator's free GPUs (`freeAt`) and from the listings (in selling order). Operator first by
 * default: listings only where the pool is otherwise full; `listings_first` the other way round.
 * Returns the runs taken per listing and the GPUs taken from listings per hour, or throws
 * capacity_unavailable naming the first hour short.
 */
export function allocate(
  input: { startHour: number; endHour: number; gpus: number; order: ResaleOrder; now: Date; where: string },
  freeAt: (hour: number) => number,
  listings: Listing[],
): { fromListings: number[]; takes: Map<string, Run[]> } {
  const sorted = [...listings].sort(sellingOrder);
  const perListing = new Map<string, number[]>();
  const fromListings: number[] = [];
  for (let h = input.startHour; h < input.endHour; h++) {
    const free = freeAt(h);
    let need = input.order === 'operator_first' ? Math.max(0, input.gpus - free) : input.gpus;
    let took = 0;
    for (const l of sorted) {
      if (need === 0) break;
      const n = Math.min(need, listedAt(l, h, input.now));
      if (n <= 0) continue;
      let arr = perListing.get(l.id);
      if (!arr) perListing.set(l.id, (arr = new Array<number>(input.endHour - input.startHour).fill(0)));
      arr[h - input.startHour] = n;
      need -= n;
      took += n;
    }
    if (input.gpus - took > free) {
      const available = free + took;
      throw new DomainError('capacity_unavailable', `Only ${available} GPUs are free in ${input.where} (at ${fromEpochHour(h).toISOString()}); ${input.gpus} asked`);
    }
    fromListings.push(took);
  }
  return { fromListings, takes: new Map([...perListing].map(([id, arr]) => [id, toRuns(input.startHour, arr)])) };
}

/** Adds a fill's runs to (sign 1) or removes them from (sign −1) a listing's taken hours. */
export function shiftTaken(l: Listing, runs: Run[], sign: 1 | -1): number[] {
  const { sH } = listingHours(l);
  const taken = [...l.taken];
  for (const r of runs) {
    for (let h = r.startHour; h < r.endHour; h++) {
      const i = h - sH;
      const v = (taken[i] ?? 0) + sign * r.gpus;
      if (i < 0 || i >= taken.length || v < 0 || v > l.gpus) throw new Error(`listing ${l.id}: taken hours out of range at hour ${h}`);
      taken[i] = v;
    }
  }
  return taken;
}

export interface ListingRequest {
  start: string;
  end: string;
  gpus: number;
  minPricePerGpuHour?: number | null | undefined;
}

const semantic = (path: string, message: string, code: 'unprocessable' | 'invalid_state' = 'unprocessable') =>
  new DomainError(code, `${path}: ${message}`, { errors: [{ path, message }] });

/**
 * What a new listing must satisfy: a confirmed or active reserved booking; a window of whole hours,
 * not started, inside the booking; whole nodes (the pool's step), at most the booking's GPUs; and in
 * every hour, the GPUs already sold plus those still listed by its other open listings plus these
 * must not exceed the booking's GPUs (a GPU-hour is listed once).
 */
export function checkListing(r: Reservation, pool: Pool, req: ListingRequest, openListings: Listing[], now: Date): { sH: number; eH: number } {
  if (r.kind !== 'reserved' || (r.status !== 'confirmed' && r.status !== 'active') || !r.end) {
    throw new DomainError('invalid_state', `Reservation ${r.id} is ${r.status} (${r.kind}); only confirmed or active reserved bookings can be listed`, {
      errors: [{ path: 'id', message: `reservation is ${r.status}` }],
    });
  }
  const start = new Date(req.start);
  const end = new Date(req.end);
  if (!isWholeHour(start)) throw semantic('start', 'must be a whole UTC hour');
  if (!isWholeHour(end)) throw semantic('end', 'must be a whole UTC hour');
  if (end <= start) throw semantic('end', 'must be after start');
  if (start <= now) throw semantic('start', 'must be in the future (whole hours not yet started)');
  if (start < new Date(r.start)) throw semantic('start', `must be inside the reservation (it starts ${r.start})`);
  if (end > new Date(r.end)) throw semantic('end', `must be inside the reservation (it ends ${r.end})`);
  if (req.gpus <= 0 || req.gpus % pool.stepGpus !== 0) throw semantic('gpus', `must be a positive multiple of ${pool.stepGpus} (whole nodes)`);
  if (req.gpus > r.gpus) throw semantic('gpus', `the reservation has ${r.gpus} GPUs`);
  if (req.minPricePerGpuHour !== undefined && req.minPricePerGpuHour !== null && req.minPricePerGpuHour < 0) throw semantic('minPricePerGpuHour', 'must not be negative');
  const sH = epochHour(start);
  const eH = epochHour(end);
  for (let h = sH; h < eH; h++) {
    const listed = openListings.reduce((s, l) => s + listedAt(l, h, now), 0);
    const sold = soldAt(r, h);
    if (sold + listed + req.gpus > r.gpus) {
      throw semantic(
        'gpus',
        `at ${fromEpochHour(h).toISOString()} the reservation has ${r.gpus} GPUs, ${sold} sold and ${listed} listed by another open listing; at most ${Math.max(0, r.gpus - sold - listed)} more can be listed`,
        'invalid_state',
      );
    }
  }
  return { sH, eH };
}

/** A new listing's record. */
export function newListing(
  fields: { id: string; r: Reservation; req: ListingRequest; sH: number; eH: number },
  now: Date,
): Listing {
  const { id, r, req, sH, eH } = fields;
  return {
    id,
    orgId: r.orgId,
    reservationId: r.id,
    poolId: r.poolId,
    site: r.site,
    gpuType: r.gpuType,
    start: fromEpochHour(sH).toISOString(),
    end: fromEpochHour(eH).toISOString(),
    gpus: req.gpus,
    minPricePerGpuHour: req.minPricePerGpuHour ?? null,
    status: 'open',
    taken: new Array<number>(eH - sH).fill(0),
    fills: [],
    soldGpuHours: 0,
    earnings: eur(0),
    fees: eur(0),
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    endedAt: null,
    version: 1,
  };
}

/** Ends a listing (withdrawn by its seller, or ended: its window started or its reservation stopped). Settled sales stay sold. */
export function endListing(l: Listing, status: 'withdrawn' | 'ended' | 'sold', now: Date): Listing {
  return { ...l, status, endedAt: now.toISOString(), updatedAt: now.toISOString(), version: l.version + 1 };
}

/** The listing as the API shows it (no buyer identity). */
export function toApiListing(l: Listing) {
  return {
    id: l.id,
    reservationId: l.reservationId,
    site: l.site,
    gpuType: l.gpuType,
    poolId: l.poolId,
    start: l.start,
    end: l.end,
    gpus: l.gpus,
    minPricePerGpuHour: l.minPricePerGpuHour,
    status: l.status,
    soldGpuHours: l.soldGpuHours,
    pendingGpuHours: l.fills.filter((f) => !f.settled).reduce((s, f) => s + f.gpuHours, 0),
    earnings: l.earnings,
    fees: l.fees,
    fills: l.fills
      .filter((f) => f.settled)
      .map((f) => ({
        id: f.id,
        gpuHours: f.gpuHours,
        hours: f.runs.map((x) => ({ start: fromEpochHour(x.startHour).toISOString(), end: fromEpochHour(x.endHour).toISOString(), gpus: x.gpus })),
        gross: f.gross ?? eur(0),
        fee: f.fee ?? eur(0),
        earnings: f.earnings ?? eur(0),
        settledAt: f.settledAt ?? f.at,
      })),
    createdAt: l.createdAt,
    updatedAt: l.updatedAt,
    endedAt: l.endedAt,
  };
}
export type ApiListing = ReturnType<typeof toApiListing>;
