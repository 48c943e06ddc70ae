// Two devices of one user through the SDK (protocol v1.1 delivers per device): a message from one
// device shows on the other, what came while a device was closed arrives when it reopens, and a read
// on one device reaches the other as a receipt. Read marks are coalesced and written again after a
// reconnect; a seq hole that a replay does not fill becomes a `gap`. Every configured store.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { peer, range, seqsIn, settle, until } from '../helpers/sdk-peer.js';
import { startTestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';

for (const variant of storeVariants()) {
  describe(`SDK devices, read marks and gaps (${variant.name} store)`, { timeout: variant.name === 'memory' ? 30_000 : 120_000 }, () => {
    after(() => variant.cleanup());

    it('two devices of one user: sends show on the other device, a closed device catches up, reads reach both', async () => {
      const t = await startTestServer({ store: await variant.create() });
      const phone = await peer(t, 'ann', { device: 'phone' });
      let laptop = await peer(t, 'ann', { device: 'laptop' });
      const bob = await peer(t, 'bob');
      try {
        await Promise.all([phone.client.whenReady(), laptop.client.whenReady(), bob.client.whenReady()]);
        assert.equal(phone.client.deviceId, 'phone');
        assert.ok(phone.network.sockets[0]!.ws.url.includes('device=phone'));
        const first = await bob.client.send('ann', 'to both devices');
        await until([phone.client, laptop.client], () => phone.inbox.length === 1 && laptop.inbox.length === 1);

        const mine = await phone.client.send('bob', 'from the phone');
        await until([laptop.client, bob.client], () => laptop.inbox.length === 2 && bob.inbox.length === 1);
        assert.equal(laptop.inbox[1]!.messageId, mine.messageId, 'the other device shows it');
        assert.equal(laptop.inbox[1]!.from, 'ann');
        assert.equal(phone.inbox.length, 1, 'the sending device does not get it back');

        await settle(laptop); // its confirmations are in: a new run of it is sent only what comes next
        laptop.client.close();
        const missed = [];
        for (const i of range(1, 3)) missed.push(await bob.client.send('ann', `while the laptop was closed ${i}`));
        await until([phone.client], () => phone.inbox.length === 4);
        laptop = await peer(t, 'ann', { device: 'laptop' });
        await until([laptop.client], () => laptop.inbox.length === 3);
        assert.deepEqual(laptop.inbox.map((m) => m.messageId), missed.map((a) => a.messageId), 'replayed on reopening, in order');
        assert.deepEqual(seqsIn(laptop.inbox, first.conversationId!), [3, 4, 5]);

        assert.equal(phone.client.markRead(first.conversationId!, 5), true);
        await until([laptop.client], () => laptop.receipts.some((r) => r.userId === 'ann' && r.readSeq === 5));
        assert.equal((await laptop.client.conversations.get(first.conversationId!)).unread, 0);
      } finally {
        for (const p of [phone, laptop, bob]) p.client.close();
        await t.close();
      }
    });

    it('markRead: coalesced (the latest wins), never back, written again after a reconnect until a receipt acknowledges it', async () => {
      const t = await startTestServer({ store: await variant.create() });
      const ann = await peer(t, 'ann');
      const bob = await peer(t, 'bob');
      try {
        await Promise.all([ann.client.whenReady(), bob.client.whenReady()]);
        const acks = [];
        for (const i of range(1, 6)) acks.push(await bob.client.send('ann', `m${i}`));
        const conversationId = acks[0]!.conversationId!;
        await until([ann.client], () => ann.inbox.length === 6);
        for (const seq of [1, 2, 3]) ann.client.markRead(conversationId, seq);
        await until([bob.client], () => bob.receipts.some((r) => r.readSeq === 3));
        assert.deepEqual(ann.network.sent.filter((f) => f.type === 'read').map((f) => f.seq), [3], 'one frame, the latest');
        assert.equal(ann.client.markRead(conversationId, 2), false, 'never moves back');

        // The read frame is lost with its connection: the new socket writes it again.
        ann.network.drop('out', (f) => f.type === 'read', { then: 'kill' });
        ann.client.markRead(conversationId, 6);
        await until([bob.client], () => bob.receipts.some((r) => r.readSeq === 6));
        assert.deepEqual(ann.network.sent.filter((f) => f.type === 'read').map((f) => f.seq), [3, 6, 6]);
        assert.ok(ann.network.sockets.length >= 2);
        assert.equal((await ann.client.conversations.get(conversationId)).readSeq, 6);
        // Acknowledged: another reconnect writes nothing more.
        const readies = ann.readies.length;
        ann.client.reconnect();
        await until([ann.client], () => ann.readies.length > readies);
        assert.equal(ann.network.sent.filter((f) => f.type === 'read').length, 3);
      } finally {
        for (const p of [ann, bob]) p.client.close();
        await t.close();
      }
    });

    it('a seq hole that replay does not fill is a gap; the messages after it still come, in order', async () => {
      const t = await startTestServer({ store: await variant.create() });
      const bob = await peer(t, 'bob');
      // Ann's first run on this device confirms only m2, by hand: her next run is never sent m2 again.
      const first = await peer(t, 'ann', { device: 'tablet', autoConfirm: false });
      try {
        await Promise.all([bob.client.whenReady(), first.client.whenReady()]);
        const delivered: string[] = [];
        bob.client.on('delivered', ({ messageId }) => delivered.push(messageId));
        const acks: Awaited<ReturnType<typeof bob.client.send>>[] = [];
        for (const i of range(1, 3)) acks.push(await bob.client.send('ann', `m${i}`));
        await until([first.client], () => first.inbox.length === 3);
        first.client.confirm(acks[1]!.messageId);
        await until([bob.client], () => delivered.includes(acks[1]!.messageId));
        // m1 is not delivered yet: the watermark has a gap below m2, so no receipt shows a tick up to m2.
        assert.equal(bob.receipts.some((r) => r.deliveredSeq !== undefined), false, JSON.stringify(bob.receipts));
        first.client.close();

        const again = await peer(t, 'ann', { device: 'tablet' });
        try {
          await until([again.client], () => again.gaps.length === 1 && again.inbox.length === 2);
          const conversationId = acks[0]!.conversationId!;
          assert.deepEqual(again.gaps, [{ conversationId, fromSeq: 2, toSeq: 2 }]);
          assert.deepEqual(seqsIn(again.inbox, conversationId), [1, 3], 'in order, once each, past the gap');
          const later = await bob.client.send('ann', 'm4');
          await until([again.client], () => again.inbox.length === 3);
          assert.equal(again.inbox[2]!.messageId, later.messageId);
        } finally {
          again.client.close();
        }
      } finally {
        for (const p of [bob, first]) p.client.close();
        await t.close();
      }
    });

    it('a member removed and added back sees a seq jump: the replay does not fill it, so it is a gap', async () => {
      const t = await startTestServer({ store: await variant.create() });
      const ann = await peer(t, 'ann');
      const bob = await peer(t, 'bob');
      try {
        await Promise.all([ann.client.whenReady(), bob.client.whenReady()]);
        const { conversationId } = await ann.client.conversations.create({ title: 'Door', members: ['bob'] });
        await ann.client.send({ conversationId }, 'before');
        await until([bob.client], () => bob.inbox.length === 1);
        await ann.client.conversations.removeMember(conversationId, 'bob');
        await ann.client.send({ conversationId }, 'while bob was out 1');
        await ann.client.send({ conversationId }, 'while bob was out 2');
        await ann.client.conversations.addMembers(conversationId, ['bob']);
        await ann.client.send({ conversationId }, 'after');
        await until([bob.client], () => bob.gaps.length === 1 && bob.inbox.length === 2);
        assert.deepEqual(bob.gaps, [{ conversationId, fromSeq: 2, toSeq: 3 }]);
        assert.deepEqual(seqsIn(bob.inbox, conversationId), [1, 4]);
        const older: number[] = [];
        for await (const page of bob.client.history(conversationId, { before: 4 })) older.unshift(...page.messages.map((m) => m.seq));
        assert.deepEqual(older, [1, 2, 3], 'the gap is there in history');
      } finally {
        for (const p of [ann, bob]) p.client.close();
        await t.close();
      }
    });
  });
}
