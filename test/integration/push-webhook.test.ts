// The offline-push webhook end to end, on every store: the real server on port 0, real WebSocket
// clients, and a real HTTP receiver (node:http on port 0) standing in for the push gateway.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pushNotificationId } from '../../src/push/notification.js';
import { verifySignature } from '../../src/push/signature.js';
import { PushReceiver } from '../helpers/push-receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';
import { metricValue } from '../reliability/metric-value.js';

const SECRET = 'push-test-secret-0123456789abcdef';
const AFTER_MS = 1000;
let n = 0;
const id = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${n++}`;

for (const variant of storeVariants()) {
  describe(`offline push webhook (${variant.name} store)`, () => {
    let t: TestServer;
    let receiver: PushReceiver;
    before(async () => {
      receiver = await PushReceiver.start();
      t = await startTestServer({
        store: await variant.create(),
        env: {
          PUSH_WEBHOOK_URL: receiver.url,
          PUSH_WEBHOOK_SECRET: SECRET,
          PUSH_AFTER_MS: String(AFTER_MS),
          PUSH_SWEEP_MS: '50',
          PUSH_PREVIEW_CHARS: '5',
          PUSH_COALESCE_MS: '60000',
          PUSH_RETRY_BASE_MS: '100',
          PUSH_RETRY_MAX_MS: '800',
          PUSH_TIMEOUT_MS: '3000',
          PUSH_LEASE_MS: '10000',
          PUSH_MAX_AGE_MS: '120000',
        },
      });
    });
    after(async () => {
      await t.close();
      await receiver.close();
      await variant.cleanup();
    });

    const sender = async (userId = id('alice')) => (await TestClient.connectReady(t.wsUrl, await t.token(userId))).client;
    const send = async (client: TestClient, to: string, body: string): Promise<Frame> => {
      const ack = await client.sendMessage(id('m'), to, body);
      assert.equal(ack.status, 'SENT', JSON.stringify(ack));
      return ack;
    };
    /** A push to a fresh offline user, sent after everything before it: once it arrives, the sweep has passed what came before. */
    const marker = async (client: TestClient) => {
      const carol = id('carol');
      await send(client, carol, 'marker');
      await receiver.until(() => receiver.for(carol).some((p) => p.status === 200), 15_000, 'the marker push');
    };

    it('pushes once for a burst to an offline recipient: signed, newest message, preview cut, no body beyond it', async () => {
      const aliceId = id('alice');
      const alice = await sender(aliceId);
      const bob = id('bob');
      const first = await send(alice, bob, 'first');
      await send(alice, bob, 'second');
      const last = await send(alice, bob, '👋🏽héllo and the rest of it');
      await receiver.until(() => receiver.for(bob).length > 0, 15_000, "bob's push");
      const [push] = receiver.for(bob);
      assert.ok(push!.signature, 'X-Chat-Signature is sent');
      assert.match(push!.signature!, /^t=\d+,v1=[0-9a-f]{64}$/);
      assert.equal(verifySignature(push!.signature, push!.raw, SECRET), true);
      assert.equal(verifySignature(push!.signature, push!.raw.replace('bob', 'bxb'), SECRET), false, 'a changed body fails');
      assert.equal(verifySignature(push!.signature, push!.raw, 'another-secret'), false, 'another secret fails');
      // One notification, about the newest message: its id is the one of the message the sweep found
      // newest (the burst may straddle two sweeps), its content the newest message's at the POST.
      const ids = [1, 2, 3].map((seq) => pushNotificationId(bob, String(last.conversationId), seq));
      assert.ok(ids.includes(push!.payload.id), 'a deterministic id');
      assert.deepEqual(push!.payload, {
        id: push!.payload.id,
        userId: bob,
        conversationId: last.conversationId,
        messageId: last.messageId,
        from: aliceId,
        preview: '👋🏽hél',
        ts: last.ts,
      });
      assert.ok(push!.at - Number(first.ts) >= AFTER_MS, 'not before PUSH_AFTER_MS after the oldest undelivered message');
      await marker(alice);
      assert.equal(receiver.for(bob).length, 1, 'one push for the burst');
      await alice.close();
    });

    it('a recipient who connects and confirms within PUSH_AFTER_MS gets no push', async () => {
      const alice = await sender();
      const bob = id('bob');
      const ack = await send(alice, bob, 'are you there?');
      const { client: b, replayed } = await TestClient.connectReady(t.wsUrl, await t.token(bob));
      assert.deepEqual(replayed.map((f) => f.messageId), [ack.messageId]);
      b.send({ type: 'delivered', messageIds: [ack.messageId] });
      await alice.next((f) => f.type === 'ack' && f.status === 'DELIVERED' && f.messageId === ack.messageId);
      const confirmedAfterMs = Date.now() - Number(ack.ts);
      assert.ok(confirmedAfterMs < AFTER_MS, `the test needs the confirmation within PUSH_AFTER_MS (took ${confirmedAfterMs} ms)`);
      await marker(alice);
      assert.deepEqual(receiver.for(bob), [], 'no push for a delivered message');
      await Promise.all([alice.close(), b.close()]);
    });

    it('an edit or a delete is not pushed, and a message deleted before its push is not pushed', async () => {
      const alice = await sender();
      const bob = id('bob');
      const seen = await send(alice, bob, 'seen in time');
      const { client: b } = await TestClient.connectReady(t.wsUrl, await t.token(bob));
      b.send({ type: 'delivered', messageIds: [seen.messageId] });
      await alice.next((f) => f.type === 'ack' && f.status === 'DELIVERED' && f.messageId === seen.messageId);
      await b.close();
      // Bob is offline when the edit comes: the event waits for his device, but it is no news to push.
      alice.send({ type: 'edit', messageId: seen.messageId, editId: id('e'), body: 'seen in time, edited' });
      await alice.next((f) => f.type === 'ack' && f.status === 'EDITED');
      // Carol is offline and the message is deleted before PUSH_AFTER_MS: nothing to push.
      const carol = id('carol');
      const gone = await send(alice, carol, 'never mind');
      alice.send({ type: 'delete', messageId: gone.messageId });
      await alice.next((f) => f.type === 'ack' && f.status === 'DELETED');
      await marker(alice);
      assert.deepEqual(receiver.for(bob), [], 'no push for an edit');
      assert.deepEqual(receiver.for(carol), [], 'no push for a deleted message');
      await alice.close();
    });

    it('deleting a newer message still pushes the older live one still undelivered', async () => {
      const alice = await sender();
      const bob = id('bob');
      const live = await send(alice, bob, 'first, live and unread');
      const gone = await send(alice, bob, 'oops');
      alice.send({ type: 'delete', messageId: gone.messageId });
      await alice.next((f) => f.type === 'ack' && f.status === 'DELETED');
      await receiver.until(() => receiver.for(bob).length > 0, 15_000, "bob's push about the live message");
      assert.equal(receiver.for(bob)[0]!.payload.messageId, live.messageId, 'about the newest live message, not the tombstone');
      await alice.close();
    });

    it('a message delivered while its push is failing is not pushed again (re-checked before each attempt)', async () => {
      const alice = await sender();
      const bob = id('bob');
      let release: (status: number) => void = () => {};
      const previous = receiver.answer;
      // Bob's first POST is held open (in flight), then answered 500: the retry must see the delivery.
      receiver.answer = (push) => (push.payload.userId === bob ? new Promise<number>((resolve) => (release = resolve)) : previous(push));
      const ack = await send(alice, bob, 'ping');
      await receiver.until(() => receiver.for(bob).length === 1, 15_000, "bob's first attempt");
      const { client: b } = await TestClient.connectReady(t.wsUrl, await t.token(bob));
      b.send({ type: 'delivered', messageIds: [ack.messageId] });
      await alice.next((f) => f.type === 'ack' && f.status === 'DELIVERED' && f.messageId === ack.messageId);
      const droppedBefore = await metricValue(t.server.metrics.pushDropped, { reason: 'delivered' });
      release(500);
      const pushId = pushNotificationId(bob, String(ack.conversationId), Number(ack.seq));
      await pollUntil(async () => (await t.store.push.get(pushId))?.status === 'dropped', 15_000, 'the notification dropped');
      const row = await t.store.push.get(pushId);
      assert.deepEqual([row?.status, row?.reason, row?.attempts], ['dropped', 'delivered', 1]);
      assert.equal(receiver.for(bob).length, 1, 'no POST after the delivery');
      assert.equal(await metricValue(t.server.metrics.pushDropped, { reason: 'delivered' }), droppedBefore + 1);
      receiver.answer = previous;
      await Promise.all([alice.close(), b.close()]);
    });

    it('survives the receiver failing for 5 s: nothing lost, each id received at least once', async () => {
      const alice = await sender();
      const users = Array.from({ length: 5 }, () => id('dave'));
      const failedBefore = await metricValue(t.server.metrics.pushFailed, { reason: 'status' });
      const retriedBefore = await metricValue(t.server.metrics.pushRetried);
      let failingUntil: number | undefined;
      const previous = receiver.answer;
      receiver.answer = (push) => {
        if (!users.includes(push.payload.userId)) return previous(push);
        failingUntil ??= Date.now() + 5000;
        return Date.now() < failingUntil ? 500 : 200;
      };
      const expected = new Map<string, string>();
      for (const user of users) {
        const ack = await send(alice, user, `hello ${user}`);
        expected.set(pushNotificationId(user, String(ack.conversationId), Number(ack.seq)), user);
      }
      const started = Date.now();
      await receiver.until(() => [...expected.keys()].every((pushId) => receiver.received.some((p) => p.payload.id === pushId && p.status === 200)), 30_000, 'every id accepted');
      const ids = new Set(receiver.received.filter((p) => users.includes(p.payload.userId)).map((p) => p.payload.id));
      assert.deepEqual([...ids].sort(), [...expected.keys()].sort(), 'only the expected ids, each at least once');
      assert.ok(receiver.received.some((p) => users.includes(p.payload.userId) && p.status === 500), 'the receiver did fail');
      assert.ok((await metricValue(t.server.metrics.pushFailed, { reason: 'status' })) > failedBefore);
      assert.ok((await metricValue(t.server.metrics.pushRetried)) > retriedBefore);
      assert.equal(await metricValue(t.server.metrics.pushDropped, { reason: 'expired' }), 0);
      // The receiver answered 200; the server records it once the answer reaches it.
      const statuses = async () => Promise.all([...expected.keys()].map(async (pushId) => (await t.store.push.get(pushId))?.status));
      await pollUntil(async () => (await statuses()).every((status) => status === 'sent'), 15_000, 'every notification recorded as sent');
      const attempts = receiver.received.filter((p) => users.includes(p.payload.userId)).length;
      console.log(`# push outage: ${attempts} POSTs for ${expected.size} notifications; all accepted ${Date.now() - started} ms after the last send`);
      receiver.answer = previous;
      await alice.close();
    });
  });
}

async function pollUntil(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
