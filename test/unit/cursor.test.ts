// Delivery cursors (src/store/cursor.ts) against a plain set of confirmed seqs: random confirmations,
// one seq at a time (the fast path) and several at once, in and out of order, with duplicates.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advance, advanceTo, covers, EMPTY_CURSOR, highestCovered, MAX_ABOVE } from '../../src/store/cursor.js';
import type { Cursor } from '../../src/store/store.js';
import { prng } from '../helpers/prng.js';

function assertMatches(cursor: Cursor, model: ReadonlySet<number>, top: number, context: string): void {
  for (let seq = 1; seq <= top; seq++) assert.equal(covers(cursor, seq), model.has(seq), `${context}: seq ${seq}`);
  // Normal form: the watermark is as high as the confirmed run from 1 goes, the rest sorted above it.
  assert.ok(!model.has(cursor.upTo + 1), `${context}: upTo ${cursor.upTo} stops short of a confirmed seq`);
  assert.deepEqual([...cursor.above], [...cursor.above].sort((a, b) => a - b), `${context}: above is sorted`);
  assert.ok(cursor.above.every((seq) => seq > cursor.upTo + 1), `${context}: above starts past a gap`);
}

describe('delivery cursor', () => {
  it('covers exactly what was confirmed, in any order, one seq or many at a time', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const random = prng(seed);
      const top = 60;
      const model = new Set<number>();
      let cursor: Cursor = EMPTY_CURSOR;
      for (let step = 0; step < 80; step++) {
        const inOrder = random() < 0.5;
        const count = random() < 0.6 ? 1 : 1 + Math.floor(random() * 4);
        const seqs = Array.from({ length: count }, () => (inOrder ? Math.min(top, cursor.upTo + 1) : 1 + Math.floor(random() * top)));
        const newly = [...new Set(seqs.filter((seq) => !model.has(seq)))].sort((a, b) => a - b);
        const before = cursor;
        const result = advance(cursor, seqs);
        const context = `seed ${seed} step ${step} ${JSON.stringify(before)} + ${JSON.stringify(seqs)}`;
        assert.deepEqual(result.added, newly, `${context}: newly covered`);
        if (newly.length === 0) assert.equal(result.cursor, before, `${context}: unchanged cursor returned as is`);
        for (const seq of seqs) model.add(seq);
        cursor = result.cursor;
        assertMatches(cursor, model, top, context);
        assert.equal(highestCovered(cursor), Math.max(0, ...model), `${context}: highest covered`);
      }
    }
  });

  it('ignores seqs that are not safe integers, and seqs at or below the watermark', () => {
    const at3 = advance(advance(advance(EMPTY_CURSOR, [1]).cursor, [2]).cursor, [3]).cursor;
    assert.deepEqual(at3, { upTo: 3, above: [] });
    for (const seq of [0, 2, 3, -1, 1.5, Number.NaN, 2 ** 53]) assert.equal(advance(at3, [seq]).cursor, at3, String(seq));
    assert.deepEqual(advance(at3, [5]).cursor, { upTo: 3, above: [5] });
  });

  it('advanceTo covers everything up to a seq and keeps what lies above', () => {
    const gappy = advance(EMPTY_CURSOR, [2, 5, 9]).cursor;
    assert.deepEqual(advanceTo(gappy, 4)?.cursor, { upTo: 5, above: [9] });
    assert.equal(advanceTo(gappy, 0), undefined);
  });

  it('gives one seq on a gappy cursor, up to and past MAX_ABOVE, the same cursor as the general path', () => {
    // [seq, seq] takes the general path (a Set and a sort), [seq] the one-seq path that copies `above` once.
    const random = prng(7);
    let cursor: Cursor = EMPTY_CURSOR;
    for (let step = 0; step < 6000; step++) {
      const seq = cursor.upTo + 1 + Math.floor(random() * (random() < 0.9 ? 3 * MAX_ABOVE : 3));
      const one = advance(cursor, [seq]);
      assert.deepEqual(one, advance(cursor, [seq, seq]), `step ${step}: ${seq} on upTo ${cursor.upTo} with ${cursor.above.length} above`);
      cursor = one.cursor;
    }
    assert.equal(cursor.above.length, MAX_ABOVE, 'the run reached the bound');
  });

  it('keeps at most MAX_ABOVE seqs above the watermark', () => {
    const everyOther = Array.from({ length: MAX_ABOVE + 10 }, (_, i) => 2 * (i + 1));
    let cursor: Cursor = EMPTY_CURSOR;
    for (const seq of everyOther) cursor = advance(cursor, [seq]).cursor;
    assert.equal(cursor.above.length, MAX_ABOVE);
    assert.ok(cursor.upTo > 0, 'the oldest gaps were closed');
  });
});
