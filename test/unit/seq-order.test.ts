// SeqOrder alone (no server): what it hands over, holds, treats as a repeat, and declares a gap, and
// when a conversation may be confirmed by watermark.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GapEvent } from '../../src/client/index.js';
import { SeqOrder, type PlacedMessage } from '../../src/client/seq-order.js';

function harness(options: { maxHeld?: number; maxTracked?: number } = {}) {
  const shown: number[] = [];
  const repeats: number[] = [];
  const late: number[] = [];
  const gaps: GapEvent[] = [];
  let replays = 0;
  const order = new SeqOrder(
    {
      deliver: (m) => shown.push(m.seq),
      repeat: (m) => repeats.push(m.seq),
      late: (m) => late.push(m.seq),
      gap: (g) => gaps.push(g),
      requestReplay: () => replays++,
    },
    { gapWaitMs: 10_000, maxHeld: options.maxHeld ?? 100, maxTracked: options.maxTracked ?? 100 },
  );
  const msg = (seq: number, conversationId = 'c'): PlacedMessage => ({ messageId: `m${conversationId}${seq}`, from: 'x', body: 'b', ts: seq, conversationId, seq });
  return { order, msg, shown, repeats, late, gaps, replays: () => replays };
}

describe('SeqOrder (unit)', () => {
  it('holds a message past a hole and hands it over, in order, when the hole fills', () => {
    const h = harness();
    h.order.received(h.msg(5), true);
    h.order.received(h.msg(7), false);
    h.order.received(h.msg(8), false);
    assert.deepEqual(h.shown, [5]);
    h.order.received(h.msg(6), false);
    assert.deepEqual(h.shown, [5, 6, 7, 8]);
    h.order.received(h.msg(7), false);
    assert.deepEqual(h.repeats, [7]);
    h.order.received(h.msg(3), false);
    assert.deepEqual(h.late, [3], 'below where tracking began');
    h.order.stop();
  });

  it("counts this device's own sends as had", () => {
    const h = harness();
    h.order.received(h.msg(1), false);
    h.order.received(h.msg(3), false);
    h.order.ownSent('c', 2);
    assert.deepEqual(h.shown, [1, 3]);
    assert.equal(h.order.solid('c'), 3);
    h.order.stop();
  });

  it('a hole older than the last replay request is a gap at `ready`; a younger one waits for its own replay', () => {
    const h = harness();
    h.order.received(h.msg(1), true);
    h.order.received(h.msg(4), true);
    h.order.replayDone(); // the hole opened after the replay was asked for: not yet a gap
    assert.deepEqual(h.gaps, []);
    h.order.socketOpened(); // a new replay is asked for
    h.order.replayDone();
    assert.deepEqual(h.gaps, [{ conversationId: 'c', fromSeq: 2, toSeq: 3 }]);
    assert.deepEqual(h.shown, [1, 4]);
    h.order.received(h.msg(2), false);
    assert.deepEqual(h.repeats, [2], 'a message of a declared gap is not shown out of order');
    h.order.stop();
  });

  it('past maxHeld the first hole is a gap at once (bounded memory)', () => {
    const h = harness({ maxHeld: 2 });
    h.order.received(h.msg(1), true);
    for (const seq of [3, 4, 5]) h.order.received(h.msg(seq), false);
    assert.deepEqual(h.gaps, [{ conversationId: 'c', fromSeq: 2, toSeq: 2 }]);
    assert.deepEqual(h.shown, [1, 3, 4, 5]);
    h.order.stop();
  });

  it('watermarks only where nothing below can still be pending: from seq 1, from a replay, or after one', () => {
    const h = harness({ maxTracked: 2 });
    h.order.received(h.msg(9, 'live'), false);
    assert.equal(h.order.solid('live'), undefined, 'first seen live at 9: 8 may still be on its way');
    h.order.received(h.msg(1, 'new'), false);
    assert.equal(h.order.solid('new'), 1);
    h.order.replayDone();
    assert.equal(h.order.solid('live'), 9);
    h.order.received(h.msg(1, 'third'), false); // past maxTracked: the least recent track is forgotten
    assert.equal(h.order.solid('live'), undefined);
    h.order.stop();
  });

  it('one gap event per contiguous hole, each a range of seqs', () => {
    const h = harness();
    for (const seq of [1, 5, 6, 9, 10]) h.order.received(h.msg(seq), true);
    h.order.socketOpened();
    h.order.replayDone();
    assert.deepEqual(h.gaps, [
      { conversationId: 'c', fromSeq: 2, toSeq: 4 },
      { conversationId: 'c', fromSeq: 7, toSeq: 8 },
    ]);
    assert.deepEqual(h.shown, [1, 5, 6, 9, 10]);
    h.order.stop();
  });

  it('filling many holes after a replay costs a bounded number of steps per held message, not quadratic', () => {
    // The probe's flood: every other seq, held past a hole each. The work is counted as the Map
    // iterator steps over the held messages (the old code scanned all of them for every hole: ~n²).
    const HELD = 2000;
    const CONVERSATIONS = 5;
    const h = harness({ maxHeld: HELD + 1 });
    for (let c = 0; c < CONVERSATIONS; c++) for (let seq = 1; seq <= 2 * HELD + 1; seq += 2) h.order.received(h.msg(seq, `c${c}`), true);
    h.order.socketOpened();
    const iteratorProto = Object.getPrototypeOf(new Map().keys()) as { next: (...args: unknown[]) => unknown };
    const next = iteratorProto.next;
    let steps = 0;
    iteratorProto.next = function (this: unknown, ...args: unknown[]) {
      steps++;
      return next.apply(this, args);
    };
    try {
      h.order.replayDone();
    } finally {
      iteratorProto.next = next;
    }
    assert.equal(h.gaps.length, CONVERSATIONS * HELD, 'one gap per hole (each hole is one seq here)');
    assert.equal(h.shown.length, CONVERSATIONS * (HELD + 1));
    assert.ok(steps <= 10 * CONVERSATIONS * HELD, `${steps} iterator steps for ${CONVERSATIONS * HELD} holes`);
    h.order.stop();
  });
});
