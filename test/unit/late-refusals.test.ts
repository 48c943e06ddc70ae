// The chat layer's answer to the store's question before an insert (src/chat/late-refusals.ts): a
// ban now, or a removal heard since the batch's membership read; a re-add clears the removal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LateRefusals } from '../../src/chat/late-refusals.js';

describe('late refusals', () => {
  it('refuses a banned sender, and a removed one whose batch read its membership before the removal was heard', () => {
    let now = 1000;
    const banned = new Set<string>();
    const late = new LateRefusals(60_000, (userId) => banned.has(userId), () => now);
    assert.equal(late.gate('bo', 'g:1', 900), undefined);
    late.changed('removed', 'g:1', ['bo']);
    assert.equal(late.gate('bo', 'g:1', 900), 'removed', 'read before the removal was heard');
    assert.equal(late.gate('bo', 'g:1', 1000), 'removed', 'read in the same millisecond: refused (the read saw the removal, or must not be trusted)');
    assert.equal(late.gate('bo', 'g:1', 1001), undefined, 'read after: the database answered for it');
    assert.equal(late.gate('bo', 'g:2', 900), undefined, 'another conversation');
    assert.equal(late.gate('al', 'g:1', 900), undefined, 'another user');
    now = 2000;
    late.changed('joined', 'g:1', ['bo']);
    assert.equal(late.gate('bo', 'g:1', 900), undefined, 'added again: no longer refused');
    late.changed('left', 'g:1', ['bo']);
    assert.equal(late.gate('bo', 'g:1', 1500), 'removed', 'leaving counts as a removal');
    late.changed('updated', 'g:1', ['bo']);
    assert.equal(late.gate('bo', 'g:1', 1500), 'removed', 'a rename changes nothing');
    banned.add('cy');
    assert.equal(late.gate('cy', 'd:cy:dee', 0), 'banned');
  });

  it('forgets a removal after rememberMs', async () => {
    const late = new LateRefusals(30, () => false);
    late.changed('removed', 'g:1', ['bo']);
    assert.equal(late.gate('bo', 'g:1', 0), 'removed');
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(late.gate('bo', 'g:1', 0), undefined);
  });
});
