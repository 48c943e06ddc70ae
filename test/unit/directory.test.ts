// The conversation directory (src/chat/directory.ts) over the real memory store: what it reads, and
// when. A store that counts its reads stands in for another instance's changes and for the cost of a
// read; the directory itself is the real one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConversationDirectory } from '../../src/chat/directory.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { Conversation, Membership } from '../../src/store/store.js';

class CountingStore extends MemoryStore {
  conversationReads = 0;
  membershipReads = 0;
  override getConversation(conversationId: string): Promise<Conversation | undefined> {
    this.conversationReads++;
    return super.getConversation(conversationId);
  }
  override membership(conversationId: string, userId: string): Promise<Membership | undefined> {
    this.membershipReads++;
    return super.membership(conversationId, userId);
  }
}

async function withGroup(members: string[]) {
  const store = new CountingStore();
  await store.createGroup({ conversationId: 'g:team', title: 'team', ownerId: 'owner', members, createdAt: Date.now() });
  return { store, directory: new ConversationDirectory(store, 100) };
}

describe('ConversationDirectory', () => {
  it("refuses a non-member of a cached group by its one membership, not by reading every member again", async () => {
    const { store, directory } = await withGroup(Array.from({ length: 999 }, (_, i) => `member${i}`));
    assert.ok(await directory.forMember('g:team', 'member1'));
    assert.equal(store.conversationReads, 1);
    for (let i = 0; i < 50; i++) assert.equal(await directory.forMember('g:team', 'outsider'), undefined);
    assert.equal(store.conversationReads, 1, 'the member list was read once, for the first frame');
    assert.equal(store.membershipReads, 50);
  });

  it('finds a member added elsewhere (another instance) since the group was cached, and caches the fresh list', async () => {
    const { store, directory } = await withGroup(['ann']);
    assert.equal(await directory.forMember('g:team', 'bob'), undefined);
    await store.addMembers('g:team', ['bob'], Date.now());
    const found = await directory.forMember('g:team', 'bob');
    assert.deepEqual(found?.members.includes('bob'), true);
    const reads = store.conversationReads;
    assert.ok(await directory.forMember('g:team', 'bob'));
    assert.equal(store.conversationReads, reads, 'served from the refreshed cache');
  });

  it('reads an uncached conversation once for a burst of lookups, and an unknown one once per burst', async () => {
    const { store, directory } = await withGroup(['ann']);
    const found = await Promise.all(Array.from({ length: 20 }, () => directory.forMember('g:team', 'ann')));
    assert.ok(found.every((conversation) => conversation?.conversationId === 'g:team'));
    assert.equal(store.conversationReads, 1);
    const unknown = await Promise.all(Array.from({ length: 20 }, () => directory.forMember('g:made-up', 'ann')));
    assert.ok(unknown.every((conversation) => conversation === undefined));
    assert.equal(store.conversationReads, 2);
  });

  it('keeps a change it was told of over a read that began before it', async () => {
    const { store, directory } = await withGroup(['ann']);
    const stale = directory.get('g:team'); // in flight: reads the group without bob
    const change = await store.addMembers('g:team', ['bob'], Date.now());
    directory.changed(change!.conversation);
    await stale;
    assert.deepEqual((await directory.get('g:team'))?.members.includes('bob'), true);
  });
});
