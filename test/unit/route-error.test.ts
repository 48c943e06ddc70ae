// What an HTTP route answers for a thrown error: a store that could not be reached is 503 with
// Retry-After (the probe saw driver timeouts answered 500 "internal" for group adds that had landed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MongoNetworkTimeoutError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { ChatError } from '../../src/errors.js';
import { StoreUnavailableError } from '../../src/store/store.js';
import { routeError } from '../../src/transport/route-error.js';

describe('routeError', () => {
  it('answers the driver errors that mean "unreachable or timed out" 503 unavailable, with the store\'s retry hint', () => {
    for (const error of [new MongoNetworkTimeoutError('timed out'), new MongoServerSelectionError('no server', { type: 'Unknown' } as never)]) {
      const answer = routeError(error);
      assert.deepEqual([answer.code, answer.status, answer.retryAfterSec], ['unavailable', 503, 1], error.name);
    }
    assert.equal(routeError(new StoreUnavailableError('queue full', { retryAfterMs: 2500 })).retryAfterSec, 3);
  });

  it('keeps a ChatError as it is, and anything else (a server-side refusal, a bug) is internal', () => {
    const refusal = new ChatError('forbidden');
    assert.equal(routeError(refusal), refusal);
    assert.equal(routeError(new MongoServerError({ message: 'bad', code: 2 })).code, 'internal');
    assert.equal(routeError(new TypeError('x is undefined')).code, 'internal');
  });
});
