/**
 * Issue 15, finding 7: one partner's dead endpoints delayed everyone else's deliveries. The in-process
 * delivery queue serves endpoints in turn and caps each endpoint's share of the slots.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.ts';
import { createInProcessDeliveryQueue, type DeliveryRef } from '../../shared/webhooks/queue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('in-process delivery queue fairness', () => {
  it('a live endpoint’s job starts within one slot’s time although a slow endpoint has 1,000 jobs queued ahead of it', async () => {
    const started: { ref: DeliveryRef; at: number }[] = [];
    const runningPer = new Map<string, number>();
    let maxSlow = 0;
    const t0 = Date.now();
    const queue = createInProcessDeliveryQueue(
      async (ref) => {
        started.push({ ref, at: Date.now() - t0 });
        runningPer.set(ref.endpointId, (runningPer.get(ref.endpointId) ?? 0) + 1);
        if (ref.endpointId === 'whe_slow') maxSlow = Math.max(maxSlow, runningPer.get('whe_slow')!);
        await sleep(ref.endpointId === 'whe_slow' ? 40 : 1);
        runningPer.set(ref.endpointId, runningPer.get(ref.endpointId)! - 1);
      },
      { logger: silentLogger, concurrency: 8, perEndpoint: 2 },
    );
    await queue.enqueue(Array.from({ length: 1000 }, (_, i) => ({ endpointId: 'whe_slow', deliveryId: `msg_${i}` })));
    await queue.enqueue([{ endpointId: 'whe_live', deliveryId: 'msg_live' }]);
    await sleep(100);
    const live = started.find((s) => s.ref.endpointId === 'whe_live');
    expect(live).toBeDefined();
    expect(live!.at).toBeLessThan(60);
    // The slow endpoint never held more than its share of the slots.
    expect(maxSlow).toBeLessThanOrEqual(2);
    expect(started.filter((s) => s.ref.endpointId === 'whe_slow').length).toBeLessThan(20);
  });

  it('serves waiting endpoints in turn and runs every job once', async () => {
    const order: string[] = [];
    const queue = createInProcessDeliveryQueue(
      async (ref) => {
        order.push(ref.endpointId);
      },
      { logger: silentLogger, concurrency: 1, perEndpoint: 1 },
    );
    const refs = ['a', 'b', 'c'].flatMap((e) => Array.from({ length: 3 }, (_, i) => ({ endpointId: e, deliveryId: `${e}${i}` })));
    await queue.enqueue([...refs, refs[0]!]);
    await queue.idle();
    expect(order).toHaveLength(9);
    expect(order.slice(0, 3).sort()).toEqual(['a', 'b', 'c']);
    expect(order.slice(3, 6).sort()).toEqual(['a', 'b', 'c']);
  });
});
