// Protocol v1.1 through the SDK against the real server: conversations over HTTP (create with an
// idempotency key reused by retries, list, get, rename, members, leave), a group of three (seq order,
// receipts, typing, conversation events) and history paged backwards. Every configured store.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ChatClientError, type FetchLike } from '../../src/client/index.js';
import { peer, range, seqsIn, until, type Peer } from '../helpers/sdk-peer.js';
import { startTestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';

for (const variant of storeVariants()) {
  describe(`SDK conversations (${variant.name} store)`, { timeout: variant.name === 'memory' ? 30_000 : 120_000 }, () => {
    after(() => variant.cleanup());

    it('creates, lists, gets, renames, adds and removes members, and leaves; a retried create makes one group', async () => {
      const t = await startTestServer({ store: await variant.create() });
      // The first answer to a create is lost after the server acted on it: the SDK retries with the same key.
      let creates = 0;
      const keys: string[] = [];
      const lossy: FetchLike = async (url, init) => {
        const response = await fetch(url, init);
        if (init.method === 'POST' && url.endsWith('/api/conversations')) {
          keys.push(init.headers!['idempotency-key']!);
          if (creates++ === 0) throw new TypeError('fetch failed (answer lost)');
        }
        return response;
      };
      const ann = await peer(t, 'ann', { fetch: lossy });
      const bob = await peer(t, 'bob');
      try {
        await Promise.all([ann.client.whenReady(), bob.client.whenReady()]);
        const group = await ann.client.conversations.create({ title: 'Team', members: ['bob', 'carl'] });
        assert.equal(creates, 2, 'retried once');
        assert.equal(keys[0], keys[1], 'the retry reused the Idempotency-Key');
        assert.equal(group.kind, 'group');
        assert.equal(group.title, 'Team');
        assert.equal(group.ownerId, 'ann');
        assert.deepEqual([...group.members].sort(), ['ann', 'bob', 'carl']);
        await until([bob.client], () => bob.events.some((e) => e.conversation.conversationId === group.conversationId));

        const page = await ann.client.conversations.list({ limit: 10 });
        assert.deepEqual(page.conversations.map((c) => c.conversationId), [group.conversationId], 'one group, not two');
        assert.equal(page.next, null);
        const item = await bob.client.conversations.get(group.conversationId);
        assert.equal(item.unread, 0);
        assert.equal(item.lastMessage, null);

        assert.equal((await ann.client.conversations.rename(group.conversationId, 'Crew')).title, 'Crew');
        assert.ok((await ann.client.conversations.addMembers(group.conversationId, ['dan'])).members.includes('dan'));
        await assert.rejects(bob.client.conversations.addMembers(group.conversationId, ['eve']), (e: ChatClientError) => e.code === 'forbidden' && e.status === 403);
        await ann.client.conversations.removeMember(group.conversationId, 'dan');
        await bob.client.conversations.leave(group.conversationId);
        await assert.rejects(bob.client.conversations.get(group.conversationId), (e: ChatClientError) => e.code === 'not_found' && e.status === 404);
        const members = (await ann.client.conversations.get(group.conversationId)).members;
        assert.deepEqual([...members].sort(), ['ann', 'carl']);
        await assert.rejects(ann.client.send({ conversationId: 'g:nope' }, 'x'), (e: ChatClientError) => e.code === 'not_found');
      } finally {
        for (const p of [ann, bob]) p.client.close();
        await t.close();
      }
    });

    it('a group of three: every message reaches the other two in seq order; receipts and typing flow', async () => {
      const t = await startTestServer({ store: await variant.create() });
      const [ann, bob, carl] = (await Promise.all(['ann', 'bob', 'carl'].map((u) => peer(t, u)))) as [Peer, Peer, Peer];
      const all = [ann, bob, carl];
      try {
        await Promise.all(all.map((p) => p.client.whenReady()));
        const { conversationId } = await ann.client.conversations.create({ title: 'Three', members: ['bob', 'carl'] });
        const acks = await Promise.all([
          ...range(1, 5).map((i) => ann.client.send({ conversationId }, `ann ${i}`)),
          ...range(1, 5).map((i) => bob.client.send({ conversationId }, `bob ${i}`)),
        ]);
        assert.deepEqual(acks.map((a) => a.seq).sort((x, y) => x! - y!), range(1, 10), 'seqs 1..10');
        assert.ok(acks.every((a) => a.conversationId === conversationId));
        await until(all.map((p) => p.client), () => seqsIn(carl.inbox, conversationId).length === 10 && ann.inbox.length === 5 && bob.inbox.length === 5);
        assert.deepEqual(seqsIn(carl.inbox, conversationId), range(1, 10), 'carl: every message once, in seq order');
        assert.ok(seqsIn(ann.inbox, conversationId).every((s, i, a) => i === 0 || s > a[i - 1]!), 'ann: in seq order');
        assert.ok(ann.inbox.every((m) => m.from === 'bob') && bob.inbox.every((m) => m.from === 'ann'), 'nobody gets their own');
        // Once a replay has shown nothing is pending below (or from seq 1 on), confirmations are watermarks.
        const readies = carl.readies.length;
        carl.client.sync();
        await until([carl.client], () => carl.readies.length > readies);
        await ann.client.send({ conversationId }, 'ann 6');
        // Written on the confirmation timer, with no event to re-check on: wait on the write itself.
        await carl.network.sentFrame((f) => f.type === 'delivered' && f.conversationId === conversationId && f.seq === 11);

        assert.equal(carl.client.markRead(conversationId, 11), true);
        await until([ann.client], () => ann.receipts.some((r) => r.userId === 'carl' && r.readSeq === 11));
        assert.equal((await carl.client.conversations.get(conversationId)).readSeq, 11);

        assert.equal(bob.client.typing(conversationId), true);
        assert.equal(bob.client.typing(conversationId), false, 'throttled to one per 2 s');
        await until([ann.client, carl.client], () => ann.typing.length === 1 && carl.typing.length === 1);
        assert.deepEqual(ann.typing[0], { conversationId, userId: 'bob' });
        assert.equal(bob.network.sent.filter((f) => f.type === 'typing').length, 1);
      } finally {
        for (const p of all) p.client.close();
        await t.close();
      }
    });

    it('get() hands over every member\'s delivered and read watermarks (receipts), in a group and a direct conversation', async () => {
      const t = await startTestServer({ store: await variant.create() });
      const [ann, bob] = (await Promise.all(['ann', 'bob'].map((u) => peer(t, u)))) as [Peer, Peer];
      try {
        await Promise.all([ann, bob].map((p) => p.client.whenReady()));
        const { conversationId } = await ann.client.conversations.create({ title: 'Ticks', members: ['bob', 'carl'] });
        const direct = await ann.client.send('bob', 'direct');
        const first = await ann.client.send({ conversationId }, 'one');
        await ann.client.send({ conversationId }, 'two');
        await until([bob.client], () => seqsIn(bob.inbox, conversationId).length === 2);
        bob.client.markRead(conversationId, first.seq!);
        const bobs = () => ann.receipts.filter((r) => r.conversationId === conversationId && r.userId === 'bob');
        await until([ann.client], () => bobs().some((r) => r.readSeq === 1) && bobs().some((r) => r.deliveredSeq === 2));

        const group = await ann.client.conversations.get(conversationId);
        const byUser = Object.fromEntries((group.receipts ?? []).map((r) => [r.userId, r]));
        assert.deepEqual(Object.keys(byUser).sort(), ['ann', 'bob', 'carl'], 'every member');
        assert.deepEqual(byUser.bob, { userId: 'bob', deliveredSeq: 2, readSeq: 1 });
        assert.equal(byUser.carl!.readSeq, 0);
        assert.equal(byUser.ann!.deliveredSeq, 2, "a member's own messages count as delivered");
        const pair = await bob.client.conversations.get(direct.conversationId!);
        assert.deepEqual((pair.receipts ?? []).map((r) => r.userId).sort(), ['ann', 'bob']);
      } finally {
        for (const p of [ann, bob]) p.client.close();
        await t.close();
      }
    });

    it('history pages backwards, or forwards from `after`, each page oldest first, every message once', async () => {
      const t = await startTestServer({ store: await variant.create() });
      const ann = await peer(t, 'ann');
      try {
        await ann.client.whenReady();
        const { conversationId } = await ann.client.conversations.create({ title: 'Log', members: ['bob'] });
        for (const i of range(1, 23)) await ann.client.send({ conversationId }, `line ${i}`);
        const pages: number[][] = [];
        for await (const page of ann.client.history(conversationId, { limit: 10 })) pages.push(page.messages.map((m) => m.seq));
        assert.deepEqual(pages, [range(14, 23), range(4, 13), range(1, 3)]);
        const older: number[] = [];
        for await (const page of ann.client.history(conversationId, { before: 6, limit: 2 })) older.unshift(...page.messages.map((m) => m.seq));
        assert.deepEqual(older, range(1, 5));
        // Forwards from `after` (within `before` when given), each page oldest first.
        const forward: number[][] = [];
        for await (const page of ann.client.history(conversationId, { after: 0, limit: 10 })) forward.push(page.messages.map((m) => m.seq));
        assert.deepEqual(forward, [range(1, 10), range(11, 20), range(21, 23)]);
        const gap: number[] = [];
        for await (const page of ann.client.history(conversationId, { after: 5, before: 12, limit: 4 })) gap.push(...page.messages.map((m) => m.seq));
        assert.deepEqual(gap, range(6, 11));
        const direct = await ann.client.send('bob', 'hi bob');
        const list = await ann.client.conversations.list();
        assert.equal(list.conversations[0]!.conversationId, direct.conversationId, 'most recent activity first');
        assert.equal(list.conversations[0]!.peer, 'bob');
      } finally {
        ann.client.close();
        await t.close();
      }
    });
  });
}
