/**
 * What every part of billing shares (shared/billing/service.ts assembles the parts): the clients, the
 * gateway, whether Stripe is configured, and the settings the parts read.
 */
import { DomainError } from '#domain/errors.ts';
import type { Org } from '#domain/principal.ts';
import type { Logger } from '#shared/log.ts';
import type { CatalogCache } from '#store/catalog.ts';
import type { Db } from '#store/db.ts';
import { getOrg } from '#store/orgs.ts';
import type { RetryPolicy } from '#store/retry.ts';
import type { Clock, IdGenerator } from '../ids.ts';
import type { BillingGateway } from './gateway.ts';

export interface BillingContext {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  gateway: BillingGateway;
  logger: Logger;
  /** Pools (rates, labels) for the monthly close and the reconciliation. */
  catalog: CatalogCache;
  /** False with the local gateway: records stay here, nothing is pushed. */
  stripeConfigured: boolean;
  /** How long a request waits after its commit for Stripe (the rest is left to `syncPending()`). */
  pushBudgetMs: number;
  /** How many months before the closed one a close looks at for usage that arrived late. */
  lookbackMonths: number;
  retry: RetryPolicy | undefined;
}

export const describeError = (error: unknown) => (error instanceof Error ? { name: error.name, message: error.message } : { message: String(error) });

/** The org an invoice is for; its absence is our fault, not the caller's. */
export async function orgOrFail(db: Db, orgId: string): Promise<Org> {
  const org = await getOrg(db, orgId);
  if (!org) throw new DomainError('internal', `Org ${orgId} is missing: cannot invoice it`);
  return org;
}
