/** The only module that knows the table's key shapes (docs/table-design.md). */
export const pad = (n: number, width = 12): string => String(n).padStart(width, '0');

export const keys = {
  catalog: () => ({ pk: 'CATALOG' }),
  site: (id: string) => ({ pk: 'CATALOG', sk: `SITE#${id}` }),
  gpuType: (id: string) => ({ pk: 'CATALOG', sk: `GPUTYPE#${id}` }),
  pool: (id: string) => ({ pk: 'CATALOG', sk: `POOL#${id}` }),
  capacityBucket: (poolId: string, bucket: number) => ({ pk: `CAP#${poolId}#${bucket}`, sk: 'CAP' }),
  onDemandTotal: (poolId: string) => ({ pk: `ODP#${poolId}`, sk: 'ODP' }),
  org: (orgId: string) => ({ pk: `ORG#${orgId}`, sk: 'ORG' }),
  orgSequence: (orgId: string) => ({ pk: `ORG#${orgId}`, sk: 'SEQ' }),
  apiKey: (hash: string) => ({ pk: `KEY#${hash}`, sk: 'KEY' }),
  apiKeyIndex: (keyId: string) => ({ gsi1pk: `KEYID#${keyId}`, gsi1sk: 'KEY' }),
  /** A customer key listed under its org (org admins manage their own org's keys). */
  orgApiKeyIndex: (orgId: string, createdAt: string, keyId: string) => ({ gsi2pk: `ORGKEYS#${orgId}`, gsi2sk: `${createdAt}#${keyId}` }),
  /** An org's spend record: budget, key limits, monthly spent and committed (shared/store/budgets.ts). */
  spend: (orgId: string) => ({ pk: `ORG#${orgId}`, sk: 'SPEND' }),
  /** Present while an org has a budget: the scheduled tick checks these orgs' alerts and on-demand stops. */
  budgetedOrg: (orgId: string) => ({ pk: 'BUDGETS', sk: `ORG#${orgId}` }),
  orgIndex: (createdAt: string, orgId: string) => ({ gsi2pk: ORG_LISTING.partition, gsi2sk: `${createdAt}#${orgId}` }),
  maintenance: (poolId: string, id: string) => ({ pk: `POOL#${poolId}`, sk: `MAINT#${id}` }),
  quote: (id: string) => ({ pk: `QUOTE#${id}`, sk: 'QUOTE' }),
  reservation: (orgId: string, id: string) => ({ pk: `ORG#${orgId}`, sk: `RES#${id}` }),
  reservationIndex: (id: string) => ({ gsi1pk: `RES#${id}`, gsi1sk: 'RES' }),
  /** A resale listing, under its seller's org (shared/store/listings.ts). */
  listing: (orgId: string, id: string) => ({ pk: `ORG#${orgId}`, sk: `LST#${id}` }),
  /** Sparse index of a pool's open listings by start, while open: bookings and availability read it. */
  openListing: (poolId: string, start: string, id: string) => ({ gsi2pk: `LISTINGS#${poolId}`, gsi2sk: `${start}#${id}` }),
  /** A seller's resale earnings of one fill, credited on its invoice for the month of the sale. */
  resaleCredit: (orgId: string, period: string, fillId: string) => ({ pk: `ORG#${orgId}`, sk: `RESALE#${period}#${fillId}` }),
  /** Present while a settled fill's earnings are not yet credited to the seller (billing's payout pass). */
  resalePayout: (at: string, orgId: string, fillId: string) => ({ pk: 'RESALEPAYOUT', sk: `${at}#${orgId}#${fillId}` }),
  /** Market rollup of one pool and bucket (`D#YYYY-MM-DD` or `H#YYYY-MM-DDTHH`): quoted and booked prices, volumes. */
  market: (poolId: string, bucket: string) => ({ pk: `MKT#${poolId}`, sk: bucket }),
  due: (dueAt: string, id: string) => ({ gsi2pk: 'DUE', gsi2sk: `${dueAt}#${id}` }),
  event: (orgId: string, seq: number) => ({ pk: `ORG#${orgId}`, sk: `EVT#${pad(seq)}` }),
  eventIndex: (eventId: string) => ({ gsi1pk: `EVT#${eventId}`, gsi1sk: 'EVT' }),
  idempotency: (principal: string, key: string) => ({ pk: `IDEM#${principal}#${key}`, sk: 'IDEM' }),
  createRequest: (orgId: string, requestHash: string) => ({ pk: `CREQ#${orgId}#${requestHash}`, sk: 'CREQ' }),
  session: (id: string) => ({ pk: `SESSION#${id}`, sk: 'SESSION' }),
  /** An org's open holds and unconfirmed GPUs per pool, changed in the same transaction as each hold. */
  holdLedger: (orgId: string) => ({ pk: `ORG#${orgId}`, sk: 'HOLDS' }),
  /** Operator overrides of the hold limits for one org (`org:<id>`) or pool (`pool:<id>`). */
  limitOverrides: (scope: string) => ({ pk: `LIMITS#${scope}`, sk: 'LIMITS' }),
  /** Fixed-window request counters of one scope (an org, a platform key or a client address). */
  rateWindow: (scope: string, windowStart: number) => ({ pk: `RATE#${scope}#${windowStart}`, sk: 'RATE' }),
  /** Operator audit log: one partition, newest last by sort key (ISO time, then the entry's ULID). */
  audit: (at: string, id: string) => ({ pk: 'AUDIT', sk: `AT#${at}#${id}` }),
  /** The org's credit limit on unpaid commitments, set by finance (shared/store/credit-limits.ts). */
  creditLimit: (orgId: string) => ({ pk: `ORG#${orgId}`, sk: 'CREDIT' }),
  /** Alerts for finance (e.g. a Stripe invoice that did not match ours): one partition, newest last by sort key. */
  financeAlert: (at: string, id: string) => ({ pk: 'FINALERT', sk: `AT#${at}#${id}` }),
  /** Operator key created by the bootstrap command of a deployed stack: its presence makes bootstrap idempotent. */
  bootstrapMarker: () => ({ pk: 'BOOTSTRAP', sk: 'OPERATOR_KEY' }),
  /** The secret list cursors are sealed with (shared/http/cursor.ts): created once, read once per process. */
  cursorSecret: () => ({ pk: 'SECRET#cursor', sk: 'SECRET' }),
  /** Never written: `/healthz` reads it to prove the table answers a data-plane read. */
  health: () => ({ pk: 'HEALTH', sk: 'HEALTH' }),
} as const;

export const prefixes = {
  site: 'SITE#',
  gpuType: 'GPUTYPE#',
  pool: 'POOL#',
  reservation: 'RES#',
  event: 'EVT#',
  listing: 'LST#',
  resaleCredit: 'RESALE#',
  maintenance: 'MAINT#',
  /** Partition of an org's items, its outbox events among them (the stream filter of infra reads it). */
  org: 'ORG#',
} as const;

/** The index listing every org (`gsi2pk = ORGS`). */
export const ORG_LISTING = { index: 'gsi2', partition: 'ORGS' } as const;

export const ttlAfter = (from: Date, seconds: number): number => Math.floor(from.getTime() / 1000) + seconds;
