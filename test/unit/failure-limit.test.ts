// The per-address budget of failed attempts (x-metrics-key guesses), on a fake clock: the budget,
// the lock-out, the refill, and that only failures spend it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailureLimiter } from '../../src/transport/failure-limit.js';

describe('FailureLimiter', () => {
  it('allows perMin failures at once, then locks the key until one has refilled', () => {
    let now = 1_000_000;
    const limiter = new FailureLimiter(6, 100, () => now);
    for (let i = 0; i < 5; i++) {
      assert.equal(limiter.retryAfterSec('a'), 0);
      assert.equal(limiter.fail('a'), 0, 'budget left after this failure');
    }
    // The 6th failure spends the budget: the key waits until one token refills (6 per minute: 10 s).
    assert.equal(limiter.fail('a'), 10);
    assert.equal(limiter.retryAfterSec('a'), 10);
    now += 5_000;
    assert.equal(limiter.retryAfterSec('a'), 5);
    now += 5_000;
    assert.equal(limiter.retryAfterSec('a'), 0);
    assert.equal(limiter.fail('a'), 10);
    // A full minute refills the whole budget, never more.
    now += 600_000;
    for (let i = 0; i < 5; i++) assert.equal(limiter.fail('a'), 0);
    assert.equal(limiter.fail('a'), 10);
  });

  it('keeps keys apart and forgets the least recently failed past maxKeys (a full budget again)', () => {
    const limiter = new FailureLimiter(1, 2, () => 0);
    assert.equal(limiter.fail('a'), 60);
    assert.equal(limiter.retryAfterSec('a'), 60);
    assert.equal(limiter.retryAfterSec('b'), 0);
    limiter.fail('b');
    limiter.fail('c');
    assert.equal(limiter.retryAfterSec('a'), 0, 'evicted');
    assert.equal(limiter.retryAfterSec('c'), 60);
  });
});
