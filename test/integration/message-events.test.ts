// Edit and delete (protocol v1.2) over real sockets, on every store: each is an ordered event with its
// own seq, delivered live and replayed per device exactly once (until that device confirms it),
// idempotent by editId / by message, allowed to the author (and, for deletes, a group's owner) only.
// History shows the latest version or the tombstone; a client that did not ask for events never gets
// one, and is not replayed them forever either.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, createGroup, sendTo, settle, uid } from '../helpers/conversations.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';

/** A device that takes message events (`?events=1`), connected and past its replay. */
async function eventDevice(t: TestServer, userId: string, device: string): Promise<{ client: TestClient; replayed: Frame[] }> {
  const client = await TestClient.connect(`${t.wsUrl}?device=${device}&events=1`, { token: await t.token(userId) });
  const ready = await client.next((f) => f.type === 'ready');
  return { client, replayed: client.frames.slice(0, client.frames.indexOf(ready)) };
}

const eventsOf = (frames: readonly Frame[], messageId?: string) => frames.filter((f) => f.type === 'message_event' && (messageId === undefined || f.messageId === messageId));

function edit(client: TestClient, messageId: string, editId: string, body: string): Promise<Frame> {
  client.send({ type: 'edit', messageId, editId, body });
  return client.next((f) => f.messageId === messageId && (f.type === 'error' || (f.type === 'ack' && f.status === 'EDITED')));
}

function remove(client: TestClient, messageId: string): Promise<Frame> {
  client.send({ type: 'delete', messageId });
  return client.next((f) => f.messageId === messageId && (f.type === 'error' || (f.type === 'ack' && f.status === 'DELETED')));
}

