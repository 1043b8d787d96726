export type Role = 'customer' | 'finance' | 'operator' | 'meter';
export type OrgRole = 'admin' | 'member';

/** Who is calling, as resolved from the API key. */
export interface Principal {
  keyId: string;
  role: Role;
  /** Set for customers. */
  orgId: string | null;
  orgRole: OrgRole | null;
  /** Set for meters: the only site they may report for. */
  siteId: string | null;
}

export interface Org {
  id: string;
  name: string;
  country: string;
  vatNumber: string | null;
  billingEmail: string;
  stripeCustomerId: string | null;
  createdAt: string;
}
