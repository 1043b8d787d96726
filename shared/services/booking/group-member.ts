/**
 * What a pool's group commit works on (sequencer.ts): a queued create request (`Member`), what it
 * takes, and the small rules every part of the group shares (which hours it touches, each org's first
 * request, answering a member outside its group's outcome).
 */
import { BOOKING_HORIZON_HOURS, bucketsForRange } from '#domain/capacity.ts';
import type { Pool } from '#domain/catalog.ts';
import type { Reservation } from '#domain/reservation.ts';
import { epochHour } from '#domain/time.ts';
import type { EventDraft } from '#store/events.ts';
import type { TransactItem } from '#store/transact.ts';

/** What a new reservation takes: GPUs in hours [startHour, endHour), or (on-demand) in every hour from now on. */
export type Take = { kind: 'hours'; startHour: number; endHour: number; gpus: number } | { kind: 'onDemand'; gpus: number };

/** A create request, checked on its own (quote, idempotency, hooks) and ready to be decided in its pool's group. */
export interface Prepared {
  pool: Pool;
  take: Take;
  /** Names the hours in a refusal, e.g. "every hour of that window in valence-rovaltain-h100". */
  where: string;
  reservation: Reservation;
  /** The request's own items (reservation, quote use, create-request record, hooks' items). */
  items: TransactItem[];
  events: EventDraft[];
  afterCommit?: (() => Promise<void>) | undefined;
}

/**
 * Checks a request alone; returns what it made earlier (`done`) when it is an idempotent replay.
 * `orgStateOnly`: checked again because its org's earlier request committed meanwhile, so only the
 * org's own records (hold ledger, spend record, hooks' items) need reading again.
 */
export type Prepare = (now: Date, orgStateOnly?: boolean) => Promise<Prepared | { done: Reservation }>;

export interface Member {
  orgId: string;
  /** When its request reached the service (before its own checks): a group is decided in this order. */
  arrivedAt: number;
  prepare: Prepare;
  prepared: Prepared;
  culpritRounds: number;
  /** The org's commit count when it was prepared: a later commit of its org makes what it prepared (spend record) stale. */
  preparedAt: number;
  /** Its items in the last transaction sent, to tell whether that transaction committed after an unclear failure. */
  sent: boolean;
  /** Answered outside its group's outcome (a culprit checked again alone). */
  settled: boolean;
  resolve(r: Reservation): void;
  reject(e: unknown): void;
}

export function bucketsOf(take: Take, now: Date): number[] {
  if (take.kind === 'hours') return bucketsForRange(take.startHour, take.endHour);
  const from = epochHour(now);
  return bucketsForRange(from, from + BOOKING_HORIZON_HOURS);
}

export function firstPerOrg(members: Member[]): Member[] {
  const seen = new Set<string>();
  return members.filter((m) => !seen.has(m.orgId) && seen.add(m.orgId));
}

export const settle = (m: Member, answer: () => void) => {
  m.settled = true;
  answer();
};