for (const variant of storeVariants()) {
  describe(`edit and delete (${variant.name} store)`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ store: await variant.create() });
    });
    after(async () => {
      await t.close();
      await variant.cleanup();
    });

    it('an edit reaches every other device once: live, or replayed until that device confirms it', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a1 } = await eventDevice(t, alice, 'a1');
      const { client: a2 } = await eventDevice(t, alice, 'a2');
      const { client: b1 } = await eventDevice(t, bob, 'b1');
      const messageId = uid('m');
      const sent = await a1.sendMessage(messageId, bob, 'helo');
      await b1.next((f) => f.type === 'message' && f.messageId === messageId);

      const editId = uid('e');
      const ack = await edit(a1, messageId, editId, 'hello');
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
      assert.equal(ack.eventId, `edit.${editId}`);
      assert.equal(ack.editId, editId);
      assert.equal(ack.conversationId, sent.conversationId);
      assert.equal(ack.seq, (sent.seq as number) + 1, 'the edit is the next event in the conversation');
      assert.equal(ack.duplicate, false);

      const expected = { type: 'message_event', event: 'edited', messageId, conversationId: sent.conversationId, seq: ack.seq, body: 'hello', ts: ack.ts, from: alice, eventId: ack.eventId };
      assert.deepEqual(await b1.next((f) => f.type === 'message_event'), expected);
      assert.deepEqual(await a2.next((f) => f.type === 'message_event'), expected, "the author's other device learns of it");

      // A retry of the same edit stores and sends nothing more.
      const retry = await edit(a1, messageId, editId, 'hello');
      assert.equal(retry.duplicate, true);
      assert.equal(retry.seq, ack.seq);
      // The same editId for another body is a conflict, not a second edit.
      assert.equal((await edit(a1, messageId, editId, 'other')).code, 'conflict');

      // b2 was offline: replayed the message (already edited) and the event, once each per replay.
      const b2 = await eventDevice(t, bob, 'b2');
      const replayedMessage = b2.replayed.find((f) => f.type === 'message' && f.messageId === messageId);
      assert.equal(replayedMessage?.body, 'hello');
      assert.equal(typeof replayedMessage?.editedAt, 'number');
      assert.deepEqual(eventsOf(b2.replayed), [expected]);
      // b1 confirms by eventId, b2 by watermark: neither is replayed the event again.
      b1.send({ type: 'delivered', messageIds: [messageId, ack.eventId] });
      b2.client.send({ type: 'delivered', conversationId: sent.conversationId, seq: ack.seq });
      await settle(b1, b2.client, a1);
      await Promise.all([b1.close(), b2.client.close()]);
      for (const device of ['b1', 'b2']) {
        const again = await eventDevice(t, bob, device);
        assert.deepEqual(again.replayed.filter((f) => f.type === 'message' || f.type === 'message_event'), [], `device ${device} was replayed a confirmed event`);
        await again.client.close();
      }
      assert.equal(eventsOf(b1.frames).length, 1, 'b1 got the edit exactly once');
      // The editor is told nothing of the event's delivery (DELIVERED is for messages).
      assert.equal(a1.frames.filter((f) => f.status === 'DELIVERED' && f.messageId === ack.eventId).length, 0);
      assert.equal(eventsOf(a1.frames).length, 0, 'the editing device does not get its own event');
      await Promise.all([a1.close(), a2.close()]);
    });

    it('delete: the author or the group owner; anyone else forbidden; a non-member not_found; final and idempotent', async () => {
      const owner = uid('owner');
      const ann = uid('ann');
      const bob = uid('bob');
      const stranger = uid('stranger');
      const group = await createGroup(t, owner, [ann, bob]);
      const conversationId = group.body.conversationId as string;
      const { client: o } = await eventDevice(t, owner, 'o1');
      const { client: a } = await eventDevice(t, ann, 'a1');
      const { client: b } = await eventDevice(t, bob, 'b1');
      const { client: s } = await eventDevice(t, stranger, 's1');
      const first = uid('m');
      const second = uid('m');
      await sendTo(a, conversationId, first, 'one');
      await sendTo(a, conversationId, second, 'two');

      assert.equal((await remove(b, first)).code, 'forbidden');
      assert.equal((await edit(b, first, uid('e'), 'not mine')).code, 'forbidden');
      assert.equal((await edit(o, first, uid('e'), 'owners cannot edit')).code, 'forbidden');
      assert.equal((await remove(s, first)).code, 'not_found', 'a non-member learns nothing');
      assert.equal((await edit(s, first, uid('e'), 'x')).code, 'not_found');
      // A malformed edit's refusal names its eventId too, as every edit error does (protocol.md).
      const badEdit = uid('e');
      a.send({ type: 'edit', messageId: first, editId: badEdit, body: 5 });
      const malformed = await a.next((f) => f.type === 'error' && f.messageId === first);
      assert.deepEqual([malformed.code, malformed.eventId], ['bad_request', `edit.${badEdit}`]);
      const badTarget = uid('e');
      a.send({ type: 'edit', messageId: 5, editId: badTarget, body: 'x' });
      const untargeted = await a.next((f) => f.type === 'error' && f.eventId === `edit.${badTarget}`);
      assert.equal(untargeted.code, 'bad_request', 'a bad messageId is refused naming the edit');

      const byOwner = await remove(o, first);
      assert.equal(byOwner.status, 'DELETED', JSON.stringify(byOwner));
      assert.equal(byOwner.eventId, `delete.${first}`);
      const event = await b.next((f) => f.type === 'message_event');
      assert.deepEqual(event, { type: 'message_event', event: 'deleted', messageId: first, conversationId, seq: byOwner.seq, ts: byOwner.ts, from: owner, eventId: byOwner.eventId });
      await a.next((f) => f.type === 'message_event' && f.messageId === first);

      const byAuthor = await remove(a, second);
      assert.equal(byAuthor.status, 'DELETED');
      // Deleted is final: a second delete answers the stored event; an edit is refused.
      const again = await remove(a, first);
      assert.equal(again.duplicate, true);
      assert.equal(again.seq, byOwner.seq);
      assert.equal((await edit(a, first, uid('e'), 'revive')).code, 'not_found');

      // History: tombstones without bodies, no events among the messages.
      const history = await api(t, bob, 'GET', `/api/conversations/${conversationId}/messages`);
      assert.equal(history.status, 200);
      assert.deepEqual(
        history.body.messages.map((m: Record<string, unknown>) => [m.messageId, m.deleted, 'body' in m]),
        [
          [first, true, false],
          [second, true, false],
        ],
      );
      await settle(o, a, b, s);
      assert.equal(eventsOf(b.frames).length, 2, 'one event per delete, however many requests');
      await Promise.all([o.close(), a.close(), b.close(), s.close()]);
    });

    it('pipelined on one socket, a delete then an edit: the edit is refused, the message stays deleted, and no text follows the delete', async () => {
      // On FerretDB the two ran at once: the edit was acked after the delete, delivered with its text,
      // and its whole-document write undid the delete in 7 of 10 races (an outside probe).
      const ann = uid('ann');
      const bob = uid('bob');
      const group = await createGroup(t, ann, [bob]);
      const conversationId = group.body.conversationId as string;
      const { client: a } = await eventDevice(t, ann, 'a1');
      const { client: b } = await eventDevice(t, bob, 'b1');
      const messageIds = [uid('m'), uid('m'), uid('m')];
      for (const messageId of messageIds) await sendTo(a, conversationId, messageId, 'the original');
      const answers = messageIds.map((messageId) => {
        a.send({ type: 'delete', messageId });
        a.send({ type: 'edit', messageId, editId: uid('e'), body: 'SECRET AFTER DELETE' });
        return [
          a.next((f) => f.messageId === messageId && f.type === 'ack' && f.status === 'DELETED'),
          a.next((f) => f.messageId === messageId && f.eventId !== `delete.${messageId}` && (f.type === 'error' || (f.type === 'ack' && f.status === 'EDITED'))),
        ];
      });
      for (const [deleted, edited] of answers) {
        assert.equal((await deleted!).status, 'DELETED');
        assert.equal((await edited!).code, 'not_found', 'an edit behind a delete finds the message deleted');
      }
      const history = await api(t, bob, 'GET', `/api/conversations/${conversationId}/messages`);
      assert.deepEqual(history.body.messages.map((m: Record<string, unknown>) => [m.deleted, m.body]), messageIds.map(() => [true, undefined]));
      await settle(a, b);
      const events = eventsOf(b.frames);
      assert.deepEqual(events.map((f) => f.event), ['deleted', 'deleted', 'deleted']);
      assert.ok(!JSON.stringify(b.frames).includes('SECRET'), 'no text after a delete reaches anyone');
      await Promise.all([a.close(), b.close()]);
    });

    it('a burst of edits of one group message, within the send burst, is applied in order and leaves the store serving others', async () => {
      // 64-100 such edits at once deadlocked FerretDB's connection pool for every user (an outside probe).
      const ann = uid('ann');
      const bob = uid('bob');
      const group = await createGroup(t, ann, [bob, uid('cy')]);
      const conversationId = group.body.conversationId as string;
      const { client: a } = await eventDevice(t, ann, 'a1');
      const messageId = uid('m');
      await sendTo(a, conversationId, messageId, 'v0');
      const acks = Array.from({ length: 60 }, (_, i) => {
        a.send({ type: 'edit', messageId, editId: `burst-${i}-${messageId}`, body: `v${i + 1}` });
        return a.next((f) => f.editId === `burst-${i}-${messageId}` && f.type === 'ack', 30_000);
      });
      const seqs = (await Promise.all(acks)).map((ack) => ack.seq as number);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'stored in the order they came');
      const history = await api(t, bob, 'GET', `/api/conversations/${conversationId}/messages`);
      assert.equal(history.body.messages.at(-1).body, 'v60', 'the last edit is the message');
      const { client: other } = await eventDevice(t, bob, 'b1');
      assert.equal((await sendTo(other, conversationId, uid('m'), 'still served')).status, 'SENT');
      await Promise.all([a.close(), other.close()]);
    });

    it('history and the list show the latest version; events are neither messages nor unread', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await eventDevice(t, alice, 'a1');
      const messageId = uid('m');
      const sent = await a.sendMessage(messageId, bob, 'first draft');
      await edit(a, messageId, uid('e'), 'second draft');
      const final = await edit(a, messageId, uid('e'), 'final');
      const history = await api(t, bob, 'GET', `/api/conversations/${sent.conversationId}/messages?limit=1`);
      assert.equal(history.body.messages.length, 1);
      assert.equal(history.body.messages[0].messageId, messageId);
      assert.equal(history.body.messages[0].body, 'final');
      assert.equal(history.body.messages[0].editedAt, final.ts);
      assert.equal(history.body.hasMore, false, 'only events are older than the page');
      const item = await api(t, bob, 'GET', `/api/conversations/${sent.conversationId}`);
      assert.equal(item.body.lastMessage.messageId, messageId);
      assert.equal(item.body.lastMessage.body, 'final');
      assert.equal(item.body.lastSeq, final.seq);
      assert.equal(item.body.unread, 1, 'two edits of one message: still one unread message');
      await a.close();
    });

    it('a client without ?events=1 never gets an event, and is not replayed it again', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await eventDevice(t, alice, 'a1');
      const v1 = await TestClient.connectReady(t.wsUrl, await t.token(bob));
      const messageId = uid('m');
      await a.sendMessage(messageId, bob, 'v1 sees this');
      await v1.client.next((f) => f.type === 'message' && f.messageId === messageId);
      v1.client.send({ type: 'delivered', messageIds: [messageId] });
      await edit(a, messageId, uid('e'), 'v1 sees no edit');
      const later = uid('m');
      await a.sendMessage(later, bob, 'later');
      await v1.client.next((f) => f.type === 'message' && f.messageId === later);
      v1.client.send({ type: 'delivered', messageIds: [later] });
      await settle(v1.client, a);
      await v1.client.close();
      const again = await TestClient.connectReady(t.wsUrl, await t.token(bob));
      assert.deepEqual(again.client.frames.filter((f) => f.type !== 'ready'), [], 'nothing pending for the v1 device');
      assert.equal(eventsOf(v1.client.frames).length, 0);
      await Promise.all([a.close(), again.client.close()]);
    });

    it("a replay to a client without ?events=1 counts in `ready` only the message frames it sent", async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: a } = await eventDevice(t, alice, 'a1');
      const [kept, gone] = [uid('m'), uid('m')];
      await a.sendMessage(kept, bob, 'kept');
      await a.sendMessage(gone, bob, 'gone');
      await edit(a, kept, uid('e'), 'kept, edited');
      assert.equal((await remove(a, gone)).status, 'DELETED');
      const v1 = await TestClient.connectReady(t.wsUrl, await t.token(bob));
      const messages = v1.replayed.filter((f) => f.type === 'message');
      assert.deepEqual(messages.map((f) => [f.messageId, f.body]), [[kept, 'kept, edited']]);
      const ready = v1.client.frames.find((f) => f.type === 'ready');
      assert.equal(ready?.replayed, 1, 'the tombstone and the two events were withheld, not sent');
      await Promise.all([a.close(), v1.client.close()]);
    });

    it('HTTP: PATCH and DELETE on /api/conversations/:id/messages/:messageId, with the same rules', async () => {
      const alice = uid('alice');
      const bob = uid('bob');
      const { client: b } = await eventDevice(t, bob, 'b1');
      const messageId = uid('m');
      const sent = await api(t, alice, 'POST', '/api/messages', { messageId, to: bob, body: 'over http' });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      const path = `/api/conversations/${sent.body.conversationId}/messages/${messageId}`;
      const editId = uid('e');
      const edited = await api(t, alice, 'PATCH', path, { editId, body: 'edited over http' });
      assert.equal(edited.status, 200, JSON.stringify(edited.body));
      assert.equal(edited.body.event, 'edited');
      assert.equal(edited.body.message.body, 'edited over http');
      assert.equal((await api(t, alice, 'PATCH', path, { editId, body: 'edited over http' })).body.duplicate, true);
      assert.equal((await b.next((f) => f.type === 'message_event')).body, 'edited over http');

      assert.equal((await api(t, bob, 'PATCH', path, { editId: uid('e'), body: 'x' })).status, 403);
      assert.equal((await api(t, alice, 'PATCH', path, { editId: { $gt: '' }, body: 'x' })).status, 400);
      assert.equal((await api(t, alice, 'PATCH', path, { editId: uid('e'), body: { $set: 'x' } })).status, 400);
      assert.equal((await api(t, alice, 'PATCH', `/api/conversations/g:elsewhere/messages/${messageId}`, { editId: uid('e'), body: 'x' })).status, 404);
      assert.equal((await api(t, alice, 'DELETE', `/api/conversations/${sent.body.conversationId}/messages/${uid('unknown')}`)).status, 404);

      const deleted = await api(t, alice, 'DELETE', path);
      assert.equal(deleted.status, 200);
      assert.equal(deleted.body.message.deleted, true);
      assert.equal('body' in deleted.body.message, false);
      assert.equal((await b.next((f) => f.type === 'message_event' && f.event === 'deleted')).messageId, messageId);
      await b.close();
    });
  });
}
