/**
 * Limits of the wire (OWASP API4): every string, integer and array of the document is bounded, in
 * requests and in responses. A request past one is refused (the zod schema is the validation); a
 * response is parsed with the same schema before it leaves (shared/http/route.ts `output`), so the
 * document cannot promise less than what is sent. README "The OpenAPI document" lists them.
 */
export const MAX = {
  /** Ids, slugs, event types, key prefixes, Stripe ids (ours are a prefix and a 26-character ULID). */
  id: 128,
  /** Names of orgs, sites, limits; field paths of errors. */
  name: 200,
  /** Free text: descriptions, reasons, notes, error details, invoice lines. */
  text: 2000,
  /** URLs (webhook endpoints, Stripe's hosted pages). */
  url: 2048,
  /** An e-mail address (RFC 5321: 254 in practice, 320 in theory). */
  email: 320,
  /** Short codes: VAT numbers, decimal figures, dates. */
  short: 32,
  /** ISO 3166-1 alpha-2. */
  country: 2,
  /** An opaque list cursor. */
  cursor: 2048,
  /**
   * Items of a list the API answers without pages (catalog, receivables, a month's invoices, a year's
   * buckets): more than this could not leave anyway (API Gateway and Lambda answer at most 6 MB).
   */
  list: 10_000,
  /** Items of one page of a paged list (the largest `limit` any list accepts). */
  page: 500,
} as const;
