// The group-commit batcher on its own (no database): batches by size and time, one batch in flight,
// in queue order, per-item results, bounded queue, stale items refused, flush on close.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Batcher, type BatcherOptions } from '../../src/store/mongo/batcher.js';
import { StoreUnavailableError } from '../../src/store/store.js';

function recording(overrides: Partial<BatcherOptions<number, number>> = {}) {
  const batches: number[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const batcher = new Batcher<number, number>({
    maxWaitMs: 2,
    maxOps: 100,
    maxQueued: 10_000,
    maxQueueWaitMs: 5000,
    async write(items) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      batches.push([...items]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return items.map((item) => item * 2);
    },
    ...overrides,
  });
  return { batcher, batches, maxInFlight: () => maxInFlight };
}

describe('Batcher', () => {
  it('writes concurrent items in few batches of at most maxOps, one in flight, in queue order', async () => {
    const { batcher, batches, maxInFlight } = recording();
    const items = Array.from({ length: 500 }, (_, i) => i);
    const results = await Promise.all(items.map((i) => batcher.add(i)));
    assert.deepEqual(results, items.map((i) => i * 2));
    assert.equal(batches.length, 5);
    assert.ok(batches.every((batch) => batch.length <= 100));
    assert.deepEqual(batches.flat(), items);
    assert.equal(maxInFlight(), 1);
  });

  it('writes a lone item after maxWaitMs', async () => {
    const { batcher, batches } = recording({ maxWaitMs: 20 });
    const started = Date.now();
    assert.equal(await batcher.add(7), 14);
    assert.ok(Date.now() - started >= 15);
    assert.deepEqual(batches, [[7]]);
  });

  it('gathers items queued in the same turn with maxWaitMs 0', async () => {
    const { batcher, batches } = recording({ maxWaitMs: 0 });
    await Promise.all([1, 2, 3].map((i) => batcher.add(i)));
    assert.deepEqual(batches, [[1, 2, 3]]);
  });

  it('rejects each item its Error result names, and every item when the write throws', async () => {
    let fail = false;
    const batcher = new Batcher<number, number>({
      maxWaitMs: 0,
      maxOps: 10,
      maxQueued: 10,
      maxQueueWaitMs: 1000,
      async write(items) {
        if (fail) throw new Error('down');
        return items.map((item) => (item % 2 ? new Error(`odd ${item}`) : item));
      },
    });
    const settled = await Promise.allSettled([1, 2].map((i) => batcher.add(i)));
    assert.equal(settled[0]!.status, 'rejected');
    assert.deepEqual(settled[1], { status: 'fulfilled', value: 2 });
    fail = true;
    await assert.rejects(batcher.add(4), /down/);
  });

  it('refuses items beyond maxQueued and after close, and flushes what is queued on close', async () => {
    const { batcher, batches } = recording({ maxQueued: 3, maxWaitMs: 50 });
    const accepted = [1, 2, 3].map((i) => batcher.add(i));
    await assert.rejects(batcher.add(4), StoreUnavailableError);
    await batcher.close();
    assert.deepEqual(await Promise.all(accepted), [2, 4, 6]);
    assert.deepEqual(batches, [[1, 2, 3]]);
    await assert.rejects(batcher.add(5), StoreUnavailableError);
  });

  it('refuses items that waited longer than maxQueueWaitMs behind a slow batch', async () => {
    let release!: () => void;
    const batcher = new Batcher<number, number>({
      maxWaitMs: 0,
      maxOps: 1,
      maxQueued: 10,
      maxQueueWaitMs: 20,
      write: async (items) => {
        if (items[0] === 1) await new Promise<void>((resolve) => (release = resolve));
        return [...items];
      },
    });
    const first = batcher.add(1);
    const second = batcher.add(2);
    await new Promise((resolve) => setTimeout(resolve, 40));
    release();
    assert.equal(await first, 1);
    await assert.rejects(second, StoreUnavailableError);
  });
});
