/**
 * shared/store/batched-get.ts against DynamoDB Local: concurrent consistent reads share one
 * BatchGetItem, each caller gets its own item (or undefined), duplicates are read once, more than
 * 100 keys split into several batches, a write committed before the read is seen, and a failed
 * batch fails every read in it.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getConsistent } from '../../shared/store/batched-get.ts';
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
