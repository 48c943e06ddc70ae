// The memory store's message index (src/store/memory/message-index.ts) against one Map as the model,
// with generations of 1,000 ids so that 30,000 ids span thirty of them: the same answers for ids
// present and absent, replacements in place in whichever generation holds the id, the same size and
// the same order.
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
  it('answers as one Map does across thirty generations, a tenth of the ids replaced', () => {
    const random = prng(11);
    const index = new MessageIndex<Rec>(1000);
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
    assert.ok(index.size > 29_000, 'thirty generations');
    for (const id of ids) assert.equal(index.get(id), model.get(id));
    assert.deepEqual([...index.values()], [...model.values()], 'records in the order added, replacements in place');
  });

  it('refuses to replace an id it does not hold', () => {
    const index = new MessageIndex<Rec>(2);
    index.add({ messageId: 'a', version: 1 });
    assert.throws(() => index.replace({ messageId: 'b', version: 2 }), /not in the index/);
  });
});
