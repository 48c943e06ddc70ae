import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KEYS_PER_MS, SortKeyClock } from '../../src/store/sort-key.js';

describe('SortKeyClock', () => {
  it('is strictly increasing within a millisecond, when the wall clock steps back, and after observe()', () => {
    let now = 1_000;
    const clock = new SortKeyClock(() => now);
    const a = clock.next();
    const b = clock.next();
    assert.equal(a, 1_000 * KEYS_PER_MS);
    assert.equal(b, a + 1);
    now = 999; // clock stepped back
    assert.equal(clock.next(), b + 1);
    clock.observe(5_000 * KEYS_PER_MS);
    assert.equal(clock.next(), 5_000 * KEYS_PER_MS + 1);
    now = 6_000;
    assert.equal(clock.next(), 6_000 * KEYS_PER_MS);
  });
});
