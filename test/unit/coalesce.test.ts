import { describe, expect, it } from 'vitest';
import { createCoalescer } from '../../shared/store/coalesce.ts';

describe('createCoalescer', () => {
  it('sends a lone write at once, and what arrives while it is in flight together in the next write, per key', async () => {
    const sent: string[][] = [];
    let release: () => void = () => undefined;
    const write = createCoalescer<string, string>(async (key, batch) => {
      sent.push([key, ...batch]);
      if (batch[0] === 'a1') await new Promise<void>((r) => (release = r));
      return batch.map((v) => `${v}!`);
    });
    const first = write('a', 'a1');
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([['a', 'a1']]);
    const later = [write('a', 'a2'), write('a', 'a3'), write('b', 'b1')];
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([['a', 'a1'], ['b', 'b1']]);
    release();
    expect(await Promise.all([first, ...later])).toEqual(['a1!', 'a2!', 'a3!', 'b1!']);
    expect(sent).toEqual([['a', 'a1'], ['b', 'b1'], ['a', 'a2', 'a3']]);
  });

  it('a failed write fails the calls in it, and the next batch is still sent', async () => {
    let calls = 0;
    const write = createCoalescer<number, number>(async (_key, batch) => {
      calls++;
      if (calls === 1) throw new Error('throttled');
      return batch.map((n) => n * 2);
    });
    const failed = write('k', 1);
    await expect(failed).rejects.toThrow('throttled');
    await expect(write('k', 2)).resolves.toBe(4);
  });
});
