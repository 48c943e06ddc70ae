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

describe('Batcher fairness and load shedding', () => {
  /** A store that takes `msPerItem` per item of a batch (plus nothing fixed). */
  function timed(msPerItem: number, overrides: Partial<BatcherOptions<string, string>> = {}) {
    const batches: string[][] = [];
    const batcher = new Batcher<string, string>({
      maxWaitMs: 0,
      maxOps: 50,
      maxQueued: 100_000,
      maxQueueWaitMs: 100,
      keyOf: (item) => item.split(':')[0]!,
      async write(items) {
        batches.push([...items]);
        await new Promise((resolve) => setTimeout(resolve, items.length * msPerItem));
        return [...items];
      },
      ...overrides,
    });
    return { batcher, batches };
  }

  it('serves keys round-robin: one key’s backlog does not delay another key’s item, and each key keeps its order', async () => {
    const { batcher, batches } = timed(0.05, { maxQueueWaitMs: 60_000 });
    const flood = Array.from({ length: 300 }, (_, i) => batcher.add(`flood:${i}`));
    const polite = batcher.add('polite:0');
    await Promise.all([...flood, polite]);
    // The first batch left as the 50th flood item was queued; the next one is formed round-robin.
    // (In one shared FIFO queue the polite item would wait for six batches of flood.)
    assert.ok(batches[1]!.includes('polite:0'), `the polite key's item is in the first batch formed after it was queued: ${batches[1]!.join(',')}`);
    const floodOrder = batches.flat().filter((item) => item.startsWith('flood:'));
    assert.deepEqual(floodOrder, Array.from({ length: 300 }, (_, i) => `flood:${i}`));
  });

  it('caps one key’s items per batch (maxOpsPerKey), so a batch in flight holds little of one user’s backlog', async () => {
    const { batcher, batches } = timed(0.01, { maxQueueWaitMs: 60_000, maxOpsPerKey: 10 });
    await Promise.all([...Array.from({ length: 45 }, (_, i) => batcher.add(`flood:${i}`)), ...Array.from({ length: 5 }, (_, i) => batcher.add(`other:${i}`))]);
    for (const batch of batches) assert.ok(batch.filter((item) => item.startsWith('flood:')).length <= 10, batch.join(','));
    assert.deepEqual(batches.flat().filter((item) => item.startsWith('flood:')), Array.from({ length: 45 }, (_, i) => `flood:${i}`));
  });

  it('counts a key’s share by weight (weightOf): heavy items fill it sooner, and a key’s first item is always taken', async () => {
    // Items named key:n:weight — a confirmation of `weight` ids.
    const { batcher, batches } = timed(0.01, { maxQueueWaitMs: 60_000, maxOpsPerKey: 64, weightOf: (item) => Number(item.split(':')[2]) });
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => batcher.add(`flood:${i}:16`)),
      batcher.add('huge:0:1000'),
      ...Array.from({ length: 3 }, (_, i) => batcher.add(`polite:${i}:1`)),
    ]);
    for (const batch of batches) {
      assert.ok(batch.filter((item) => item.startsWith('flood:')).length <= 4, `at most 64 ids of one key per batch: ${batch.join(',')}`);
      assert.ok(batch.filter((item) => item.startsWith('huge:')).length <= 1, batch.join(','));
    }
    assert.ok(batches.flat().includes('huge:0:1000'), 'an item heavier than the share is still written');
    assert.deepEqual(batches.flat().filter((item) => item.startsWith('flood:')), Array.from({ length: 20 }, (_, i) => `flood:${i}:16`));
  });

  it('refuses at once what the measured throughput cannot serve within maxQueueWaitMs, with a retry-after, and still admits other keys', async () => {
    const { batcher } = timed(1); // 1 ms per item, 100 ms budget
    await Promise.all(Array.from({ length: 50 }, (_, i) => batcher.add(`warm:${i}`))); // measures ~1 ms/item
    const started = Date.now();
    const flood = await Promise.allSettled(Array.from({ length: 400 }, (_, i) => batcher.add(`flood:${i}`)));
    const reasons = flood.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as StoreUnavailableError] : []));
    const shed = reasons.filter((error) => error instanceof StoreUnavailableError && /overloaded/.test(error.message));
    // (A few may still expire in the queue when the timers run late on a busy machine.)
    assert.ok(shed.length >= 200, `most of a 400-item burst (~400 ms of work for a 100 ms budget) is refused at add: ${shed.length} of ${reasons.length}`);
    const error = shed[0]!;
    assert.ok(error.retryAfterMs! >= 100, `retry-after ${error.retryAfterMs} ms`);
    // Refused items were refused at once, not after waiting: the accepted ones finished within ~the budget.
    assert.ok(flood.filter((outcome) => outcome.status === 'fulfilled').length >= 50);
    assert.ok(Date.now() - started < 1000, `the burst settled in ${Date.now() - started} ms`);
  });

  it('admits another key during a backlog: its estimate counts one item per key ahead, not the whole queue', async () => {
    const { batcher } = timed(1);
    await Promise.all(Array.from({ length: 50 }, (_, i) => batcher.add(`warm:${i}`)));
    const flood = Array.from({ length: 90 }, (_, i) => batcher.add(`flood:${i}`).catch(() => 'refused'));
    const polite = await batcher.add('polite:0');
    assert.equal(polite, 'polite:0');
    await Promise.all(flood);
  });

  it('refuses at once while a batch has been in flight longer than maxQueueWaitMs (a store that does not answer)', async () => {
    let release!: () => void;
    const batcher = new Batcher<number, number>({
      maxWaitMs: 0,
      maxOps: 10,
      maxQueued: 100,
      maxQueueWaitMs: 30,
      write: async (items) => {
        await new Promise<void>((resolve) => (release = resolve));
        return [...items];
      },
    });
    const first = batcher.add(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const started = Date.now();
    await assert.rejects(batcher.add(2), (error: StoreUnavailableError) => error.retryAfterMs! >= 30);
    assert.ok(Date.now() - started < 20, 'refused without waiting');
    release();
    assert.equal(await first, 1);
  });

  it('recovers after an outage: a batch that failed after the whole budget does not make later writes look hopeless', async () => {
    let down = true;
    const batcher = new Batcher<number, number>({
      maxWaitMs: 1,
      maxOps: 100,
      maxQueued: 10_000,
      maxQueueWaitMs: 200,
      async write(items) {
        if (down) {
          await new Promise((resolve) => setTimeout(resolve, 250)); // a timeout past the budget
          throw new StoreUnavailableError('server selection timed out');
        }
        return items.map((item) => item * 2);
      },
    });
    await assert.rejects(batcher.add(1), StoreUnavailableError);
    down = false;
    // The store is back: the next write is admitted and written, and so are the ones after it.
    assert.equal(await batcher.add(2), 4);
    assert.deepEqual(await Promise.all([3, 4, 5].map((i) => batcher.add(i))), [6, 8, 10]);
  });
});
