// Group conversations (protocol v1.1) end to end over real sockets and HTTP: creation (idempotent),
// sends with conversationId and seq, fan-out to every member device, membership rules (not_found for
// non-members, forbidden for non-owners, removed members cut off, ownership passing on), join seq,
// history paging, the conversation list, read receipts, typing, conversation events, limits and bad
// input. Runs on every store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, barrier, connectDevice, createGroup, messagesOf, sendTo, settle, uid } from '../helpers/conversations.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';
import type { Frame } from '../helpers/ws-client.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const conversationEvent = (event: string, conversationId: string) => (f: Frame) =>
  f.type === 'conversation' && f.event === event && (f.conversation as { conversationId: string }).conversationId === conversationId;
const messageFrom = (messageId: string) => (f: Frame) => f.type === 'message' && f.messageId === messageId;

for (const variant of storeVariants()) {
  describe(`group conversations (${variant.name} store)`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ store: await variant.create() });
    });
    after(async () => {
      await t.close();
      await variant.cleanup();
    });

    /** A group of owner + members, everyone's devices connected (device ids `<n>1`, `<n>2`). */
    async function groupOf(members: string[], title = 'team'): Promise<{ conversationId: string; body: any }> {
      const [owner, ...rest] = members;
      const created = await createGroup(t, owner!, rest, title);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return { conversationId: created.body.conversationId, body: created.body };
    }

    it('creates a group over HTTP (201, owner, members); an Idempotency-Key retry returns the same group with 200', async () => {
      const owner = uid('owner');
      const p = uid('p');
      const q = uid('q');
      const { client: pc } = await connectDevice(t, p, 'p1');
      const key = uid('key');
      const first = await createGroup(t, owner, [p, q, p, owner], 'Friends', { 'idempotency-key': key });
      assert.equal(first.status, 201);
      const group = first.body;
      assert.equal(typeof group.conversationId, 'string');
      assert.ok(group.conversationId.length > 0 && group.conversationId.length <= 128);
      assert.equal(group.kind, 'group');
      assert.equal(group.title, 'Friends');
      assert.equal(group.ownerId, owner);
      assert.deepEqual(group.members, [owner, p, q], 'the owner first, duplicates dropped');
      assert.equal(typeof group.createdAt, 'number');
      const retry = await createGroup(t, owner, [p, q], 'Friends', { 'idempotency-key': key });
      assert.equal(retry.status, 200);
      assert.equal(retry.body.conversationId, group.conversationId);
      assert.equal(retry.body.createdAt, group.createdAt);
      assert.deepEqual(retry.body.members, group.members);
      // A retry is the same title and the same members, in any order, even after the group changed.
      const enc = encodeURIComponent(group.conversationId);
      assert.equal((await api(t, owner, 'PATCH', `/api/conversations/${enc}`, { title: 'Renamed' })).status, 200);
      const reordered = await createGroup(t, owner, [q, p], 'Friends', { 'idempotency-key': key });
      assert.equal(reordered.status, 200, JSON.stringify(reordered.body));
      assert.equal(reordered.body.conversationId, group.conversationId);
      assert.equal(reordered.body.title, 'Renamed', 'the group as it is now');
      // The same key for another title or other members is not a retry: 409 conflict, nothing created.
      for (const [members, title] of [[[p, q], 'Enemies'], [[p], 'Friends'], [[p, q, uid('r')], 'Friends']] as const) {
        const reused = await createGroup(t, owner, [...members], title, { 'idempotency-key': key });
        assert.equal(reused.status, 409, `${title} ${members.length}: ${JSON.stringify(reused.body)}`);
        assert.equal(reused.body.error.code, 'conflict');
        assert.match(reused.body.error.message, /Idempotency-Key/);
      }
      // The key is the owner's: another user with the same key gets a group of their own.
      const other = await createGroup(t, q, [p], 'Other', { 'idempotency-key': key });
      assert.equal(other.status, 201);
      assert.notEqual(other.body.conversationId, group.conversationId);
      assert.equal(other.body.ownerId, q);
      // A key sent empty, or with a character outside printable ASCII, is refused, not read as no key.
      for (const bad of ['', 'a b', 'a\tb']) {
        const refused = await createGroup(t, owner, [p], 'x', { 'idempotency-key': bad });
        assert.equal(refused.status, 400, `${JSON.stringify(bad)}: ${JSON.stringify(refused.body)}`);
        assert.match(refused.body.error.message, /Idempotency-Key/);
      }
      // Without a key, two creations are two groups.
      const a = await createGroup(t, owner, [p], 'x');
      const b = await createGroup(t, owner, [p], 'x');
      assert.equal(a.status, 201);
      assert.equal(b.status, 201);
      assert.notEqual(a.body.conversationId, b.body.conversationId);
      // A connected member hears `created` once per group (not for the idempotent retry).
      const createdFrame = await pc.next(conversationEvent('created', group.conversationId));
      assert.deepEqual(createdFrame.conversation, {
        conversationId: group.conversationId, kind: 'group', title: 'Friends', members: [owner, p, q], memberCount: 3, ownerId: owner, createdAt: group.createdAt,
      });
      await settle(pc);
      assert.equal(pc.frames.filter(conversationEvent('created', group.conversationId)).length, 1);
      // A group of one (just the owner) is allowed.
      const alone = await createGroup(t, uid('solo'), [], 'just me');
      assert.equal(alone.status, 201);
      assert.equal(alone.body.members.length, 1);
      await pc.close();
    });

    it('concurrent creations with one Idempotency-Key make one group: one 201, the rest 200, one `created` event', async () => {
      const owner = uid('owner');
      const p = uid('p');
      const { client: pc } = await connectDevice(t, p, 'p1');
      const key = uid('key');
      const answers = await Promise.all(Array.from({ length: 6 }, () => createGroup(t, owner, [p], 'race', { 'idempotency-key': key })));
      const ids = new Set(answers.map((a) => a.body.conversationId));
      assert.equal(ids.size, 1);
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 200, 201]);
      const conversationId = [...ids][0]!;
      await pc.next(conversationEvent('created', conversationId));
      // Retries racing within one millisecond (the usual case for a double submit): 20 rounds of two.
      for (let round = 0; round < 20; round++) {
        const roundOwner = uid('owner');
        const roundKey = uid('key');
        const pair = await Promise.all([0, 1].map(() => createGroup(t, roundOwner, [p], 'pair', { 'idempotency-key': roundKey })));
        assert.deepEqual(pair.map((a) => a.status).sort(), [200, 201], `round ${round}`);
        assert.equal(pair[0]!.body.conversationId, pair[1]!.body.conversationId);
        assert.equal(pair[0]!.body.createdAt, pair[1]!.body.createdAt);
      }
      await settle(pc);
      assert.equal(pc.frames.filter(conversationEvent('created', conversationId)).length, 1);
      assert.equal(pc.frames.filter((f) => f.type === 'conversation' && f.event === 'created').length, 21, 'one `created` per group');
      await pc.close();
    });

    it('a member online when the group is created, or added, hears it live at once', async () => {
      const o = uid('o');
      const p = uid('p');
      const n = uid('n');
      const { client: p1 } = await connectDevice(t, p, 'p1');
      const { client: n1 } = await connectDevice(t, n, 'n1');
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const { conversationId } = await groupOf([o, p]);
      await p1.next(conversationEvent('created', conversationId));
      const first = uid('m');
      await sendTo(o1, conversationId, first, 'hello group');
      assert.equal((await p1.next(messageFrom(first))).seq, 1);
      assert.equal((await api(t, o, 'POST', `/api/conversations/${encodeURIComponent(conversationId)}/members`, { userIds: [n] })).status, 200);
      await n1.next(conversationEvent('joined', conversationId));
      const second = uid('m');
      await sendTo(p1, conversationId, second, 'welcome');
      assert.equal((await n1.next(messageFrom(second))).seq, 2);
      assert.equal((await o1.next(messageFrom(second))).seq, 2);
      await Promise.all([o1.close(), p1.close(), n1.close()]);
    });

    it('sends into a group: SENT acks carry conversationId and seq 1,2,3; every member device gets it, the sender’s other device too, the sending device never', async () => {
      const o = uid('o');
      const p = uid('p');
      const q = uid('q');
      const { conversationId } = await groupOf([o, p, q]);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const { client: o2 } = await connectDevice(t, o, 'o2');
      const { client: p1 } = await connectDevice(t, p, 'p1');
      const { client: p2 } = await connectDevice(t, p, 'p2');
      const { client: q1 } = await connectDevice(t, q, 'q1');
      const ids = [uid('m'), uid('m'), uid('m')];
      const acks: Frame[] = [];
      for (const [i, messageId] of ids.entries()) {
        const ack = await sendTo(o1, conversationId, messageId, `body ${i}`);
        assert.deepEqual(Object.keys(ack).slice(0, 5), ['type', 'status', 'messageId', 'ts', 'duplicate'], 'v1 fields first');
        assert.equal(ack.type, 'ack');
        assert.equal(ack.status, 'SENT');
        assert.equal(ack.duplicate, false);
        assert.equal(ack.conversationId, conversationId);
        assert.equal(ack.seq, i + 1);
        acks.push(ack);
      }
      for (const device of [o2, p1, p2, q1]) {
        for (const [i, messageId] of ids.entries()) {
          const frame = await device.next(messageFrom(messageId));
          // Group messages carry no `to`.
          assert.deepEqual(frame, { type: 'message', messageId, from: o, body: `body ${i}`, ts: acks[i]!.ts, conversationId, seq: i + 1 });
        }
      }
      // A retry keeps its seq and is not delivered again.
      const retry = await sendTo(o1, conversationId, ids[1]!, 'body 1');
      assert.equal(retry.duplicate, true);
      assert.equal(retry.seq, 2);
      assert.equal(retry.ts, acks[1]!.ts);
      const last = uid('m');
      assert.equal((await sendTo(p2, conversationId, last, 'from p2')).seq, 4);
      await o1.next(messageFrom(last));
      await p1.next(messageFrom(last));
      await settle(o1, o2, p1, p2, q1);
      for (const messageId of ids) {
        assert.equal(messagesOf(o1, messageId).length, 0, 'the sending device got its own message');
        for (const device of [o2, p1, p2, q1]) assert.equal(messagesOf(device, messageId).length, 1);
      }
      assert.equal(messagesOf(p2, last).length, 0);
      await Promise.all([o1, o2, p1, p2, q1].map((c) => c.close()));
    });

    it('a member device that was offline is replayed the group’s messages in seq order until it confirms', async () => {
      const o = uid('o');
      const p = uid('p');
      const { conversationId } = await groupOf([o, p]);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const ids = [uid('m'), uid('m'), uid('m')];
      for (const messageId of ids) await sendTo(o1, conversationId, messageId, messageId);
      const p1 = await connectDevice(t, p, 'p1');
      assert.deepEqual(p1.replayed.map((f) => [f.messageId, f.seq]), ids.map((m, i) => [m, i + 1]));
      p1.client.send({ type: 'delivered', conversationId, seq: 2 });
      await settle(p1.client);
      await p1.client.close();
      const again = await connectDevice(t, p, 'p1');
      assert.deepEqual(again.replayed.map((f) => f.messageId), [ids[2]]);
      // The owner's other device, new, gets what no device of the owner confirmed: o1 sent them all.
      await Promise.all([o1.close(), again.client.close()]);
    });

    it('a member connecting while the group is busy gets every message once, in seq order, live never ahead of replayed', async () => {
      const o = uid('o');
      const p = uid('p');
      const { conversationId } = await groupOf([o, p]);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const backlog = Array.from({ length: 300 }, () => uid('old'));
      for (const messageId of backlog) o1.send({ type: 'send', messageId, conversationId, body: 'old' });
      await o1.next((f) => f.messageId === backlog.at(-1) && f.status === 'SENT', 15_000);
      const connecting = connectDevice(t, p, 'p1');
      const live = Array.from({ length: 50 }, () => uid('new'));
      for (const messageId of live) o1.send({ type: 'send', messageId, conversationId, body: 'new' });
      const { client: p1 } = await connecting;
      await o1.next((f) => f.messageId === live.at(-1) && f.status === 'SENT', 15_000);
      const all = [...backlog, ...live];
      while (p1.frames.filter((f) => f.type === 'message').length < all.length) await p1.next((f) => f.type === 'message', 10_000);
      await settle(p1);
      const got = p1.frames.filter((f) => f.type === 'message');
      assert.deepEqual(got.map((f) => f.messageId), all);
      assert.deepEqual(got.map((f) => f.seq), all.map((_, i) => i + 1));
      await Promise.all([o1.close(), p1.close()]);
    });

    it('replays several conversations at once: each in seq order, merged by accept time', async () => {
      const o = uid('o');
      const p = uid('p');
      const { conversationId: g1 } = await groupOf([o, p], 'one');
      const { conversationId: g2 } = await groupOf([o, p], 'two');
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const order: string[] = [];
      for (let i = 0; i < 12; i++) {
        const messageId = uid('m');
        order.push(messageId);
        if (i % 3 === 2) await o1.sendMessage(messageId, p, `direct ${i}`);
        else await sendTo(o1, i % 3 === 0 ? g1 : g2, messageId, `group ${i}`);
        // Accept times are milliseconds: across conversations, messages accepted within one are in no
        // promised order (only seq orders, and only within a conversation).
        await pause(3);
      }
      const { replayed } = await connectDevice(t, p, 'p1');
      assert.deepEqual(replayed.map((f) => f.messageId), order);
      const stamps = replayed.map((f) => f.ts as number);
      assert.deepEqual(stamps, [...stamps].sort((a, b) => a - b));
      for (const conversationId of [g1, g2]) {
        const seqs = replayed.filter((f) => f.conversationId === conversationId).map((f) => f.seq);
        assert.deepEqual(seqs, [1, 2, 3, 4]);
      }
      await o1.close();
    });

    it('refuses a non-member: send not_found (connection stays open), and 404 on every route', async () => {
      const o = uid('o');
      const p = uid('p');
      const { conversationId } = await groupOf([o, p]);
      const outsider = uid('x');
      const { client: x } = await connectDevice(t, outsider, 'x1');
      const messageId = uid('m');
      const refused = await sendTo(x, conversationId, messageId, 'let me in');
      assert.equal(refused.type, 'error');
      assert.equal(refused.code, 'not_found');
      assert.equal(refused.messageId, messageId);
      // An unknown conversation answers the same: existence does not leak.
      const unknown = await sendTo(x, 'g:does-not-exist', uid('m'), 'hello?');
      assert.equal(unknown.code, 'not_found');
      assert.equal(unknown.message, refused.message);
      for (const frame of [{ type: 'read', conversationId, seq: 1 }, { type: 'typing', conversationId }, { type: 'delivered', conversationId, seq: 1 }]) {
        x.send(frame);
        const error = await x.next((f) => f.type === 'error');
        assert.equal(error.code, 'not_found', JSON.stringify(frame));
        assert.equal(error.conversationId, conversationId, 'names the conversation the refused frame named');
      }
      // Still open and usable.
      assert.equal((await x.sendMessage(uid('m'), o, 'direct works')).status, 'SENT');
      assert.equal(await t.store.getMessage(messageId), undefined);
      const enc = encodeURIComponent(conversationId);
      assert.equal((await api(t, outsider, 'GET', `/api/conversations/${enc}`)).status, 404);
      assert.equal((await api(t, outsider, 'GET', `/api/conversations/${enc}/messages`)).status, 404);
      assert.equal((await api(t, outsider, 'POST', `/api/conversations/${enc}/members`, { userIds: [outsider] })).status, 404);
      assert.equal((await api(t, outsider, 'PATCH', `/api/conversations/${enc}`, { title: 'mine' })).status, 404);
      assert.equal((await api(t, outsider, 'DELETE', `/api/conversations/${enc}/members/${p}`)).status, 404);
      const viaHttp = await api(t, outsider, 'POST', '/api/messages', { messageId: uid('m'), conversationId, body: 'x' });
      assert.equal(viaHttp.status, 404);
      assert.equal(viaHttp.body.error.code, 'not_found');
      const list = await api(t, outsider, 'GET', '/api/conversations');
      assert.ok(!list.body.conversations.some((c: { conversationId: string }) => c.conversationId === conversationId));
      await x.close();
    });

    it('a removed member gets nothing new, is not replayed it (not even what it had not confirmed), cannot send or read', async () => {
      const o = uid('o');
      const p = uid('p');
      const q = uid('q');
      const { conversationId } = await groupOf([o, p, q]);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const { client: p1 } = await connectDevice(t, p, 'p1');
      const { client: q1 } = await connectDevice(t, q, 'q1');
      const before = uid('m');
      await sendTo(o1, conversationId, before, 'before removal');
      await q1.next(messageFrom(before)); // q does not confirm it
      const removed = await api(t, o, 'DELETE', `/api/conversations/${encodeURIComponent(conversationId)}/members/${q}`);
      assert.equal(removed.status, 204);
      assert.equal(removed.body, undefined);
      const toQ = await q1.next(conversationEvent('removed', conversationId));
      assert.ok(!(toQ.conversation as { members: string[] }).members.includes(q));
      await p1.next(conversationEvent('removed', conversationId));
      await o1.next(conversationEvent('removed', conversationId));
      const after = uid('m');
      await sendTo(o1, conversationId, after, 'after removal');
      await p1.next(messageFrom(after));
      await settle(q1);
      assert.equal(messagesOf(q1, after).length, 0, 'a removed member got a new message live');
      const refused = await sendTo(q1, conversationId, uid('m'), 'still here?');
      assert.equal(refused.code, 'not_found');
      q1.send({ type: 'read', conversationId, seq: 1 });
      assert.equal((await q1.next((f) => f.type === 'error')).code, 'not_found');
      await q1.close();
      for (const device of ['q1', 'q2']) {
        const again = await connectDevice(t, q, device);
        assert.deepEqual(again.replayed.filter((f) => f.conversationId === conversationId), [], `${device} was replayed a group it left`);
        await again.client.close();
      }
      const enc = encodeURIComponent(conversationId);
      assert.equal((await api(t, q, 'GET', `/api/conversations/${enc}/messages`)).status, 404);
      assert.equal((await api(t, q, 'GET', `/api/conversations/${enc}`)).status, 404);
      const list = await api(t, q, 'GET', '/api/conversations');
      assert.ok(!list.body.conversations.some((c: { conversationId: string }) => c.conversationId === conversationId));
      // Removing a non-member is not_found; the others' group goes on.
      assert.equal((await api(t, o, 'DELETE', `/api/conversations/${enc}/members/${q}`)).status, 404);
      assert.deepEqual((await api(t, p, 'GET', `/api/conversations/${enc}`)).body.members, [o, p]);
      await Promise.all([o1.close(), p1.close()]);
    });

    it('a member removed and added again is not replayed what was sent while it was out, nor what it left unconfirmed', async () => {
      const o = uid('o');
      const q = uid('q');
      const { conversationId } = await groupOf([o, q]);
      const enc = encodeURIComponent(conversationId);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const { client: q1 } = await connectDevice(t, q, 'q1');
      const unconfirmed = uid('m');
      await sendTo(o1, conversationId, unconfirmed, 'seq 1, never confirmed');
      await q1.next(messageFrom(unconfirmed));
      await q1.close();
      assert.equal((await api(t, o, 'DELETE', `/api/conversations/${enc}/members/${q}`)).status, 204);
      const whileOut = [uid('m'), uid('m')];
      for (const messageId of whileOut) await sendTo(o1, conversationId, messageId, 'while q was out');
      assert.equal((await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [q] })).status, 200);
      const back = uid('m');
      assert.equal((await sendTo(o1, conversationId, back, 'welcome back')).seq, 4);
      for (const device of ['q1', 'q-new']) {
        const again = await connectDevice(t, q, device);
        assert.deepEqual(again.replayed.map((f) => f.seq), [4], `${device}: replay starts after the seq of the re-join`);
        await again.client.close();
      }
      // History shows everything again.
      const history = await api(t, q, 'GET', `/api/conversations/${enc}/messages`);
      assert.deepEqual(history.body.messages.map((m: { seq: number }) => m.seq), [1, 2, 3, 4]);
      await o1.close();
    });

    it('the owner leaving passes ownership to the longest-standing member; a member leaving is `left`', async () => {
      const o = uid('o');
      const p = uid('p');
      const q = uid('q');
      const r = uid('r');
      const { conversationId } = await groupOf([o, q]);
      const enc = encodeURIComponent(conversationId);
      await pause(5);
      assert.equal((await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [p] })).status, 200);
      await pause(5);
      assert.equal((await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [r] })).status, 200);
      const { client: q1 } = await connectDevice(t, q, 'q1');
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const { client: r1 } = await connectDevice(t, r, 'r1');
      assert.equal((await api(t, o, 'DELETE', `/api/conversations/${enc}/members/${o}`)).status, 204);
      const left = await q1.next(conversationEvent('left', conversationId));
      assert.equal((left.conversation as { ownerId: string }).ownerId, q, 'q joined first after the owner');
      await o1.next(conversationEvent('left', conversationId));
      const item = await api(t, q, 'GET', `/api/conversations/${enc}`);
      assert.equal(item.body.ownerId, q);
      assert.deepEqual(item.body.members, [q, p, r]);
      // The new owner can rename; the former owner cannot see it.
      assert.equal((await api(t, q, 'PATCH', `/api/conversations/${enc}`, { title: 'new' })).status, 200);
      assert.equal((await api(t, o, 'PATCH', `/api/conversations/${enc}`, { title: 'mine' })).status, 404);
      // A plain member leaving: `left` to them and to the rest.
      assert.equal((await api(t, r, 'DELETE', `/api/conversations/${enc}/members/${r}`)).status, 204);
      await r1.next(conversationEvent('left', conversationId));
      await q1.next(conversationEvent('left', conversationId));
      assert.deepEqual((await api(t, q, 'GET', `/api/conversations/${enc}`)).body.members, [q, p]);
      await Promise.all([q1.close(), o1.close(), r1.close()]);
    });

    it('only the owner adds members and renames (403 forbidden otherwise); `joined` and `updated` reach the members concerned', async () => {
      const o = uid('o');
      const p = uid('p');
      const n = uid('n');
      const { conversationId } = await groupOf([o, p], 'before');
      const enc = encodeURIComponent(conversationId);
      const { client: p1 } = await connectDevice(t, p, 'p1');
      const { client: n1 } = await connectDevice(t, n, 'n1');
      const add = await api(t, p, 'POST', `/api/conversations/${enc}/members`, { userIds: [n] });
      assert.equal(add.status, 403);
      assert.equal(add.body.error.code, 'forbidden');
      const rename = await api(t, p, 'PATCH', `/api/conversations/${enc}`, { title: 'hijacked' });
      assert.equal(rename.status, 403);
      assert.equal(rename.body.error.code, 'forbidden');
      const removeOwner = await api(t, p, 'DELETE', `/api/conversations/${enc}/members/${o}`);
      assert.equal(removeOwner.status, 403);
      assert.equal((await api(t, p, 'GET', `/api/conversations/${enc}`)).body.title, 'before');

      const added = await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [n, p, n] });
      assert.equal(added.status, 200);
      assert.deepEqual(added.body, { conversationId, members: [o, p, n] });
      const joined = await n1.next(conversationEvent('joined', conversationId));
      assert.deepEqual((joined.conversation as { members: string[] }).members, [o, p, n]);
      await p1.next(conversationEvent('joined', conversationId));
      // Adding someone already in is a no-op: 200, same members, no event.
      assert.deepEqual((await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [p] })).body.members, [o, p, n]);

      const renamed = await api(t, o, 'PATCH', `/api/conversations/${enc}`, { title: 'after' });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.title, 'after');
      assert.equal(renamed.body.conversationId, conversationId);
      const updated = await n1.next(conversationEvent('updated', conversationId));
      assert.equal((updated.conversation as { title: string }).title, 'after');
      await p1.next(conversationEvent('updated', conversationId));
      await settle(p1);
      assert.equal(p1.frames.filter(conversationEvent('joined', conversationId)).length, 1);

      // A direct conversation has exactly its two members.
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const direct = String((await o1.sendMessage(uid('m'), p, 'dm')).conversationId);
      const dm = encodeURIComponent(direct);
      assert.equal((await api(t, o, 'POST', `/api/conversations/${dm}/members`, { userIds: [n] })).status, 403);
      assert.equal((await api(t, o, 'PATCH', `/api/conversations/${dm}`, { title: 't' })).status, 403);
      assert.equal((await api(t, o, 'DELETE', `/api/conversations/${dm}/members/${p}`)).status, 403);
      assert.equal((await api(t, n, 'POST', `/api/conversations/${dm}/members`, { userIds: [n] })).status, 404);
      await Promise.all([p1.close(), n1.close(), o1.close()]);
    });

    it('a new member is replayed only what came after it joined, live from the moment it joins; history shows everything', async () => {
      const o = uid('o');
      const n = uid('n');
      const { conversationId } = await groupOf([o]);
      const enc = encodeURIComponent(conversationId);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const old = [uid('m'), uid('m'), uid('m')];
      for (const messageId of old) await sendTo(o1, conversationId, messageId, 'old');
      // n is online before it joins: after `joined` it hears the group live.
      const { client: n1 } = await connectDevice(t, n, 'n1');
      assert.equal((await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [n] })).status, 200);
      await n1.next(conversationEvent('joined', conversationId));
      const fresh = uid('m');
      assert.equal((await sendTo(o1, conversationId, fresh, 'new')).seq, 4);
      assert.equal((await n1.next(messageFrom(fresh))).seq, 4);
      await settle(n1);
      for (const messageId of old) assert.equal(messagesOf(n1, messageId).length, 0);
      await n1.close();
      for (const device of ['n1', 'n2']) {
        const again = await connectDevice(t, n, device);
        assert.deepEqual(again.replayed.map((f) => f.seq), [4], `${device} replay starts after the join seq`);
        await again.client.close();
      }
      const history = await api(t, n, 'GET', `/api/conversations/${enc}/messages`);
      assert.equal(history.status, 200);
      assert.deepEqual(history.body.messages.map((m: { seq: number }) => m.seq), [1, 2, 3, 4]);
      assert.equal(history.body.hasMore, false);
      await o1.close();
    });

    it('pages history with before and limit (ascending, hasMore), forwards with after, refuses bad parameters, clamps limit to 200', async () => {
      const o = uid('o');
      const p = uid('p');
      const { conversationId } = await groupOf([o, p]);
      const enc = encodeURIComponent(conversationId);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const total = 205;
      const ids = Array.from({ length: total }, () => uid('h'));
      for (const [i, messageId] of ids.entries()) o1.send({ type: 'send', messageId, conversationId, body: `h${i + 1}` });
      await o1.next((f) => f.messageId === ids.at(-1) && f.status === 'SENT', 15_000);
      const get = (query: string) => api(t, p, 'GET', `/api/conversations/${enc}/messages${query}`);

      const newest = await get('?limit=3');
      assert.equal(newest.status, 200);
      assert.deepEqual(newest.body.messages.map((m: { seq: number }) => m.seq), [203, 204, 205]);
      assert.equal(newest.body.hasMore, true);
      assert.deepEqual(newest.body.messages[2], { messageId: ids[204], conversationId, seq: 205, from: o, body: 'h205', ts: newest.body.messages[2].ts });
      const page = await get('?before=203&limit=3');
      assert.deepEqual(page.body.messages.map((m: { seq: number }) => m.seq), [200, 201, 202]);
      assert.equal(page.body.hasMore, true);
      const first = await get('?before=3&limit=50');
      assert.deepEqual(first.body.messages.map((m: { body: string }) => m.body), ['h1', 'h2']);
      assert.equal(first.body.hasMore, false);
      const exact = await get('?before=4&limit=3');
      assert.deepEqual(exact.body.messages.map((m: { seq: number }) => m.seq), [1, 2, 3]);
      assert.equal(exact.body.hasMore, false);
      assert.deepEqual((await get('?before=1')).body, { messages: [], hasMore: false });
      // Default page: 50 newest.
      const byDefault = await get('');
      assert.equal(byDefault.body.messages.length, 50);
      assert.equal(byDefault.body.messages[0].seq, 156);
      // Over 200: clamped to 200.
      const clamped = await get('?limit=1000');
      assert.equal(clamped.status, 200);
      assert.equal(clamped.body.messages.length, 200);
      assert.equal(clamped.body.messages[0].seq, 6);
      assert.equal(clamped.body.hasMore, true);
      // Forwards with `after` (0: from the first), within `before` when both are given: a client fills
      // a gap between seqs it holds, or reads on from the last one it has.
      const forward = await get('?after=0&limit=3');
      assert.deepEqual(forward.body.messages.map((m: { seq: number }) => m.seq), [1, 2, 3]);
      assert.equal(forward.body.hasMore, true);
      const gap = await get('?after=100&before=104');
      assert.deepEqual(gap.body.messages.map((m: { seq: number }) => m.seq), [101, 102, 103]);
      assert.equal(gap.body.hasMore, false);
      const tail = await get('?after=203&limit=50');
      assert.deepEqual(tail.body.messages.map((m: { seq: number }) => m.seq), [204, 205]);
      assert.equal(tail.body.hasMore, false);
      assert.deepEqual((await get('?after=205')).body, { messages: [], hasMore: false });
      const clampedForward = await get('?after=0&limit=1000');
      assert.equal(clampedForward.body.messages.length, 200);
      assert.equal(clampedForward.body.messages[199].seq, 200);
      assert.equal(clampedForward.body.hasMore, true);
      for (const bad of ['?before=0', '?before=-1', '?before=abc', '?before=1.5', '?before=', '?before=1e3', '?limit=0', '?limit=-5', '?limit=2.0', '?limit=x', '?limit=', '?limit=99999999999999999999', '?before=%20%31', '?limit=2&limit=3', '?before=5&before=5', '?lim%69t=2&limit=2', '?after=-1', '?after=', '?after=x', '?after=01', '?after=1&after=2']) {
        const answer = await get(bad);
        assert.equal(answer.status, 400, bad);
        assert.equal(answer.body.error.code, 'bad_request', bad);
      }
      await o1.close();
    });

    it('lists conversations by recent activity with unread counts from others, lastMessage, readSeq and cursor paging', async () => {
      const u = uid('u');
      const v = uid('v');
      const w = uid('w');
      const { client: u1 } = await connectDevice(t, u, 'u1');
      const { client: v1 } = await connectDevice(t, v, 'v1');
      const { conversationId: group } = await groupOf([w, u, v], 'g');
      const { client: w1 } = await connectDevice(t, w, 'w1');
      await pause(5);
      const dm1 = uid('m');
      const direct = String((await v1.sendMessage(dm1, u, 'hello u')).conversationId);
      await pause(5);
      const g1 = uid('m');
      const g2 = uid('m');
      const g3 = uid('m');
      await sendTo(w1, group, g1, 'one');
      await sendTo(w1, group, g2, 'two');
      const ownAck = await sendTo(u1, group, g3, 'mine');
      const list = async (query = '') => {
        const answer = await api(t, u, 'GET', `/api/conversations${query}`);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        return answer.body as { conversations: any[]; next: string | null };
      };
      let page = await list();
      assert.deepEqual(page.conversations.map((c) => c.conversationId), [group, direct]);
      assert.equal(page.next, null);
      const [g, d] = page.conversations;
      assert.equal(g.kind, 'group');
      assert.equal(g.title, 'g');
      assert.deepEqual(g.members, [w, u, v]);
      assert.equal(g.memberCount, 3);
      assert.equal(g.lastSeq, 3);
      assert.deepEqual(g.lastMessage, { messageId: g3, from: u, body: 'mine', ts: ownAck.ts, seq: 3 });
      assert.equal(g.readSeq, 0);
      assert.equal(g.unread, 2, 'own messages are not unread');
      assert.equal('peer' in g, false);
      assert.equal(d.kind, 'direct');
      assert.equal(d.peer, v);
      assert.deepEqual([...d.members].sort(), [u, v].sort());
      assert.equal(d.lastSeq, 1);
      assert.equal(d.lastMessage.messageId, dm1);
      assert.equal(d.unread, 1);
      // The same item alone.
      const single = await api(t, u, 'GET', `/api/conversations/${encodeURIComponent(direct)}`);
      // The single item is the list item plus every member's positions (receipts).
      const { receipts, ...itemOnly } = single.body;
      assert.deepEqual(itemOnly, d);
      assert.deepEqual(receipts.map((r: { userId: string }) => r.userId).sort(), [u, v].sort());

      // Activity in the direct conversation moves it first.
      await pause(5);
      await v1.sendMessage(uid('m'), u, 'again');
      page = await list();
      assert.deepEqual(page.conversations.map((c) => c.conversationId), [direct, group]);
      assert.equal(page.conversations[0].unread, 2);

      // Reading moves readSeq and unread.
      u1.send({ type: 'read', conversationId: group, seq: 1 });
      await u1.next((f) => f.type === 'receipt' && f.conversationId === group && f.readSeq === 1);
      const afterRead = (await list()).conversations.find((c) => c.conversationId === group);
      assert.equal(afterRead.readSeq, 1);
      assert.equal(afterRead.unread, 1);

      // Paging: one at a time, then the end.
      const p1 = await list('?limit=1');
      assert.deepEqual(p1.conversations.map((c) => c.conversationId), [direct]);
      assert.equal(typeof p1.next, 'string');
      const p2 = await list(`?limit=1&cursor=${encodeURIComponent(p1.next!)}`);
      assert.deepEqual(p2.conversations.map((c) => c.conversationId), [group]);
      if (p2.next !== null) {
        const p3 = await list(`?limit=1&cursor=${encodeURIComponent(p2.next)}`);
        assert.deepEqual(p3.conversations, []);
        assert.equal(p3.next, null);
      }
      // Bad parameters.
      // Given twice, which value counts would be a guess (and a proxy in front may guess the other).
      for (const bad of ['?cursor=garbage', '?cursor=%7B%22%24gt%22%3A%22%22%7D', '?limit=0', '?limit=abc', '?limit=-1', '?limit=1&limit=2', `?limit=1&cursor=${encodeURIComponent(p1.next!)}&cursor=${encodeURIComponent(p1.next!)}`]) {
        const answer = await api(t, u, 'GET', `/api/conversations${bad}`);
        assert.equal(answer.status, 400, bad);
        assert.equal(answer.body.error.code, 'bad_request', bad);
      }
      // A user with nothing gets an empty list.
      assert.deepEqual((await api(t, uid('nobody'), 'GET', '/api/conversations')).body, { conversations: [], next: null });
      await Promise.all([u1.close(), v1.close(), w1.close()]);
    });

    it('pages the conversation list without skipping or repeating conversations whose activity ties', async () => {
      const u = uid('u');
      const { client: sender } = await connectDevice(t, u, 'u1');
      // Twelve direct conversations started in one burst: many share an accept millisecond.
      const peers = Array.from({ length: 12 }, () => uid('peer'));
      const ids = peers.map(() => uid('m'));
      for (const [i, peer] of peers.entries()) sender.send({ type: 'send', messageId: ids[i], to: peer, body: 'hi' });
      await sender.next((f) => f.messageId === ids.at(-1) && f.status === 'SENT');
      const seen: string[] = [];
      const stamps: number[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 20; pages++) {
        const query: string = `?limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = await api(t, u, 'GET', `/api/conversations${query}`);
        assert.equal(page.status, 200);
        seen.push(...page.body.conversations.map((c: { peer: string }) => c.peer));
        stamps.push(...page.body.conversations.map((c: { lastMessage: { ts: number } }) => c.lastMessage.ts));
        cursor = page.body.next;
        if (cursor === null) break;
      }
      assert.equal(cursor, null);
      assert.equal(seen.length, 12, JSON.stringify(seen));
      assert.deepEqual([...seen].sort(), [...peers].sort());
      // Most recent first (ties in any order, but each once).
      assert.deepEqual(stamps, [...stamps].sort((a, b) => b - a));
      await sender.close();
    });

    it('read frames send receipts with readSeq to the other members and the reader’s other devices; the watermark never moves back and is clamped', async () => {
      const o = uid('o');
      const p = uid('p');
      const q = uid('q');
      const { conversationId } = await groupOf([o, p, q]);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const { client: p1 } = await connectDevice(t, p, 'p1');
      const { client: p2 } = await connectDevice(t, p, 'p2');
      const { client: q1 } = await connectDevice(t, q, 'q1');
      const ids = [uid('m'), uid('m'), uid('m')];
      for (const messageId of ids) await sendTo(o1, conversationId, messageId, 'x');
      await p1.next(messageFrom(ids[2]!));
      const isReadReceipt = (readSeq: number) => (f: Frame) => f.type === 'receipt' && f.conversationId === conversationId && f.userId === p && f.readSeq === readSeq;
      p1.send({ type: 'read', conversationId, seq: 2 });
      for (const device of [o1, q1, p2]) {
        const receipt = await device.next(isReadReceipt(2));
        assert.equal(receipt.readSeq, 2);
        // Read implies delivered for this device: the delivered watermark is 2 at least.
        assert.ok(receipt.deliveredSeq === undefined || (receipt.deliveredSeq as number) >= 2);
        assert.deepEqual(Object.keys(receipt).slice(0, 3), ['type', 'conversationId', 'userId']);
      }
      // Backwards: no receipt, readSeq stays.
      p1.send({ type: 'read', conversationId, seq: 1 });
      await settle(o1, q1, p2, p1);
      for (const device of [o1, q1, p2]) assert.equal(device.frames.filter(isReadReceipt(1)).length, 0);
      const enc = encodeURIComponent(conversationId);
      assert.equal((await api(t, p, 'GET', `/api/conversations/${enc}`)).body.readSeq, 2);
      // Past the end: clamped to the last seq.
      p2.send({ type: 'read', conversationId, seq: 1_000_000 });
      await o1.next(isReadReceipt(3));
      await p1.next(isReadReceipt(3));
      await settle(o1);
      assert.equal(o1.frames.filter((f) => f.type === 'receipt' && f.userId === p && (f.readSeq as number) > 3).length, 0);
      const item = (await api(t, p, 'GET', `/api/conversations/${enc}`)).body;
      assert.equal(item.readSeq, 3);
      assert.equal(item.unread, 0);
      // Reading implied delivery for p1 (up to 2) and p2 (up to 3): not replayed again.
      await Promise.all([p1.close(), p2.close()]);
      assert.deepEqual((await connectDevice(t, p, 'p1')).replayed.map((f) => f.seq), [3]);
      assert.deepEqual((await connectDevice(t, p, 'p2')).replayed, []);
      // A read of seq 0 is harmless; receipts never go to a non-member.
      const { client: x1 } = await connectDevice(t, uid('x'), 'x1');
      q1.send({ type: 'read', conversationId, seq: 0 });
      q1.send({ type: 'read', conversationId, seq: 3 });
      await o1.next((f) => f.type === 'receipt' && f.userId === q && f.readSeq === 3);
      await settle(x1);
      assert.equal(x1.frames.filter((f) => f.type === 'receipt').length, 0);
      await Promise.all([o1.close(), q1.close(), x1.close()]);
    });

    it('delivered watermarks send receipts with deliveredSeq, coalesced', async () => {
      const o = uid('o');
      const p = uid('p');
      const { conversationId } = await groupOf([o, p]);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const { client: p1 } = await connectDevice(t, p, 'p1');
      const ids = [uid('m'), uid('m')];
      for (const messageId of ids) await sendTo(o1, conversationId, messageId, 'x');
      await p1.next(messageFrom(ids[1]!));
      p1.send({ type: 'delivered', messageIds: ids });
      const receipt = await o1.next((f) => f.type === 'receipt' && f.userId === p && f.deliveredSeq === 2);
      assert.deepEqual(receipt, { type: 'receipt', conversationId, userId: p, deliveredSeq: 2 });
      await settle(o1);
      assert.equal(o1.frames.filter((f) => f.type === 'receipt' && f.userId === p).length, 1, 'one receipt for one confirmation frame');
      // A group has no DELIVERED acks (direct conversations only).
      assert.equal(o1.frames.filter((f) => f.status === 'DELIVERED').length, 0);
      await Promise.all([o1.close(), p1.close()]);
    });

    it('relays typing to the other members (not the typer’s devices), once per 2 s per user and conversation', async () => {
      const o = uid('o');
      const p = uid('p');
      const q = uid('q');
      const { conversationId } = await groupOf([o, p, q]);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const { client: o2 } = await connectDevice(t, o, 'o2');
      const { client: p1 } = await connectDevice(t, p, 'p1');
      const { client: p2 } = await connectDevice(t, p, 'p2');
      const { client: q1 } = await connectDevice(t, q, 'q1');
      const { client: x1 } = await connectDevice(t, uid('x'), 'x1');
      const isTyping = (f: Frame) => f.type === 'typing' && f.conversationId === conversationId;
      p1.send({ type: 'typing', conversationId });
      for (const device of [o1, o2, q1]) assert.deepEqual(await device.next(isTyping), { type: 'typing', conversationId, userId: p });
      p1.send({ type: 'typing', conversationId });
      p2.send({ type: 'typing', conversationId });
      // Another user's typing is not throttled by p's.
      q1.send({ type: 'typing', conversationId });
      await o1.next((f) => isTyping(f) && f.userId === q);
      await settle(o1, o2, p1, p2, q1, x1);
      assert.equal(o1.frames.filter((f) => isTyping(f) && f.userId === p).length, 1, 'a second typing within 2 s was relayed');
      assert.equal(q1.frames.filter((f) => isTyping(f) && f.userId === p).length, 1);
      assert.equal(p1.frames.filter((f) => isTyping(f) && f.userId === p).length, 0, 'the typer got its own typing');
      assert.equal(p2.frames.filter((f) => isTyping(f) && f.userId === p).length, 0, 'the typer’s other device got its own typing');
      assert.equal(q1.frames.filter((f) => isTyping(f) && f.userId === q).length, 0);
      assert.equal(x1.frames.filter((f) => f.type === 'typing').length, 0);
      // A dropped typing is silent: no error to the typer (the barrier's own not_found aside).
      assert.deepEqual(p1.frames.filter((f) => f.type === 'error').map((f) => f.code), ['not_found']);
      assert.deepEqual(p2.frames.filter((f) => f.type === 'error').map((f) => f.code), ['not_found']);
      // After the interval, p's typing is relayed again; typing is never stored.
      const stored = (await t.store.counts()).messages;
      await pause(t.config.limits.typingIntervalMs + 50);
      p2.send({ type: 'typing', conversationId });
      await o1.next((f) => isTyping(f) && f.userId === p);
      assert.equal((await t.store.counts()).messages, stored);
      // In a direct conversation typing reaches the peer.
      const direct = String((await o1.sendMessage(uid('m'), p, 'dm')).conversationId);
      o1.send({ type: 'typing', conversationId: direct });
      assert.deepEqual(await p1.next((f) => f.type === 'typing' && f.conversationId === direct), { type: 'typing', conversationId: direct, userId: o });
      await Promise.all([o1, o2, p1, p2, q1, x1].map((c) => c.close()));
    });

    it('in a direct conversation: read implies delivered (DELIVERED acks), receipts reach both users, history for both, 404 for others', async () => {
      const a = uid('a');
      const b = uid('b');
      const { client: a1 } = await connectDevice(t, a, 'a1');
      const { client: a2 } = await connectDevice(t, a, 'a2');
      const ids = [uid('m'), uid('m'), uid('m')];
      let conversationId = '';
      for (const messageId of ids) conversationId = String((await a1.sendMessage(messageId, b, messageId)).conversationId);
      const { client: b1 } = await connectDevice(t, b, 'b1');
      const { client: b2 } = await connectDevice(t, b, 'b2');
      b1.send({ type: 'read', conversationId, seq: 2 });
      await a1.next((f) => f.status === 'DELIVERED' && f.messageId === ids[1]);
      for (const device of [a1, a2, b2]) {
        const receipt = await device.next((f) => f.type === 'receipt' && f.userId === b && f.readSeq === 2);
        assert.deepEqual(receipt, { type: 'receipt', conversationId, userId: b, deliveredSeq: 2, readSeq: 2 });
      }
      await settle(a1);
      assert.deepEqual(a1.frames.filter((f) => f.status === 'DELIVERED').map((f) => f.messageId).sort(), ids.slice(0, 2).sort());
      const enc = encodeURIComponent(conversationId);
      for (const user of [a, b]) {
        const history = await api(t, user, 'GET', `/api/conversations/${enc}/messages`);
        assert.deepEqual(history.body.messages.map((m: { messageId: string }) => m.messageId), ids);
        assert.equal(history.body.messages[0].to, b);
      }
      assert.equal((await api(t, uid('c'), 'GET', `/api/conversations/${enc}/messages`)).status, 404);
      assert.equal((await api(t, b, 'GET', `/api/conversations/${enc}`)).body.unread, 1);
      await Promise.all([a1, a2, b1, b2].map((c) => c.close()));
    });

    it('accepts sends with conversationId over HTTP POST /api/messages, answered with conversationId and seq', async () => {
      const o = uid('o');
      const p = uid('p');
      const { conversationId } = await groupOf([o, p]);
      const { client: p1 } = await connectDevice(t, p, 'p1');
      const messageId = uid('m');
      const sent = await api(t, o, 'POST', '/api/messages', { messageId, conversationId, body: 'via http' });
      assert.equal(sent.status, 201);
      assert.deepEqual(sent.body, { status: 'SENT', messageId, ts: sent.body.ts, duplicate: false, conversationId, seq: 1 });
      assert.deepEqual(await p1.next(messageFrom(messageId)), { type: 'message', messageId, from: o, body: 'via http', ts: sent.body.ts, conversationId, seq: 1 });
      const again = await api(t, o, 'POST', '/api/messages', { messageId, conversationId, body: 'via http' });
      assert.equal(again.status, 200);
      assert.equal(again.body.duplicate, true);
      assert.equal(again.body.seq, 1);
      // The HTTP door has no device: every device of the sender gets it.
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const m2 = uid('m');
      await api(t, o, 'POST', '/api/messages', { messageId: m2, conversationId, body: 'second' });
      await o1.next(messageFrom(m2));
      await Promise.all([p1.close(), o1.close()]);
    });

    it('refuses bad input on every new route with a clear 400 (objects where strings belong included)', async () => {
      const o = uid('o');
      const { conversationId } = await groupOf([o, uid('p')]);
      const enc = encodeURIComponent(conversationId);
      const badCreates: unknown[] = [
        '[]', 'null', '"title"', '{', {}, { title: 'x' }, { members: [] }, { title: '', members: [] }, { title: '   ', members: [] },
        { title: 42, members: [] }, { title: { $gt: '' }, members: [] }, { title: 'x', members: 'u1' }, { title: 'x', members: [{ $gt: '' }] },
        { title: 'x', members: ['bad id'] }, { title: 'x', members: [''] }, { title: 'x', members: ['a'.repeat(65)] }, { title: 'x'.repeat(201), members: [] },
        { title: 'nul\u0000', members: [] }, { title: 'x', members: { 0: 'a' } },
      ];
      for (const body of badCreates) {
        const answer = await api(t, o, 'POST', '/api/conversations', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.error.code, 'bad_request', JSON.stringify(body));
        assert.equal(typeof answer.body.error.message, 'string');
      }
      assert.equal((await api(t, o, 'POST', '/api/conversations', { title: 'x', members: [] }, { 'content-type': 'text/plain' })).status, 415);
      assert.equal((await api(t, o, 'POST', '/api/conversations', { title: 'x', members: [] }, { 'idempotency-key': 'k'.repeat(129) })).status, 400);
      assert.equal((await api(t, o, 'POST', '/api/conversations', { title: 'x', members: [] }, { 'idempotency-key': 'has space' })).status, 400);
      for (const body of [{}, { userIds: [] }, { userIds: 'p' }, { userIds: [{ $gt: '' }] }, { userIds: ['bad id'] }, [], '{']) {
        const answer = await api(t, o, 'POST', `/api/conversations/${enc}/members`, body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.error.code, 'bad_request');
      }
      for (const body of [{}, { title: '' }, { title: { $gt: '' } }, { title: ['x'] }, 'null']) {
        const answer = await api(t, o, 'PATCH', `/api/conversations/${enc}`, body);
        assert.equal(answer.status, 400, JSON.stringify(body));
      }
      assert.equal((await api(t, o, 'DELETE', `/api/conversations/${enc}/members/bad%20id`)).status, 400);
      assert.equal((await api(t, o, 'DELETE', `/api/conversations/${enc}/members/%7B%22%24gt%22%3A%22%22%7D`)).status, 400);
      for (const badId of ['bad%20id', 'x'.repeat(129), '%7B%22%24gt%22%3A%22%22%7D', '%E0%A4%A']) {
        for (const [method, path, body] of [['GET', '', undefined], ['GET', '/messages', undefined], ['PATCH', '', { title: 'x' }], ['POST', '/members', { userIds: ['a'] }]] as const) {
          const answer = await api(t, o, method, `/api/conversations/${badId}${path}`, body);
          assert.equal(answer.status, 400, `${method} ${badId}${path}`);
        }
      }
      // HTTP sends: conversationId must be a string; exactly one of to and conversationId.
      for (const body of [{ messageId: uid('m'), conversationId: { $gt: '' }, body: 'x' }, { messageId: uid('m'), conversationId, to: o, body: 'x' }, { messageId: uid('m'), conversationId: '', body: 'x' }, { messageId: uid('m'), body: 'x' }]) {
        const answer = await api(t, o, 'POST', '/api/messages', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
      }
      // Unauthenticated: 401 on the new routes.
      for (const [method, path] of [['GET', '/api/conversations'], ['POST', '/api/conversations'], ['GET', `/api/conversations/${enc}`], ['GET', `/api/conversations/${enc}/messages`]] as const) {
        const response = await fetch(`${t.httpUrl}${path}`, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{"title":"x","members":[]}' } : {}) });
        assert.equal(response.status, 401, `${method} ${path}`);
        await response.text();
      }
    });

    it('refuses bad new frames with bad_request and keeps the connection open', async () => {
      const o = uid('o');
      const p = uid('p');
      const { conversationId } = await groupOf([o, p]);
      const { client: o1 } = await connectDevice(t, o, 'o1');
      const badFrames: unknown[] = [
        { type: 'send', messageId: uid('m'), conversationId: { $gt: '' }, body: 'x' },
        { type: 'send', messageId: uid('m'), conversationId: ['a'], body: 'x' },
        { type: 'send', messageId: uid('m'), conversationId, to: p, body: 'x' },
        { type: 'send', messageId: uid('m'), conversationId: '', body: 'x' },
        { type: 'send', messageId: uid('m'), conversationId: 'x'.repeat(129), body: 'x' },
        { type: 'send', messageId: uid('m'), conversationId: 'has space', body: 'x' },
        { type: 'read', conversationId: { $gt: '' }, seq: 1 },
        { type: 'read', conversationId, seq: -1 },
        { type: 'read', conversationId, seq: '1' },
        { type: 'read', conversationId, seq: 1.5 },
        { type: 'read', conversationId, seq: { $gt: 0 } },
        { type: 'read', conversationId },
        { type: 'read', seq: 1 },
        { type: 'read', conversationId, seq: 2 ** 53 },
        { type: 'typing' },
        { type: 'typing', conversationId: { $gt: '' } },
        { type: 'typing', conversationId: 7 },
        { type: 'delivered', conversationId, seq: -1 },
        { type: 'delivered', conversationId, seq: null },
        { type: 'delivered', conversationId },
        { type: 'delivered', seq: 3 },
        { type: 'delivered', conversationId: { $gt: '' }, seq: 1 },
        { type: 'delivered', conversationId, seq: 1, messageIds: ['a'] },
        { type: 'delivered', messageIds: [{ $gt: '' }] },
      ];
      for (const frame of badFrames) {
        o1.send(frame);
        const error = await o1.next((f) => f.type === 'error');
        assert.equal(error.code, 'bad_request', JSON.stringify(frame));
        assert.equal(typeof error.message, 'string');
        assert.ok((error.message as string).length > 0);
        // A read or watermark naming a valid conversation is answered naming it (protocol.md).
        const { type, conversationId: frameConversation } = frame as { type: string; conversationId?: unknown };
        const named = type !== 'send' && frameConversation === conversationId;
        assert.equal(error.conversationId, named ? conversationId : undefined, JSON.stringify(frame));
      }
      // Still open, still usable, and nothing was stored or marked.
      const ok = uid('m');
      assert.equal((await sendTo(o1, conversationId, ok, 'still open')).seq, 1);
      await barrier(o1);
      await o1.close();
    });
  });
}

describe('group size limit (MAX_GROUP_MEMBERS=3)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { MAX_GROUP_MEMBERS: '3' } });
  });
  after(() => t.close());

  it('answers 413 too_large for a group or an addition past the limit', async () => {
    const o = uid('o');
    const tooBig = await createGroup(t, o, [uid('a'), uid('b'), uid('c')]);
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.body.error.code, 'too_large');
    // The owner counts; duplicates and the owner in the list do not.
    const a = uid('a');
    const b = uid('b');
    const full = await createGroup(t, o, [a, b, a, o]);
    assert.equal(full.status, 201);
    assert.deepEqual(full.body.members, [o, a, b]);
    const enc = encodeURIComponent(full.body.conversationId);
    const add = await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [uid('d')] });
    assert.equal(add.status, 413);
    assert.equal(add.body.error.code, 'too_large');
    // Re-adding current members is no growth.
    assert.equal((await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [a] })).status, 200);
    // After someone leaves there is room again.
    assert.equal((await api(t, b, 'DELETE', `/api/conversations/${enc}/members/${b}`)).status, 204);
    assert.equal((await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [uid('e')] })).status, 200);
    assert.equal((await api(t, o, 'GET', `/api/conversations/${enc}`)).body.memberCount, 3);
  });
});


describe('large groups and per-user rates (RECEIPTS_MAX_MEMBERS=2, small read and typing rates)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { RECEIPTS_MAX_MEMBERS: '2', READ_RATE_PER_SEC: '1', READ_BURST: '2', TYPING_RATE_PER_SEC: '1', TYPING_BURST: '2', TYPING_INTERVAL_MS: '0', CONVERSATION_CHANGES_PER_MIN: '3', MAX_MEMBERS_PER_ADD: '2' } });
  });
  after(() => t.close());

  it('in a group over RECEIPTS_MAX_MEMBERS, receipts go only to the reader’s own devices and typing is not relayed', async () => {
    const o = uid('o');
    const p = uid('p');
    const q = uid('q');
    const created = await createGroup(t, o, [p, q]);
    const conversationId = created.body.conversationId as string;
    const { client: o1 } = await connectDevice(t, o, 'o1');
    const { client: p1 } = await connectDevice(t, p, 'p1');
    const { client: p2 } = await connectDevice(t, p, 'p2');
    await sendTo(o1, conversationId, uid('m'), 'x');
    p1.send({ type: 'read', conversationId, seq: 1 });
    await p2.next((f) => f.type === 'receipt' && f.userId === p && f.readSeq === 1);
    p1.send({ type: 'typing', conversationId });
    await settle(o1, p2);
    assert.equal(o1.frames.filter((f) => f.type === 'receipt' || f.type === 'typing').length, 0);
    assert.equal((await api(t, p, 'GET', `/api/conversations/${encodeURIComponent(conversationId)}`)).body.readSeq, 1);
    await Promise.all([o1.close(), p1.close(), p2.close()]);
  });

  it('rate limits read and typing per user with rate_limited, and the connection stays open', async () => {
    const o = uid('o');
    const p = uid('p');
    const created = await createGroup(t, o, [p]);
    const conversationId = created.body.conversationId as string;
    const { client: o1 } = await connectDevice(t, o, 'o1');
    for (let i = 0; i < 3; i++) o1.send({ type: 'typing', conversationId });
    const typingLimited = await o1.next((f) => f.type === 'error');
    assert.equal(typingLimited.code, 'rate_limited');
    assert.equal(typeof typingLimited.retryAfter, 'number');
    for (let i = 0; i < 3; i++) o1.send({ type: 'read', conversationId, seq: 0 });
    const readLimited = await o1.next((f) => f.type === 'error');
    assert.equal(readLimited.code, 'rate_limited');
    assert.equal((await sendTo(o1, conversationId, uid('m'), 'still open')).status, 'SENT');
    await o1.close();
  });

  it('a client flooding typing past its limit is closed like a send flood (1008)', async () => {
    const o = uid('o');
    const created = await createGroup(t, o, []);
    const { client: o1 } = await connectDevice(t, o, 'o1');
    for (let i = 0; i < 40; i++) o1.send({ type: 'typing', conversationId: created.body.conversationId });
    const closed = await o1.closed;
    assert.equal(closed.code, 1008);
    assert.ok(o1.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited').length >= 1);
  });

  it('limits conversation changes per user (429 with Retry-After) and members per call (413)', async () => {
    const o = uid('o');
    const tooMany = await createGroup(t, o, [uid('a'), uid('b'), uid('c')]);
    assert.equal(tooMany.status, 413);
    assert.equal(tooMany.body.error.code, 'too_large');
    const created = await createGroup(t, o, [uid('a')]);
    assert.equal(created.status, 201);
    const enc = encodeURIComponent(created.body.conversationId);
    assert.equal((await api(t, o, 'POST', `/api/conversations/${enc}/members`, { userIds: [uid('d'), uid('e'), uid('f')] })).status, 413);
    assert.equal((await api(t, o, 'PATCH', `/api/conversations/${enc}`, { title: 'two' })).status, 200);
    assert.equal((await api(t, o, 'PATCH', `/api/conversations/${enc}`, { title: 'three' })).status, 200);
    const response = await fetch(`${t.httpUrl}/api/conversations/${enc}`, {
      method: 'PATCH', headers: { authorization: `Bearer ${await t.token(o)}`, 'content-type': 'application/json' }, body: '{"title":"four"}',
    });
    assert.equal(response.status, 429);
    assert.ok(Number(response.headers.get('retry-after')) >= 1);
    const refusal = ((await response.json()) as { error: { code: string; retryAfter: number } }).error;
    assert.equal(refusal.code, 'rate_limited');
    assert.equal(refusal.retryAfter, Number(response.headers.get('retry-after')), 'the body says it too, as the WebSocket error frames do');
    assert.equal((await api(t, o, 'GET', `/api/conversations/${enc}`)).body.title, 'three');
    // Another user is not limited by o's changes.
    assert.equal((await createGroup(t, uid('other'), [])).status, 201);
  });

  it('lets a user leave however many groups others added it to: leaving is not a change of its own', async () => {
    const victim = uid('v');
    const groups: string[] = [];
    // Two adders (3 changes a minute each) put the victim in 6 groups: twice what it may change itself.
    for (const adder of [uid('x'), uid('y')]) for (let i = 0; i < 3; i++) groups.push((await createGroup(t, adder, [victim])).body.conversationId as string);
    for (const conversationId of groups) {
      assert.equal((await api(t, victim, 'DELETE', `/api/conversations/${encodeURIComponent(conversationId)}/members/${victim}`)).status, 204);
    }
    assert.deepEqual((await api(t, victim, 'GET', '/api/conversations')).body, { conversations: [], next: null });
  });
});

for (const variant of storeVariants()) describe(`groups per user (MAX_GROUPS_PER_USER=2, ${variant.name} store)`, () => {
  let t: TestServer;
  const SERVER_KEY = 'k3y-for-groups-per-user-0123456789abcdefghij';
  before(async () => {
    t = await startTestServer({ store: await variant.create(), env: { MAX_GROUPS_PER_USER: '2', SERVER_API_KEY: SERVER_KEY } });
  });
  after(async () => {
    await t.close();
    await variant.cleanup();
  });
  const membersOf = async (owner: string, conversationId: string) => (await api(t, owner, 'GET', `/api/conversations/${encodeURIComponent(conversationId)}`)).body.members as string[];

  it('refuses to make a user a member of more groups (413, naming the user, nothing changed); leaving makes room', async () => {
    const [victim, x, y, z, w] = [uid('v'), uid('x'), uid('y'), uid('z'), uid('w')];
    const key = { 'idempotency-key': uid('key') };
    const first = await createGroup(t, x, [victim], 'one', key);
    assert.equal(first.status, 201);
    assert.equal((await createGroup(t, y, [victim], 'two')).status, 201);
    // A third group with the victim in it is not created, for anyone in it.
    const third = await createGroup(t, z, [w, victim]);
    assert.equal(third.status, 413, JSON.stringify(third.body));
    assert.equal(third.body.error.code, 'too_large');
    assert.match(third.body.error.message, new RegExp(`"${victim}" is in 2 groups already`));
    assert.deepEqual(third.body.error.users, [victim], 'the users to leave out, for a program');
    assert.deepEqual((await api(t, w, 'GET', '/api/conversations')).body.conversations, [], 'w was not put in a group either');
    // Nor can the victim create one: it counts as the owner's membership.
    assert.equal((await createGroup(t, victim, [])).status, 413);
    // An addition is refused whole: w, not at its cap, is not added without the victim.
    const zs = (await createGroup(t, z, [])).body.conversationId as string;
    const add = await api(t, z, 'POST', `/api/conversations/${encodeURIComponent(zs)}/members`, { userIds: [w, victim] });
    assert.equal(add.status, 413);
    assert.match(add.body.error.message, new RegExp(`"${victim}"`));
    assert.deepEqual(await membersOf(z, zs), [z]);
    // A retry of a creation that went through is not a new group: it answers with the group.
    const retry = await createGroup(t, x, [victim], 'one', key);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.equal(retry.body.conversationId, first.body.conversationId);
    // Direct conversations do not count.
    const { client } = await connectDevice(t, victim, 'phone');
    const messageId = uid('m');
    client.send({ type: 'send', messageId, to: w, body: 'hi' });
    assert.equal((await client.next((f) => f.messageId === messageId)).type, 'ack');
    await client.close();
    // After leaving one group, the victim can be added to another.
    assert.equal((await api(t, victim, 'DELETE', `/api/conversations/${encodeURIComponent(first.body.conversationId)}/members/${victim}`)).status, 204);
    assert.equal((await api(t, z, 'POST', `/api/conversations/${encodeURIComponent(zs)}/members`, { userIds: [w, victim] })).status, 200);
    assert.deepEqual(await membersOf(z, zs), [z, w, victim]);
  });

  it('holds under concurrent creations and additions naming one user: the count and the write are one step', async () => {
    const victim = uid('v');
    const owners = Array.from({ length: 8 }, () => uid('o'));
    const created = await Promise.all(owners.map((owner) => createGroup(t, owner, [victim])));
    assert.deepEqual(created.map((r) => r.status).sort(), [201, 201, 413, 413, 413, 413, 413, 413], JSON.stringify(created.map((r) => r.body)));
    const other = uid('w');
    const empty = await Promise.all(owners.map(async (owner) => (await createGroup(t, owner, [])).body.conversationId as string));
    const added = await Promise.all(empty.map((id, i) => api(t, owners[i]!, 'POST', `/api/conversations/${encodeURIComponent(id)}/members`, { userIds: [other] })));
    assert.deepEqual(added.map((r) => r.status).sort(), [200, 200, 413, 413, 413, 413, 413, 413]);
    assert.equal((await api(t, victim, 'GET', '/api/conversations')).body.conversations.length, 2);
    assert.equal((await api(t, other, 'GET', '/api/conversations')).body.conversations.length, 2);
  });

  it('counts users of other issuers whose ids start with @ like anyone else', async () => {
    const external = uid('@ext');
    assert.equal((await createGroup(t, external, [])).status, 201);
    assert.equal((await createGroup(t, external, [])).status, 201);
    assert.equal((await createGroup(t, external, [])).status, 413);
  });

  it('does not count the server’s own @system against it: it posts into every group it was put in', async () => {
    const serverGroup = (i: number) => fetch(`${t.httpUrl}/api/server/groups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ownerId: '@system', title: `news ${i}`, members: [uid(`m${i}`)] }),
    });
    for (let i = 0; i < 3; i++) assert.equal((await serverGroup(i)).status, 201);
  });
});
