// Per-device delivery (protocol v1.1) over real sockets: a user's devices each get every message until
// that device confirms it; the sending device never gets its own message, the sender's other devices
// do; the v1 DELIVERED ack fires once, at the recipient's first confirming device; a v1 client is
// device `default`; a new device gets what no device of its user confirmed. Runs on every store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { barrier, connectDevice, createGroup, deliveredAcks, deviceUrl, isDeliveredAck, messagesOf, sendTo, settle, uid } from '../helpers/conversations.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';
import { upgradeStatus, type TestClient } from '../helpers/ws-client.js';

for (const variant of storeVariants()) {
  describe(`per-device delivery (${variant.name} store)`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ store: await variant.create() });
    });
    after(async () => {
      await t.close();
      await variant.cleanup();
    });

    it('b1 confirming leaves b2 pending (live and replay); after b2 confirms neither is replayed it; DELIVERED once', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await connectDevice(t, alice, 'a1');
      const { client: b1 } = await connectDevice(t, bob, 'b1');
      const { client: b2 } = await connectDevice(t, bob, 'b2');
      const messageId = uid('m');
      const ack = await a.sendMessage(messageId, bob, 'to both devices');
      assert.equal(ack.status, 'SENT');
      assert.equal(ack.seq, 1);
      assert.equal(typeof ack.conversationId, 'string');
      const expected = { type: 'message', messageId, from: alice, to: bob, body: 'to both devices', ts: ack.ts, conversationId: ack.conversationId, seq: 1 };
      assert.deepEqual(await b1.next((f) => f.messageId === messageId), expected);
      assert.deepEqual(await b2.next((f) => f.messageId === messageId), expected);

      b1.send({ type: 'delivered', messageIds: [messageId] });
      assert.deepEqual(await a.next((f) => f.status === 'DELIVERED'), { type: 'ack', status: 'DELIVERED', messageId });

      // b2 did not confirm: it is replayed the message on reconnect; b1 is not.
      await b2.close();
      await b1.close();
      const b2again = await connectDevice(t, bob, 'b2');
      assert.deepEqual(b2again.replayed.map((f) => f.messageId), [messageId]);
      assert.deepEqual(b2again.replayed[0], expected);
      const b1again = await connectDevice(t, bob, 'b1');
      assert.equal(b1again.replayed.length, 0);

      // b2 confirms: no second DELIVERED ack, and neither device is replayed it again.
      b2again.client.send({ type: 'delivered', messageIds: [messageId] });
      await settle(b2again.client, a);
      assert.equal(deliveredAcks(a, messageId).length, 1);
      await Promise.all([b2again.client.close(), b1again.client.close()]);
      for (const device of ['b1', 'b2']) {
        const again = await connectDevice(t, bob, device);
        assert.equal(again.replayed.length, 0, `device ${device} replayed a confirmed message`);
        await again.client.close();
      }
      await settle(a);
      assert.equal(deliveredAcks(a, messageId).length, 1);
      await a.close();
    });

    it('the sender’s other device gets the sender’s own message once; the sending device never', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a1 } = await connectDevice(t, alice, 'a1');
      const { client: a2 } = await connectDevice(t, alice, 'a2');
      const { client: b } = await connectDevice(t, bob, 'b1');
      const messageId = uid('m');
      const ack = await a1.sendMessage(messageId, bob, 'mine');
      const onA2 = await a2.next((f) => f.type === 'message' && f.messageId === messageId);
      assert.deepEqual(onA2, { type: 'message', messageId, from: alice, to: bob, body: 'mine', ts: ack.ts, conversationId: ack.conversationId, seq: ack.seq });
      await b.next((f) => f.messageId === messageId);
      // A later message proves the first was not sent to a1 (same conversation, delivered in order).
      const later = uid('m');
      await a1.sendMessage(later, bob, 'later');
      await a2.next((f) => f.type === 'message' && f.messageId === later);
      await settle(a1, a2);
      assert.equal(messagesOf(a1, messageId).length, 0, 'the sending device got its own message');
      assert.equal(messagesOf(a2, messageId).length, 1);

      // a2 confirming its copy is not the recipient's delivery: no DELIVERED ack to Alice.
      a2.send({ type: 'delivered', messageIds: [messageId, later] });
      await settle(a1, a2);
      assert.equal(deliveredAcks(a1).length, 0, 'the sender’s own device confirming produced a DELIVERED ack');
      // The sending device reconnecting is not replayed its own messages; a2, having confirmed, neither.
      await Promise.all([a1.close(), a2.close()]);
      const a1again = await connectDevice(t, alice, 'a1');
      assert.deepEqual(a1again.replayed, []);
      const a2again = await connectDevice(t, alice, 'a2');
      assert.deepEqual(a2again.replayed, []);
      // Bob confirms: Alice's devices get DELIVERED exactly once each.
      b.send({ type: 'delivered', messageIds: [messageId] });
      await a1again.client.next((f) => f.status === 'DELIVERED' && f.messageId === messageId);
      await a2again.client.next((f) => f.status === 'DELIVERED' && f.messageId === messageId);
      await settle(a1again.client, a2again.client);
      assert.equal(deliveredAcks(a1again.client, messageId).length, 1);
      assert.equal(deliveredAcks(a2again.client, messageId).length, 1);
      await Promise.all([a1again.client.close(), a2again.client.close(), b.close()]);
    });

    it('an unconfirmed own message is replayed to the sender’s other (known) device, not to the sending one', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a1 } = await connectDevice(t, alice, 'a1');
      // a2 is a known device (it confirmed something before), now offline.
      const first = uid('m');
      const firstAck = await a1.sendMessage(first, bob, 'before');
      const known = await connectDevice(t, alice, 'a2');
      known.client.send({ type: 'delivered', conversationId: firstAck.conversationId, seq: 1 });
      await settle(known.client);
      await known.client.close();
      const messageId = uid('m');
      await a1.sendMessage(messageId, bob, 'while a2 was away');
      const a2 = await connectDevice(t, alice, 'a2');
      assert.deepEqual(a2.replayed.map((f) => f.messageId), [messageId]);
      await a1.close();
      const a1again = await connectDevice(t, alice, 'a1');
      assert.deepEqual(a1again.replayed, []);
      await Promise.all([a1again.client.close(), a2.client.close()]);
    });

    it('a v1 client (no device) is device `default`', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await connectDevice(t, alice);
      const m1 = uid('m');
      const ack = await a.sendMessage(m1, bob, 'v1');
      // A confirmation from the device-less connection is a confirmation by `default`.
      const v1 = await connectDevice(t, bob);
      assert.deepEqual(v1.replayed.map((f) => f.messageId), [m1]);
      assert.deepEqual(v1.replayed[0], { type: 'message', messageId: m1, from: alice, to: bob, body: 'v1', ts: ack.ts, conversationId: ack.conversationId, seq: 1 });
      v1.client.send({ type: 'delivered', messageIds: [m1] });
      await a.next((f) => f.status === 'DELIVERED' && f.messageId === m1);
      await v1.client.close();
      const asDefault = await connectDevice(t, bob, 'default');
      assert.deepEqual(asDefault.replayed, [], '?device=default is the same device as no device');
      const other = await connectDevice(t, bob, 'other');
      assert.deepEqual(other.replayed, []);
      // And the other way round: confirmed by ?device=default, not replayed to the v1 connection.
      const m2 = uid('m');
      await a.sendMessage(m2, bob, 'second');
      await asDefault.client.next((f) => f.messageId === m2);
      asDefault.client.send({ type: 'delivered', messageIds: [m2] });
      await a.next((f) => f.status === 'DELIVERED' && f.messageId === m2);
      await asDefault.client.close();
      const v1again = await connectDevice(t, bob);
      assert.deepEqual(v1again.replayed, []);
      // The sender's device-less connection is `default` too: its own message is not sent back to a
      // second device-less connection of the same user, nor replayed to it.
      const aliceV1 = await connectDevice(t, alice, 'default');
      assert.deepEqual(aliceV1.replayed, []);
      const m3 = uid('m');
      await a.sendMessage(m3, bob, 'third');
      await v1again.client.next((f) => f.messageId === m3);
      await settle(aliceV1.client);
      assert.equal(messagesOf(aliceV1.client, m3).length, 0);
      await Promise.all([a.close(), other.client.close(), v1again.client.close(), aliceV1.client.close()]);
    });

    it('a v1 client is sent no group message (they carry no `to`); they wait for its device, which gets them once it names itself', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const { client: a } = await connectDevice(t, alice, 'a1');
      const v1 = await connectDevice(t, bob);
      const group = await createGroup(t, alice, [bob]);
      assert.equal(group.status, 201);
      const conversationId = (group.body as { conversationId: string }).conversationId;
      const [inGroup, direct] = [uid('m'), uid('m')];
      await sendTo(a, conversationId, inGroup, 'to the group');
      await a.sendMessage(direct, bob, 'to bob');
      await v1.client.next((f) => f.messageId === direct);
      await settle(v1.client);
      assert.deepEqual(v1.client.frames.filter((f) => f.type === 'message').map((f) => f.messageId), [direct], 'live: the direct message only');
      v1.client.send({ type: 'delivered', messageIds: [direct] });
      await a.next((f) => f.status === 'DELIVERED' && f.messageId === direct);
      await v1.client.close();
      const again = await connectDevice(t, bob);
      assert.deepEqual(again.replayed, [], 'nor replayed to it');
      await again.client.close();
      // The same device, named: its group message was kept pending for it.
      const named = await connectDevice(t, bob, 'default');
      assert.deepEqual(named.replayed.map((f) => [f.messageId, f.conversationId, f.to]), [[inGroup, conversationId, undefined]]);
      await Promise.all([a.close(), named.client.close()]);
    });

    it('refuses an invalid device id, or a parameter given twice, with HTTP 400 at the upgrade', async () => {
      const token = await t.token(uid('user'));
      assert.equal(await upgradeStatus(`${t.wsUrl}?device=bad%20id`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?device=${'a'.repeat(65)}`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?device=a.b`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?device=%24gt`, { token }), 400);
      // Named but empty is refused too: taken as absent, it would put the client on the shared v1 device.
      assert.equal(await upgradeStatus(`${t.wsUrl}?device=`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?batch=1&device`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?events=`, { token }), 400);
      // Given twice, even with the same value: which one counts would be a guess.
      assert.equal(await upgradeStatus(`${t.wsUrl}?device=a&device=b`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?device=a&batch=1&device=a`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?events=1&%65vents=0`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?ackDelayMs=5&ackDelayMs=5`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?batch=1&batch`, { token }), 400);
      assert.equal(await upgradeStatus(`${t.wsUrl}?other=1&other=2&device=a`, { token }), 101);
      assert.equal(await upgradeStatus(`${t.wsUrl}?device=${'a'.repeat(64)}`, { token }), 101);
      assert.equal(await upgradeStatus(`${t.wsUrl}?device=A-z_09`, { token }), 101);
      assert.equal(await upgradeStatus(deviceUrl(t), { token }), 101);
    });

    it('a device connecting for the first time gets what no device confirmed, not what another device confirmed', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await connectDevice(t, alice, 'a1');
      const ids = [uid('m'), uid('m'), uid('m')];
      for (const messageId of ids) await a.sendMessage(messageId, bob, messageId);
      const b1 = await connectDevice(t, bob, 'b1');
      assert.deepEqual(b1.replayed.map((f) => f.messageId), ids);
      b1.client.send({ type: 'delivered', messageIds: [ids[0]] });
      await a.next((f) => f.status === 'DELIVERED' && f.messageId === ids[0]);
      const fresh = await connectDevice(t, bob, 'b-new');
      assert.deepEqual(fresh.replayed.map((f) => f.messageId), ids.slice(1));
      // b1 still has the two it did not confirm.
      await b1.client.close();
      const b1again = await connectDevice(t, bob, 'b1');
      assert.deepEqual(b1again.replayed.map((f) => f.messageId), ids.slice(1));
      await Promise.all([a.close(), fresh.client.close(), b1again.client.close()]);
    });

    it('a watermark confirmation in a direct conversation acks DELIVERED exactly like per-id confirmations', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await connectDevice(t, alice, 'a1');
      const ids = [uid('m'), uid('m'), uid('m'), uid('m')];
      let conversationId = '';
      for (const messageId of ids) conversationId = String((await a.sendMessage(messageId, bob, messageId)).conversationId);
      const b1 = await connectDevice(t, bob, 'b1');
      assert.deepEqual(b1.replayed.map((f) => f.seq), [1, 2, 3, 4]);
      // The first by id, then a watermark covering two more: DELIVERED for exactly those two.
      b1.client.send({ type: 'delivered', messageIds: [ids[0]] });
      await a.next((f) => f.status === 'DELIVERED' && f.messageId === ids[0]);
      b1.client.send({ type: 'delivered', conversationId, seq: 3 });
      await a.next((f) => f.status === 'DELIVERED' && f.messageId === ids[2]);
      await settle(a, b1.client);
      assert.deepEqual(deliveredAcks(a).map((f) => f.messageId).sort(), ids.slice(0, 3).sort());
      assert.deepEqual(deliveredAcks(a, ids[1]), [{ type: 'ack', status: 'DELIVERED', messageId: ids[1] }]);
      // The same watermark again, and another device's watermark over the same range: nothing new.
      b1.client.send({ type: 'delivered', conversationId, seq: 3 });
      const b2 = await connectDevice(t, bob, 'b2');
      assert.deepEqual(b2.replayed.map((f) => f.messageId), [ids[3]], 'a new device gets only what no device confirmed');
      b2.client.send({ type: 'delivered', conversationId, seq: 2 });
      await settle(a, b1.client, b2.client);
      assert.equal(deliveredAcks(a).length, 3);
      // A watermark past the end covers the last one; it is acked once.
      b2.client.send({ type: 'delivered', conversationId, seq: 1000 });
      await a.next((f) => f.status === 'DELIVERED' && f.messageId === ids[3]);
      await settle(a);
      assert.equal(deliveredAcks(a).length, 4);
      // b1 is replayed only what its own cursor does not cover; b2 nothing.
      await Promise.all([b1.client.close(), b2.client.close()]);
      const b1again = await connectDevice(t, bob, 'b1');
      assert.deepEqual(b1again.replayed.map((f) => f.messageId), [ids[3]]);
      const b2again = await connectDevice(t, bob, 'b2');
      assert.deepEqual(b2again.replayed, []);
      await Promise.all([a.close(), b1again.client.close(), b2again.client.close()]);
    });

    it('a watermark past the last seq does not swallow later messages', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await connectDevice(t, alice, 'a1');
      const first = uid('m');
      const ack = await a.sendMessage(first, bob, 'one');
      const conversationId = String(ack.conversationId);
      const b1 = await connectDevice(t, bob, 'b1');
      b1.client.send({ type: 'delivered', conversationId, seq: 1_000_000 });
      await a.next((f) => f.status === 'DELIVERED' && f.messageId === first);
      await settle(b1.client);
      await b1.client.close();
      const later = uid('m');
      assert.equal((await a.sendMessage(later, bob, 'two')).seq, 2);
      const again = await connectDevice(t, bob, 'b1');
      assert.deepEqual(again.replayed.map((f) => f.messageId), [later], 'a message after an over-long watermark was never replayed');
      // A read past the end is clamped too: the next message is still delivered and unread.
      again.client.send({ type: 'read', conversationId, seq: 1_000_000 });
      await again.client.next((f) => f.type === 'receipt' && f.readSeq === 2);
      await again.client.close();
      const third = uid('m');
      await a.sendMessage(third, bob, 'three');
      const last = await connectDevice(t, bob, 'b1');
      assert.deepEqual(last.replayed.map((f) => f.messageId), [third]);
      const item = (await (await fetch(`${t.httpUrl}/api/conversations/${encodeURIComponent(conversationId)}`, { headers: { authorization: `Bearer ${await t.token(bob)}` } })).json()) as { readSeq: number; unread: number };
      assert.equal(item.readSeq, 2);
      assert.equal(item.unread, 1);
      await Promise.all([a.close(), last.client.close()]);
    });

    it('out-of-order per-id confirmations and a watermark mix: only the gaps are replayed, each DELIVERED once', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await connectDevice(t, alice, 'a1');
      const ids = Array.from({ length: 5 }, () => uid('m'));
      let conversationId = '';
      for (const messageId of ids) conversationId = String((await a.sendMessage(messageId, bob, messageId)).conversationId);
      const b1 = await connectDevice(t, bob, 'b1');
      // Each DELIVERED comes once its confirmation is written (on FerretDB that may take longer than a
      // settle's round trip): wait for the ones due, then settle, so a repeat would be counted too.
      const deliveredTo = async (due: string[], confirmer: TestClient) => {
        for (const id of due) if (deliveredAcks(a, id).length === 0) await a.next(isDeliveredAck(id), 15_000);
        await settle(a, confirmer);
      };
      b1.client.send({ type: 'delivered', messageIds: [ids[3], ids[1]] });
      b1.client.send({ type: 'delivered', conversationId, seq: 1 });
      await deliveredTo([ids[0]!, ids[1]!, ids[3]!], b1.client);
      assert.deepEqual(deliveredAcks(a).map((f) => f.messageId).sort(), [ids[0], ids[1], ids[3]].sort());
      await b1.client.close();
      const again = await connectDevice(t, bob, 'b1');
      assert.deepEqual(again.replayed.map((f) => f.seq), [3, 5]);
      again.client.send({ type: 'delivered', conversationId, seq: 5 });
      await deliveredTo([...ids], again.client);
      assert.deepEqual(deliveredAcks(a).map((f) => f.messageId).sort(), [...ids].sort());
      await Promise.all([a.close(), again.client.close()]);
    });

    it('a watermark for a conversation the user is not in is not_found and marks nothing', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await connectDevice(t, alice, 'a1');
      const messageId = uid('m');
      const ack = await a.sendMessage(messageId, bob, 'private');
      const { client: mallory } = await connectDevice(t, uid('mallory'), 'm1');
      mallory.send({ type: 'delivered', conversationId: ack.conversationId, seq: 1 });
      const error = await mallory.next((f) => f.type === 'error');
      assert.equal(error.code, 'not_found');
      mallory.send({ type: 'delivered', messageIds: [messageId] });
      await settle(mallory, a);
      assert.equal(deliveredAcks(a).length, 0);
      const b = await connectDevice(t, bob, 'b1');
      assert.deepEqual(b.replayed.map((f) => f.messageId), [messageId]);
      await barrier(mallory);
      await Promise.all([a.close(), mallory.close(), b.client.close()]);
    });
  });
}
