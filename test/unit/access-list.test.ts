// The revocation and ban rule of src/auth/access-list.ts, at the second boundaries of the JWT `iat`,
// and the ordering of states (a stale one never undoes a newer one).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessList, type AccessChange } from '../../src/auth/access-list.js';

const REVOKED_AT = 1_700_000_000_400; // ms: 400 ms into second 1_700_000_000

describe('AccessList', () => {
  it('refuses every token issued up to the revocation second, accepts one from the next second on', () => {
    const list = new AccessList();
    list.apply({ userId: 'u', bannedAt: null, tokensValidAfter: REVOKED_AT, updatedAt: REVOKED_AT });
    assert.equal(list.refusal('u', 1_699_999_999), 'revoked', 'issued the second before');
    assert.equal(list.refusal('u', 1_700_000_000), 'revoked', 'issued in the same second (before or after: iat cannot tell)');
    assert.equal(list.refusal('u', 1_700_000_001), undefined, 'issued the next second');
    assert.equal(list.refusal('u', 1_700_000_000.999), 'revoked', 'a fractional iat is its whole second');
    assert.equal(list.refusal('u', undefined), 'revoked', 'a token without iat cannot show it is newer');
    assert.equal(list.refusal('other', 1), undefined, 'other users are untouched');
  });

  it('a revocation on an exact second boundary refuses that second', () => {
    const list = new AccessList();
    list.apply({ userId: 'u', bannedAt: null, tokensValidAfter: 1_700_000_000_000, updatedAt: 1 });
    assert.equal(list.refusal('u', 1_700_000_000), 'revoked');
    assert.equal(list.refusal('u', 1_700_000_001), undefined);
  });

  it('a ban refuses every token until unbanned; the revocation stays', () => {
    const list = new AccessList();
    list.apply({ userId: 'u', bannedAt: 10, tokensValidAfter: 0, updatedAt: 10 });
    assert.equal(list.refusal('u', 9_999_999_999), 'banned');
    list.apply({ userId: 'u', bannedAt: null, tokensValidAfter: 0, updatedAt: 20 });
    assert.equal(list.refusal('u', 1), undefined);
  });

  it('ignores a stale state (a refresh that read before an unban), and never moves a revocation back', () => {
    const list = new AccessList();
    list.apply({ userId: 'u', bannedAt: null, tokensValidAfter: 5000, updatedAt: 30 });
    list.apply({ userId: 'u', bannedAt: 10, tokensValidAfter: 0, updatedAt: 10 });
    assert.equal(list.refusal('u', 6), undefined, 'the older ban is ignored');
    list.apply({ userId: 'u', bannedAt: null, tokensValidAfter: 1000, updatedAt: 40 });
    assert.equal(list.refusal('u', 4), 'revoked', 'the revocation did not move back');
  });

  it('tells listeners only of what refuses more than before', () => {
    const list = new AccessList();
    const changes: AccessChange[] = [];
    list.onChange((change) => changes.push(change));
    list.apply({ userId: 'u', bannedAt: 1, tokensValidAfter: 0, updatedAt: 1 });
    list.apply({ userId: 'u', bannedAt: 1, tokensValidAfter: 0, updatedAt: 2 }); // the same state again (bus, then refresh)
    list.apply({ userId: 'u', bannedAt: null, tokensValidAfter: 0, updatedAt: 3 }); // unban: refuses less
    list.apply({ userId: 'u', bannedAt: null, tokensValidAfter: 3000, updatedAt: 4 });
    assert.deepEqual(changes, [
      { userId: 'u', banned: true, revoked: false },
      { userId: 'u', banned: false, revoked: true },
    ]);
  });
});
