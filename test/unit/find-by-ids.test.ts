// Reading by ids on FerretDB (src/store/mongo/find-by-ids.ts) weighs lookups against a scan by the
// collection's size, and a count is itself a scan there: the read must never wait for one. The
// collection here is a stand-in that records what it was asked (the driver is not what is tested).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Collection, Document } from 'mongodb';
import { findByIds } from '../../src/store/mongo/find-by-ids.js';

let namespaces = 0;

function collection(count: Promise<number>) {
  const calls: string[] = [];
  const docs = new Map([['a', { _id: 'a' }], ['b', { _id: 'b' }]]);
  const fake = {
    namespace: `probe.c${++namespaces}`,
    estimatedDocumentCount: () => {
      calls.push('count');
      return count;
    },
    findOne: async (filter: { _id: string }) => {
      calls.push(`findOne ${filter._id}`);
      return docs.get(filter._id) ?? null;
    },
    find: (filter: { _id: { $in: string[] } }) => {
      calls.push(`find $in ${filter._id.$in.length}`);
      return { toArray: async () => filter._id.$in.flatMap((id) => docs.get(id) ?? []) };
    },
  };
  return { calls, collection: fake as unknown as Collection<{ _id: string } & Document> };
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))]);

describe('findByIds on FerretDB (lookups or a scan, by size)', () => {
  it('never waits for the count: a count that does not answer leaves the read to lookups', async () => {
    const { calls, collection: c } = collection(new Promise(() => {}));
    const found = await within(findByIds(c, 'each', ['a', 'b', 'x'], {}), 1000);
    assert.deepEqual(found.map((doc) => doc._id).sort(), ['a', 'b']);
    assert.deepEqual(calls.filter((call) => call === 'count'), ['count'], 'one count started, in the background');
    assert.deepEqual(calls.filter((call) => call.startsWith('findOne')).sort(), ['findOne a', 'findOne b', 'findOne x']);
    await within(findByIds(c, 'each', ['a', 'b'], {}), 1000);
    assert.equal(calls.filter((call) => call === 'count').length, 1, 'no second count while one is in flight');
  });

  it('a finished count decides the reads after it: a small collection is scanned once', async () => {
    const { calls, collection: c } = collection(Promise.resolve(10));
    await findByIds(c, 'each', ['a', 'b'], {});
    await new Promise((resolve) => setImmediate(resolve)); // the background count settles
    calls.length = 0;
    const found = await findByIds(c, 'each', ['a', 'b'], {});
    assert.deepEqual(found.map((doc) => doc._id).sort(), ['a', 'b']);
    assert.deepEqual(calls, ['find $in 2'], '2 ids x 50 > 10 documents: one scan, no new count within the minute');
  });

  it('one id is always a lookup, and starts no count', async () => {
    const { calls, collection: c } = collection(Promise.resolve(10));
    await findByIds(c, 'each', ['a'], {});
    assert.deepEqual(calls, ['findOne a']);
  });
});
