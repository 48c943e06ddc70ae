// The memory store's message index (src/store/memory/message-index.ts) against a Map as the model:
// the same answers for ids present and absent, the same size and the same order, through many
// doublings of its table; and two ids whose 32-bit hashes are equal are still told apart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idHash, MessageIndex } from '../../src/store/memory/message-index.js';
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
  it('answers as a Map does, through 100,000 ids, a tenth of them set again', () => {
    const random = prng(11);
    const index = new MessageIndex<Rec>(12345);
    const model = new Map<string, Rec>();
    const ids: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      // Short ids collide in the table's low bits often; repeats replace the record in place.
      const id = random() < 0.1 && ids.length > 0 ? ids[Math.floor(random() * ids.length)]! : randomId(random);
      const rec = { messageId: id, version: i };
      assert.equal(index.get(id), model.get(id), `id ${i} before set`);
      index.set(rec);
      model.set(id, rec);
      ids.push(id);
      if (i % 97 === 0) assert.equal(index.get(randomId(random) + '~'), undefined, 'an id never set');
    }
    assert.equal(index.size, model.size);
    for (const id of ids) assert.equal(index.get(id), model.get(id));
    assert.deepEqual([...index.values()], [...model.values()], 'records in first-set order, replacements in place');
  });

  it('tells apart two ids with the same 32-bit hash', () => {
    const seed = 99;
    const random = prng(5);
    const byHash = new Map<number, string>();
    let pair: [string, string] | undefined;
    // The birthday bound: among ~10^5 random ids, two 32-bit hashes are likely equal.
    for (let i = 0; i < 2_000_000 && !pair; i++) {
      const id = randomId(random);
      const h = idHash(id, seed);
      const other = byHash.get(h);
      if (other !== undefined && other !== id) pair = [other, id];
      byHash.set(h, id);
    }
    assert.ok(pair, 'found two ids with one hash');
    const [a, b] = pair;
    const index = new MessageIndex<Rec>(seed);
    assert.equal(index.get(a), undefined);
    index.set({ messageId: a, version: 1 });
    assert.equal(index.get(b), undefined, 'the other id is not found through the shared hash');
    index.set({ messageId: b, version: 2 });
    assert.equal(index.get(a)?.version, 1);
    assert.equal(index.get(b)?.version, 2);
    index.set({ messageId: b, version: 3 });
    assert.equal(index.size, 2);
    assert.equal(index.get(b)?.version, 3);
  });
});
