// The memory store's message index (src/store/memory/message-index.ts) against one Map as the model,
// with 4 shards of generations of 1,000 ids so that 30,000 ids span seven or eight per shard: the same
// answers for ids present and absent, replacements in place in whichever generation holds the id, the
// same size and the same records.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageIndex } from '../../src/store/memory/message-index.js';
import { prng } from '../helpers/prng.js';

interface Rec {
  readonly messageId: string;
  readonly version: number;
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

function randomId(random: () => number): string {
  let id = '';
  const length = 1 + Math.floor(random() * 64);
  while (id.length < length) id += ID_CHARS[Math.floor(random() * ID_CHARS.length)];
  return id;
}

describe('message index', () => {
  it('answers as one Map does across shards of several generations, a tenth of the ids replaced', () => {
    const random = prng(11);
    const index = new MessageIndex<Rec>(1000, 4);
    const model = new Map<string, Rec>();
    const ids: string[] = [];
    for (let i = 0; i < 33_000; i++) {
      const replacing = random() < 0.1 && ids.length > 0;
      const id = replacing ? ids[Math.floor(random() * ids.length)]! : randomId(random);
      const rec = { messageId: id, version: i };
      assert.equal(index.get(id), model.get(id), `id ${i} before`);
      if (model.has(id)) index.replace(rec);
      else index.add(rec);
      model.set(id, rec);
      ids.push(id);
      if (i % 97 === 0) assert.equal(index.get(`${randomId(random)}~`), undefined, 'an id never added');
    }
    assert.equal(index.size, model.size);
    assert.ok(index.size > 29_000, 'several generations per shard');
    for (const id of ids) assert.equal(index.get(id), model.get(id));
    const byId = (a: Rec, b: Rec) => (a.messageId < b.messageId ? -1 : 1);
    assert.deepEqual([...index.values()].sort(byId), [...model.values()].sort(byId), 'every record once, replacements in place');
  });

  it('spreads ids that differ only in their last characters (counters, ULIDs) over its shards', () => {
    const index = new MessageIndex<Rec>(1 << 20, 64);
    for (let i = 0; i < 6400; i++) index.add({ messageId: `m-${i}`, version: i });
    const sizes = (index as unknown as { shards: Map<string, Rec>[][] }).shards.map((generations) => generations[0]!.size);
    assert.ok(Math.max(...sizes) <= 4 * (6400 / 64), `the largest shard holds at most 4× its share: ${Math.max(...sizes)}`);
  });

  it('refuses to replace an id it does not hold', () => {
    const index = new MessageIndex<Rec>(2);
    index.add({ messageId: 'a', version: 1 });
    assert.throws(() => index.replace({ messageId: 'b', version: 2 }), /not in the index/);
  });
});
