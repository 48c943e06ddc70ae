// The paced generator's credit walk (bench/lib/pacer.ts): at R msgs/s over N senders, each sender
// must send every N/R s in turn. Paced benchmarks claim "500 senders at 10/s each"; a walk that
// restarted near the same sender each tick made bursts of R/1000 sends per sender instead.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pumpRoundRobin } from '../../bench/lib/pacer.js';

describe('pumpRoundRobin', () => {
  it('walks the senders in order across ticks: 5 credits per tick over 500 senders, each sends once in 100 ticks', () => {
    const senders = Array.from({ length: 500 }, (_, i) => ({ i, sends: [] as number[] }));
    let from = 0;
    for (let tick = 0; tick < 200; tick++) {
      let credit = 5;
      from = pumpRoundRobin(senders, from, () => credit > 0, (s) => {
        credit--;
        s.sends.push(tick);
      });
    }
    for (const s of senders) assert.deepEqual(s.sends, [Math.floor(s.i / 5), Math.floor(s.i / 5) + 100], `sender ${s.i}`);
  });

  it('stops once its credit is spent, asking no sender after the last send', () => {
    const senders = Array.from({ length: 500 }, (_, i) => ({ i, sends: 0 }));
    let asked = 0;
    let from = 0;
    for (let tick = 0; tick < 200; tick++) {
      from = pumpRoundRobin(senders, from, () => (asked++, true), (s) => s.sends++, 5);
    }
    assert.equal(asked, 1000, 'one question per send');
    assert.deepEqual(new Set(senders.map((s) => s.sends)), new Set([2]), 'each sender twice in 200 ticks');
    assert.equal(from, 0);
  });

  it('skips a sender without room and gives its turn to the next', () => {
    const senders = [{ full: false, n: 0 }, { full: true, n: 0 }, { full: false, n: 0 }];
    let credit = 4;
    const next = pumpRoundRobin(senders, 0, (s) => credit > 0 && !s.full, (s) => {
      credit--;
      s.n++;
    });
    assert.deepEqual(senders.map((s) => s.n), [2, 0, 2]);
    assert.equal(next, 0);
  });
});
