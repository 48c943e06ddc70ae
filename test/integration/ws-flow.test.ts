// The WebSocket door end to end: send → SENT ack (DB-first) → live message → delivered → DELIVERED ack,
// duplicates, conflicts, replay order, live-during-replay, multi-connection users. Runs on every store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';
import { TestClient } from '../helpers/ws-client.js';

let seq = 0;
const id = (prefix = 'm') => `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`;

for (const variant of storeVariants()) {
  describe(`WebSocket chat flow (${variant.name} store)`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ store: await variant.create() });
    });
    after(async () => {
      await t.close();
      await variant.cleanup();
    });

    it('acks SENT only after storing, delivers live, and acks DELIVERED once on confirmation', async () => {
      const alice = id('alice');
      const bob = id('bob');
      const { client: a } = await TestClient.connectReady(t.wsUrl, await t.token(alice));
      const { client: b, replayed } = await TestClient.connectReady(t.wsUrl, await t.token(bob));
      assert.equal(replayed.length, 0);
      const messageId = id();
      const ack = await a.sendMessage(messageId, bob, 'hi bob');
      assert.equal(ack.type, 'ack');
      assert.equal(ack.status, 'SENT');
      assert.equal(ack.duplicate, false);
      assert.equal(typeof ack.ts, 'number');
      // DB-first: by the time the ack is seen the message is in the store.
      assert.equal((await t.store.getMessage(messageId))?.body, 'hi bob');
      const message = await b.next((f) => f.type === 'message');
      // v1's fields unchanged; v1.1 adds the conversation and its seq (the same as on the SENT ack).
      assert.deepEqual(message, { type: 'message', messageId, from: alice, to: bob, body: 'hi bob', ts: ack.ts, conversationId: ack.conversationId, seq: ack.seq });
      assert.equal(ack.seq, 1);
      b.send({ type: 'delivered', messageIds: [messageId] });
      const delivered = await a.next((f) => f.type === 'ack' && f.status === 'DELIVERED');
      assert.deepEqual(delivered, { type: 'ack', status: 'DELIVERED', messageId });
      // A second confirmation is a no-op: no second DELIVERED ack.
      b.send({ type: 'delivered', messageIds: [messageId] });
      b.send({ type: 'sync' });
      assert.deepEqual(await b.next((f) => f.type === 'ready'), { type: 'ready', replayed: 0 });
      assert.equal(a.frames.filter((f) => f.status === 'DELIVERED').length, 1);
      assert.equal((await t.store.deliveryState(messageId, bob))?.marks, 1);
      await Promise.all([a.close(), b.close()]);
    });

    it('answers a retried send with the original ts and duplicate:true, storing nothing new', async () => {
      const bob = id('bob');
      const { client: a } = await TestClient.connectReady(t.wsUrl, await t.token(id('alice')));
      const messageId = id();
      const first = await a.sendMessage(messageId, bob, 'once');
      const before = await t.store.counts();
      const second = await a.sendMessage(messageId, bob, 'once');
      assert.equal(second.duplicate, true);
      assert.equal(second.ts, first.ts);
      assert.deepEqual(await t.store.counts(), before);
      await a.close();
    });

    it('refuses a messageId reused with another body or recipient (conflict) and keeps the stored one', async () => {
      const bob = id('bob');
      const { client: a } = await TestClient.connectReady(t.wsUrl, await t.token(id('alice')));
      const messageId = id();
      await a.sendMessage(messageId, bob, 'original');
      const conflict = await a.sendMessage(messageId, bob, 'changed');
      assert.equal(conflict.type, 'error');
      assert.equal(conflict.code, 'conflict');
      assert.equal((await a.sendMessage(messageId, id('carol'), 'original')).code, 'conflict');
      assert.equal((await t.store.getMessage(messageId))?.body, 'original');
      // The connection stays open and usable.
      assert.equal((await a.sendMessage(id(), bob, 'still works')).status, 'SENT');
      await a.close();
    });

    it('replays pending messages on connect in accept order, then ready', async () => {
      const bob = id('bob');
      const { client: a } = await TestClient.connectReady(t.wsUrl, await t.token(id('alice')));
      // Pipelined sends with ids in reverse lexicographic order: replay must follow accept order.
      const ids = Array.from({ length: 20 }, (_, i) => `z${String(99 - i).padStart(2, '0')}-${id()}`);
      for (const [i, messageId] of ids.entries()) a.send({ type: 'send', messageId, to: bob, body: `n${i}` });
      await a.next((f) => f.messageId === ids[ids.length - 1] && f.status === 'SENT');
      const { client: b, replayed } = await TestClient.connectReady(t.wsUrl, await t.token(bob));
      assert.deepEqual(replayed.map((f) => f.messageId), ids);
      assert.deepEqual(replayed.map((f) => f.body), ids.map((_, i) => `n${i}`));
      assert.deepEqual(b.frames.at(-1), { type: 'ready', replayed: 20 });
      await Promise.all([a.close(), b.close()]);
    });

    it('replays an unconfirmed message again on reconnect and on sync, never after confirmation', async () => {
      const bob = id('bob');
      const { client: a } = await TestClient.connectReady(t.wsUrl, await t.token(id('alice')));
      const messageId = id();
      await a.sendMessage(messageId, bob, 'replay me');
      const bobToken = await t.token(bob);
      const first = await TestClient.connectReady(t.wsUrl, bobToken);
      assert.deepEqual(first.replayed.map((f) => f.messageId), [messageId]);
      first.client.send({ type: 'sync' });
      await first.client.next((f) => f.type === 'ready');
      assert.equal(first.client.frames.filter((f) => f.type === 'message').length, 2);
      await first.client.close();
      const second = await TestClient.connectReady(t.wsUrl, bobToken);
      assert.deepEqual(second.replayed.map((f) => f.messageId), [messageId]);
      second.client.send({ type: 'delivered', messageIds: [messageId] });
      await a.next((f) => f.status === 'DELIVERED');
      await second.client.close();
      const third = await TestClient.connectReady(t.wsUrl, bobToken);
      assert.equal(third.replayed.length, 0);
      await Promise.all([a.close(), third.client.close()]);
    });

    it('delivers live messages to every connection of a user; a confirmation from one counts for the user', async () => {
      const bob = id('bob');
      const { client: a } = await TestClient.connectReady(t.wsUrl, await t.token(id('alice')));
      const bobToken = await t.token(bob);
      const { client: phone } = await TestClient.connectReady(t.wsUrl, bobToken);
      const { client: laptop } = await TestClient.connectReady(t.wsUrl, bobToken);
      const messageId = id();
      await a.sendMessage(messageId, bob, 'to both');
      await phone.next((f) => f.messageId === messageId);
      await laptop.next((f) => f.messageId === messageId);
      phone.send({ type: 'delivered', messageIds: [messageId] });
      laptop.send({ type: 'delivered', messageIds: [messageId] });
      await a.next((f) => f.status === 'DELIVERED');
      laptop.send({ type: 'sync' });
      assert.deepEqual(await laptop.next((f) => f.type === 'ready'), { type: 'ready', replayed: 0 });
      assert.equal(a.frames.filter((f) => f.status === 'DELIVERED').length, 1);
      await Promise.all([a.close(), phone.close(), laptop.close()]);
    });

    it('sends DELIVERED acks to all of the sender’s open connections', async () => {
      const alice = id('alice');
      const bob = id('bob');
      const aliceToken = await t.token(alice);
      const { client: a1 } = await TestClient.connectReady(t.wsUrl, aliceToken);
      const { client: a2 } = await TestClient.connectReady(t.wsUrl, aliceToken);
      const { client: b } = await TestClient.connectReady(t.wsUrl, await t.token(bob));
      const messageId = id();
      await a1.sendMessage(messageId, bob, 'x');
      await b.next((f) => f.messageId === messageId);
      b.send({ type: 'delivered', messageIds: [messageId] });
      await a1.next((f) => f.status === 'DELIVERED');
      await a2.next((f) => f.status === 'DELIVERED');
      await Promise.all([a1.close(), a2.close(), b.close()]);
    });

    it('never lets live messages jump ahead of replayed ones', async () => {
      const bob = id('bob');
      const { client: a } = await TestClient.connectReady(t.wsUrl, await t.token(id('alice')));
      const backlog = Array.from({ length: 300 }, () => id('old'));
      for (const messageId of backlog) a.send({ type: 'send', messageId, to: bob, body: 'old' });
      await a.next((f) => f.messageId === backlog.at(-1) && f.status === 'SENT', 15_000);
      // Bob connects while Alice keeps sending: everything arrives once, old before new, in accept order.
      const bobClient = TestClient.connect(t.wsUrl, { token: await t.token(bob) });
      const live = Array.from({ length: 50 }, () => id('new'));
      for (const messageId of live) a.send({ type: 'send', messageId, to: bob, body: 'new' });
      const b = await bobClient;
      await a.next((f) => f.messageId === live.at(-1) && f.status === 'SENT', 15_000);
      await b.next((f) => f.type === 'ready', 15_000);
      // Wait until every live message arrived (some may come after ready).
      const all = [...backlog, ...live];
      while (b.frames.filter((f) => f.type === 'message').length < all.length) await b.next((f) => f.type === 'message');
      const got = b.frames.filter((f) => f.type === 'message').map((f) => f.messageId);
      assert.deepEqual(got, all);
      await Promise.all([a.close(), b.close()]);
    });
  });
}
