// The delivery cursor cache is bounded and only records facts: pending facts and terminal deliveries.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryCursorCache, FACTS_PER_USER } from '../../src/store/cursor-cache.js';

describe('DeliveryCursorCache', () => {
  it('remembers pending facts until delivered, and delivered ids for good', () => {
    const cache = new DeliveryCursorCache(10);
    cache.notePending('bob', 'm1', { from: 'alice', ts: 1 });
    assert.deepEqual(cache.pendingFact('bob', 'm1'), { from: 'alice', ts: 1 });
    assert.equal(cache.pendingFact('carol', 'm1'), undefined);
    cache.noteDelivered('bob', ['m1']);
    assert.equal(cache.pendingFact('bob', 'm1'), undefined);
    assert.equal(cache.isDelivered('bob', 'm1'), true);
    assert.equal(cache.isDelivered('carol', 'm1'), false);
    cache.notePending('bob', 'm1', { from: 'alice', ts: 1 }); // a late replay read never revives it
    assert.equal(cache.pendingFact('bob', 'm1'), undefined);
  });

  it('holds at most CURSOR_CACHE_MAX users and FACTS_PER_USER facts per user and kind', () => {
    const cache = new DeliveryCursorCache(3);
    for (const user of ['a', 'b', 'c', 'd']) cache.notePending(user, 'm', { from: 'x', ts: 0 });
    assert.equal(cache.size, 3);
    assert.equal(cache.pendingFact('a', 'm'), undefined);
    for (let i = 0; i < FACTS_PER_USER + 10; i++) cache.noteDelivered('d', [`m${i}`]);
    assert.equal(cache.isDelivered('d', 'm0'), false);
    assert.equal(cache.isDelivered('d', `m${FACTS_PER_USER + 9}`), true);
  });
});
