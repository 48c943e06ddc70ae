// The memory store's message index (src/store/memory/message-index.ts) against one Map as the model,
// with 4 shards of generations of 1,000 ids so that 30,000 ids span seven or eight per shard: the same
// rows for ids present, nothing for ids absent, and the same size.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageIndex } from '../../src/store/memory/message-index.js';
import { prng } from '../helpers/prng.js';

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

function randomId(random: () => number): string {
  let id = '';
  const length = 1 + Math.floor(random() * 64);
  while (id.length < length) id += ID_CHARS[Math.floor(random() * ID_CHARS.length)];
  return id;
}

describe('message index', () => {
  it('answers as one Map does across shards of several generations', () => {
    const random = prng(11);
    const index = new MessageIndex(1000, 4);
    const model = new Map<string, number>();
    const ids: string[] = [];
    for (let row = 0; row < 33_000; row++) {
      // A tenth of the time an id already added: the store looks it up and does not add it again.
      const id = random() < 0.1 && ids.length > 0 ? ids[Math.floor(random() * ids.length)]! : randomId(random);
      assert.equal(index.get(id), model.get(id), `id ${row} before`);
      if (!model.has(id)) {
        index.add(id, row);
        model.set(id, row);
        ids.push(id);
      }
      if (row % 97 === 0) assert.equal(index.get(`${randomId(random)}~`), undefined, 'an id never added');
    }
    assert.equal(index.size, model.size);
    assert.ok(index.size > 29_000, 'several generations per shard');
    for (const [id, row] of model) assert.equal(index.get(id), row);
  });

  it('spreads ids that differ only in their last characters (counters, ULIDs) over its shards', () => {
    const index = new MessageIndex(1 << 20, 64);
    for (let i = 0; i < 6400; i++) index.add(`m-${i}`, i);
    const sizes = (index as unknown as { shards: Map<string, number>[][] }).shards.map((generations) => generations[0]!.size);
    assert.ok(Math.max(...sizes) <= 4 * (6400 / 64), `the largest shard holds at most 4× its share: ${Math.max(...sizes)}`);
  });
});
