// The end-of-turn stages (src/turn-end.ts): what chat's signals stage queues for the flush stage is
// flushed in the same turn — a receipt goes out in the same write as the ack before it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { atTurnEnd, TurnStage } from '../../src/turn-end.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('atTurnEnd', () => {
  it('runs the signals stage before the flush stage, and a flush queued by a signal in the same turn', async () => {
    const order: string[] = [];
    atTurnEnd(TurnStage.Flush, () => order.push('flush acks'));
    atTurnEnd(TurnStage.Signals, () => {
      order.push('receipts');
      atTurnEnd(TurnStage.Flush, () => order.push('flush receipts'));
    });
    // Anything else scheduled for the end of this turn comes after the whole run.
    setImmediate(() => order.push('next setImmediate'));
    await nextTurn();
    await nextTurn();
    assert.deepEqual(order, ['receipts', 'flush acks', 'flush receipts', 'next setImmediate']);
  });

  it('runs signals queued by a flush in the next turn', async () => {
    const order: string[] = [];
    atTurnEnd(TurnStage.Flush, () => {
      order.push('flush');
      atTurnEnd(TurnStage.Signals, () => order.push('late signal'));
    });
    await nextTurn();
    assert.deepEqual(order, ['flush']);
    await nextTurn();
    assert.deepEqual(order, ['flush', 'late signal']);

  });
});
