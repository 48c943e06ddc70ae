// Delivery cursors (src/store/cursor.ts) against a plain set of confirmed seqs: random confirmations,
// one seq at a time (the fast path) and several at once, in and out of order, with duplicates.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advance, advanceTo, covers, EMPTY_CURSOR, highestCovered, MAX_GAPS, runsOf, seqsOf, union } from '../../src/store/cursor.js';
import type { Cursor } from '../../src/store/store.js';
import { prng } from '../helpers/prng.js';

function assertMatches(cursor: Cursor, model: ReadonlySet<number>, top: number, context: string): void {
  for (let seq = 1; seq <= top; seq++) assert.equal(covers(cursor, seq), model.has(seq), `${context}: seq ${seq}`);
  // Normal form: the watermark is as high as the confirmed run from 1 goes, the rest in runs above it,
  // ascending, each after a gap.
  assert.ok(!model.has(cursor.upTo + 1), `${context}: upTo ${cursor.upTo} stops short of a confirmed seq`);
  const { runs } = cursor;
  assert.equal(runs.length % 2, 0, `${context}: runs come in pairs`);
  for (let i = 0; i < runs.length; i += 2) {
    assert.ok(runs[i]! <= runs[i + 1]!, `${context}: run ${i / 2} is from ≤ to`);
    assert.ok(runs[i]! > (i === 0 ? cursor.upTo : runs[i - 1]!) + 1, `${context}: run ${i / 2} starts past a gap`);
  }
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
    assert.deepEqual(at3, { upTo: 3, runs: [] });
    for (const seq of [0, 2, 3, -1, 1.5, Number.NaN, 2 ** 53]) assert.equal(advance(at3, [seq]).cursor, at3, String(seq));
    assert.deepEqual(advance(at3, [5]).cursor, { upTo: 3, runs: [5, 5] });
  });

  it('advanceTo covers everything up to a seq and keeps what lies above', () => {
    const gappy = advance(EMPTY_CURSOR, [2, 5, 9]).cursor;
    assert.deepEqual(advanceTo(gappy, 4)?.cursor, { upTo: 5, runs: [9, 9] });
    assert.equal(advanceTo(gappy, 0), undefined);
  });

  it('gives one seq on a gappy cursor, up to and past MAX_GAPS, the same cursor as the general path', () => {
    // [seq, seq] takes the general path (a Set and a sort), [seq] the one-seq path.
    const random = prng(7);
    let cursor: Cursor = EMPTY_CURSOR;
    for (let step = 0; step < 6000; step++) {
      const seq = cursor.upTo + 1 + Math.floor(random() * (random() < 0.9 ? 3 * MAX_GAPS : 3));
      const one = advance(cursor, [seq]);
      assert.deepEqual(one, advance(cursor, [seq, seq]), `step ${step}: ${seq} on upTo ${cursor.upTo} with ${cursor.runs.length / 2} runs`);
      cursor = one.cursor;
    }
    assert.ok(cursor.runs.length / 2 <= MAX_GAPS, 'within the bound');
  });

  it('keeps at most MAX_GAPS gaps above the watermark', () => {
    const everyOther = Array.from({ length: MAX_GAPS + 10 }, (_, i) => 2 * (i + 1));
    let cursor: Cursor = EMPTY_CURSOR;
    for (const seq of everyOther) cursor = advance(cursor, [seq]).cursor;
    assert.equal(cursor.runs.length / 2, MAX_GAPS);
    assert.ok(cursor.upTo > 0, 'the oldest gaps were closed');
  });

  it('keeps one unconfirmed seq below any number of confirmed ones in a row (the server covers runs: own sends, events withheld)', () => {
    // Seq 1 is a message the device has not confirmed; 2..5001 are covered one at a time, as the
    // server covers a user's own sends or the edits of one message for a device not sent events.
    let cursor: Cursor = EMPTY_CURSOR;
    for (let seq = 2; seq <= 5001; seq++) cursor = advance(cursor, [seq]).cursor;
    assert.equal(covers(cursor, 1), false, 'seq 1 is still owed');
    assert.deepEqual(cursor, { upTo: 0, runs: [2, 5001] });
    // Confirmed at last: the watermark goes through the whole run.
    assert.deepEqual(advance(cursor, [1]).cursor, { upTo: 5001, runs: [] });
  });

  it('reads the one-seq-each form stored before runs, and writes it for instances from before them', () => {
    assert.deepEqual(runsOf([9, 3, 4, 5, 7, 4]), [3, 5, 7, 7, 9, 9]);
    assert.deepEqual(seqsOf([3, 5, 7, 7, 9, 12], 100), [3, 4, 5, 7, 9, 10, 11, 12]);
    assert.deepEqual(seqsOf([3, 5, 7, 7, 9, 12], 4), [3, 4, 5, 7]);
    assert.deepEqual(union({ upTo: 2, runs: [5, 6] }, { upTo: 0, runs: [3, 3, 8, 9] }), { upTo: 3, runs: [5, 6, 8, 9] });
  });
});
