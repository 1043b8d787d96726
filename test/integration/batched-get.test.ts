/**
 * shared/store/batched-get.ts against DynamoDB Local: concurrent consistent reads share one
 * BatchGetItem, each caller gets its own item (or undefined), duplicates are read once, more than
 * 100 keys split into several batches, a write committed before the read is seen, and a failed
 * batch fails every read in it. Bursts of the same small write (a rate-limit window, a market rollup)
 * share one write and count exactly what single writes would.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getConsistent } from '../../shared/store/batched-get.ts';
import { readMarket, recordQuoted } from '../../shared/store/market.ts';
import { countInWindow, readWindow } from '../../shared/store/rate-limits.ts';
import type { Db } from '../../shared/store/db.ts';
import { createTestDb } from '../support/db.ts';

describe('getConsistent', () => {
  let db: Db & { drop(): Promise<void> };
  beforeAll(async () => {
    db = await createTestDb('batched');
    for (let i = 0; i < 150; i++) await db.doc.send(new PutCommand({ TableName: db.table, Item: { pk: `K#${i}`, sk: 'S', i } }));
  });
  afterAll(() => db.drop());

  /** The same table through a client that counts what it sends. */
  const counting = (fail = false) => {
    const sent: string[] = [];
    const doc = {
      send: (command: { constructor: { name: string }; input: unknown }) => {
        sent.push(command.constructor.name);
        if (fail) return Promise.reject(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
        return db.doc.send(command as never);
      },
    };
    return { db: { ...db, doc } as unknown as Db, sent };
  };

  it('reads concurrent keys in one batch, each caller its own item, duplicates once, absent as undefined', async () => {
    const { db: d, sent } = counting();
    const got = await Promise.all([0, 1, 2, 1, 999].map((i) => getConsistent(d, { pk: `K#${i}`, sk: 'S' })));
    expect(got.map((item) => item?.i)).toEqual([0, 1, 2, 1, undefined]);
    expect(sent).toEqual(['BatchGetCommand']);
  });

  it('splits more than 100 keys into batches of at most 100', async () => {
    const { db: d, sent } = counting();
    const got = await Promise.all(Array.from({ length: 150 }, (_, i) => getConsistent(d, { pk: `K#${i}`, sk: 'S' })));
    expect(got.map((item) => item?.i)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    expect(sent).toEqual(['BatchGetCommand', 'BatchGetCommand']);
  });

  it('sees a write committed just before (strongly consistent)', async () => {
    await db.doc.send(new PutCommand({ TableName: db.table, Item: { pk: 'K#0', sk: 'S', i: 'changed' } }));
    expect((await getConsistent(db, { pk: 'K#0', sk: 'S' }))?.i).toBe('changed');
  });

  it('fails every read of a failed batch with the error, and the next reads start a new batch', async () => {
    const failing = counting(true);
    const reads = [1, 2].map((i) => getConsistent(failing.db, { pk: `K#${i}`, sk: 'S' }));
    for (const r of reads) await expect(r).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    const { db: d } = counting();
    expect((await getConsistent(d, { pk: 'K#2', sk: 'S' }))?.i).toBe(2);
  });
});

describe('writes of one burst shared (issue 14: a rush sends hundreds of the same small writes at once)', () => {
  let db: Db & { drop(): Promise<void> };
  beforeAll(async () => {
    db = await createTestDb('coalesced');
  });
  afterAll(() => db.drop());

  const counting = () => {
    const sent: string[] = [];
    const doc = {
      send: (command: { constructor: { name: string }; input: unknown }) => {
        sent.push(command.constructor.name);
        return db.doc.send(command as never);
      },
    };
    return { db: { ...db, doc } as unknown as Db, sent };
  };

  it('a burst of one scope counted in the window: exactly the limit passes, each with its own count, in fewer writes than requests', async () => {
    const { db: d, sent } = counting();
    const counters = [{ name: 'w', limit: 12 }, { name: 'a', limit: 40 }];
    const results = await Promise.all(Array.from({ length: 30 }, () => countInWindow(d, 'ORG#burst', 1_000_000, 60, counters)));
    const allowed = results.filter((r) => r.allowed);
    expect(allowed).toHaveLength(12);
    expect(allowed.map((r) => r.counts.w ?? 0).sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const r of results.filter((x) => !x.allowed)) expect(r.counts.w).toBe(12);
    expect(await readWindow(d, 'ORG#burst', 1_000_000, ['w', 'a'])).toEqual({ w: 12, a: 12 });
    // The first 12 would fit together only if the window had room for all 30: one shared try, then one by one.
    expect(sent.length).toBeLessThan(30 + 2);
    const fresh = counting();
    const ok = await Promise.all(Array.from({ length: 10 }, () => countInWindow(fresh.db, 'ORG#burst2', 1_000_000, 60, counters)));
    expect(ok.every((r) => r.allowed)).toBe(true);
    expect(ok.map((r) => r.counts.w)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(fresh.sent).toEqual(['UpdateCommand']);
  });

  it('quoted prices of one pool recorded in one burst: one update per bucket, every quote counted', async () => {
    const { db: d, sent } = counting();
    const at = new Date('2026-12-01T10:15:00Z');
    await Promise.all(Array.from({ length: 25 }, (_, i) => recordQuoted(d, 'burst-pool', at, i % 2 === 0 ? 250 : 300)));
    expect(sent).toEqual(['UpdateCommand', 'UpdateCommand']);
    for (const g of ['hour', 'day'] as const) {
      const [row] = await readMarket(db, 'burst-pool', new Date('2026-12-01T00:00:00Z'), new Date('2026-12-02T00:00:00Z'), g);
      expect(Object.fromEntries(row!.quoted)).toEqual({ 250: 13, 300: 12 });
    }
  });
});
