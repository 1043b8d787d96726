/**
 * Chaining an org's later requests into the round of its first (sequencer.ts): each is checked as if
 * the one before had committed (`readingAfter`), and the org's records they both write merge into
 * one put (`chainable`, `mergeChained`).
 */
import { readingAfter } from '#store/batched-get.ts';
import type { TransactItem } from '#store/transact.ts';
import { settle, type Member, type Prepare } from './group-member.ts';

/** At most this many requests of one org are chained into one round (each checked after the one before). */
const MAX_CHAIN = 16;

/** The table key an item writes or checks. */
export function itemKey(i: TransactItem): string {
  const k = (i.Put?.Item ?? i.Update?.Key ?? i.Delete?.Key ?? i.ConditionCheck?.Key) as { pk: string; sk: string };
  return `${k.pk}\u0000${k.sk}`;
}

/** `next` replaces the item `before` puts, checked as if `before` had committed: both whole-item puts, `next` conditioned on the version `before` writes. */
export function chainable(before: TransactItem, next: TransactItem): boolean {
  const version = before.Put?.Item?.version;
  return typeof version === 'number' && next.Put?.ExpressionAttributeValues?.[':v'] === version;
}

/** One put of both: `next`'s item under `before`'s condition (what the pair does when committed one after the other). */
export function mergeChained(before: TransactItem, next: TransactItem): TransactItem {
  const { ConditionExpression, ExpressionAttributeValues, ExpressionAttributeNames } = before.Put!;
  return {
    Put: {
      TableName: next.Put!.TableName,
      Item: next.Put!.Item,
      ...(ConditionExpression ? { ConditionExpression } : {}),
      ...(ExpressionAttributeValues ? { ExpressionAttributeValues } : {}),
      ...(ExpressionAttributeNames ? { ExpressionAttributeNames } : {}),
    },
  };
}

/**
 * Checks each org's later requests (after its first, in arrival order) as if the one before had
 * committed: its spend record and hold ledger are read as that one's transaction writes them
 * (`readingAfter`), so several requests of one org can share a round, their records merged into one
 * write each. Returns each chained request with the one it was checked after. A request whose check
 * fails here is not refused: it waits to be checked on its own (its predecessor may yet be refused).
 */
export async function chain(members: Member[], now: Date): Promise<Map<Member, Member>> {
  const byOrg = new Map<string, Member[]>();
  for (const m of members) byOrg.set(m.orgId, [...(byOrg.get(m.orgId) ?? []), m]);
  const chainedOn = new Map<Member, Member>();
  await Promise.all(
    [...byOrg.values()].map(async (list) => {
      let before = list[0]!;
      const writes: TransactItem[] = [...before.prepared.items];
      for (const m of list.slice(1, MAX_CHAIN)) {
        let again: Awaited<ReturnType<Prepare>>;
        try {
          again = await readingAfter(writes, () => m.prepare(now, true));
        } catch {
          return;
        }
        if ('done' in again) {
          settle(m, () => m.resolve(again.done));
          continue;
        }
        m.prepared = again;
        // Checked against a state that may not commit: checked on its own when it is its org's first.
        m.preparedAt = -1;
        chainedOn.set(m, before);
        writes.push(...again.items);
        before = m;
      }
    }),
  );
  return chainedOn;
}
