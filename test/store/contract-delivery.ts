// The Store contract, part 2: delivery. Per-device cursors, replay targets, confirmations by id and
// up to a seq, the exactly-once delivery mark per user, deliveryState and counts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { directConversationId } from '../../src/store/conversation-ids.js';
import type { NewMessage, ReplayTarget, Store, StoredMessage } from '../../src/store/store.js';
import type { StoreVariant } from '../helpers/stores.js';
import { contractFixtures } from './contract.js';

export function runDeliveryContract(variant: StoreVariant): void {
  describe(`Store contract: ${variant.label ?? variant.name}: delivery`, () => {
    let store: Store;
    const { uid, direct, inGroup, now } = contractFixtures();
    const send = async (message: NewMessage): Promise<StoredMessage> => {
      const result = await store.persist(message);
      assert.equal(result.kind, 'created', `persist ${message.messageId}: ${result.kind}`);
      return (result as { message: StoredMessage }).message;
    };
    const target = (targets: ReplayTarget[], conversationId: string) => targets.find((t) => t.conversationId === conversationId);

    before(async () => {
      store = await variant.create();
    });
    after(async () => {
      await store.close();
      await variant.cleanup();
    });

    it('replays to every device until that device confirms; the sending device never has its own message pending', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const conversationId = directConversationId(alice, bob);
      // Both of bob's devices and alice's second device are known before the message.
      for (const [user, device] of [[bob, 'b1'], [bob, 'b2'], [alice, 'a2']] as const) assert.deepEqual(await store.replayTargets(user, device), []);
      const m = await send(direct(alice, bob, { fromDevice: 'a1' }));
      assert.deepEqual(await store.replayTargets(bob, 'b1'), [{ conversationId, cursor: { upTo: 0, runs: [] }, lastSeq: 1 }]);
      assert.deepEqual(await store.replayTargets(alice, 'a1'), [], 'its own sending device');
      assert.equal(target(await store.replayTargets(alice, 'a2'), conversationId)?.lastSeq, 1, "the sender's other device gets it");

      const confirmed = await store.confirmIds(bob, 'b1', [m.messageId]);
      assert.equal(confirmed.marks.length, 1);
      assert.deepEqual(await store.replayTargets(bob, 'b1'), []);
      assert.deepEqual(await store.deviceCursor(bob, 'b1', conversationId), { upTo: 1, runs: [] });
      assert.equal(target(await store.replayTargets(bob, 'b2'), conversationId)?.lastSeq, 1, 'b2 still has it');
      assert.equal(await store.deviceCursor(bob, 'b2', conversationId), undefined);

      // The second device confirming the same message makes no second mark.
      const second = await store.confirmIds(bob, 'b2', [m.messageId]);
      assert.deepEqual(second.marks, []);
      assert.deepEqual(await store.replayTargets(bob, 'b2'), []);
      assert.deepEqual(await store.deliveryState(m.messageId, bob), { status: 'delivered', deliveredAt: confirmed.marks[0]!.deliveredAt, marks: 1 });
    });

    it('forgets the devices seen longest ago past MAX_DEVICES_PER_USER; one that comes back starts where its user is', async () => {
      let forgotten = 0;
      const bounded = await variant.create({ maxDevicesPerUser: 3, onDeviceForgotten: () => forgotten++ });
      try {
        const [alice, bob] = [uid('alice'), uid('bob')];
        const conversationId = directConversationId(alice, bob);
        const persist = async (message: NewMessage) => ((await bounded.persist(message)) as { message: StoredMessage }).message;
        assert.deepEqual(await bounded.replayTargets(bob, 'old'), []);
        const first = await persist(direct(alice, bob));
        const second = await persist(direct(alice, bob));
        await bounded.confirmIds(bob, 'old', [first.messageId]);
        for (const device of ['d2', 'd3']) assert.equal(target(await bounded.replayTargets(bob, device), conversationId)?.lastSeq, 2);
        assert.deepEqual(await bounded.deviceCursor(bob, 'old', conversationId), { upTo: 1, runs: [] });
        // A fourth device: the one seen longest ago ('old') is forgotten, the others stay.
        await bounded.replayTargets(bob, 'd4');
        assert.equal(await bounded.deviceCursor(bob, 'old', conversationId), undefined, 'forgotten: its cursor is gone');
        assert.equal(forgotten, 1, 'the forgetting is told once (the metric)');
        assert.ok(await bounded.deviceCursor(bob, 'd4', conversationId), 'the new device has its copy of the user cursor');
        // Back, it is a new device: it starts where its user is (the first message confirmed, the second not).
        assert.deepEqual(await bounded.replayTargets(bob, 'old'), [{ conversationId, cursor: { upTo: 1, runs: [] }, lastSeq: 2 }]);
        assert.equal(forgotten, 2, "coming back, it took the place of the one seen longest ago now ('d2')");
        const marks = await bounded.confirmIds(bob, 'old', [first.messageId, second.messageId]);
        assert.deepEqual(marks.marks.map((mark) => mark.messageId), [second.messageId], 'the first message is not marked twice');
      } finally {
        await bounded.close();
      }
    });

    it('a device seen for the first time starts from the user-level cursor', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const conversationId = directConversationId(alice, bob);
      const sent: StoredMessage[] = [];
      for (let i = 0; i < 4; i++) sent.push(await send(direct(alice, bob)));
      await store.confirmIds(bob, 'b1', [sent[0]!.messageId, sent[1]!.messageId, sent[3]!.messageId]);
      // b3 has never been seen: what b1 confirmed is done for it too, seq 3 is not.
      assert.deepEqual(await store.replayTargets(bob, 'b3'), [{ conversationId, cursor: { upTo: 2, runs: [4, 4] }, lastSeq: 4 }]);
      // From now on b3 has its own cursor: b1 confirming 3 does not move it.
      await store.confirmIds(bob, 'b1', [sent[2]!.messageId]);
      assert.deepEqual(await store.replayTargets(bob, 'b1'), []);
      assert.deepEqual(target(await store.replayTargets(bob, 'b3'), conversationId)?.cursor, { upTo: 2, runs: [4, 4] });
    });

    it('a device is first seen by whatever it does first: a send or a confirmation also starts it from the user-level cursor', async () => {
      const [alice, bob, carol] = [uid('alice'), uid('bob'), uid('carol')];
      const withBob = directConversationId(alice, bob);
      const m = await send(direct(bob, alice));
      await send(direct(bob, alice));
      await store.confirmIds(alice, 'a1', [m.messageId]);
      // a2's first act is a send in another conversation, a3's a confirmation there.
      await send(direct(alice, carol, { fromDevice: 'a2' }));
      const c = await send(direct(carol, alice));
      await store.confirmIds(alice, 'a3', [c.messageId]);
      for (const device of ['a2', 'a3']) {
        assert.deepEqual(target(await store.replayTargets(alice, device), withBob)?.cursor, { upTo: 1, runs: [] }, device);
      }
    });

    it('marks a delivery exactly once per user, whatever the order and repetition of confirmations', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const m = await send(direct(alice, bob));
      const first = await store.confirmIds(bob, 'b1', [m.messageId, m.messageId]);
      assert.equal(first.marks.length, 1);
      const [mark] = first.marks;
      assert.deepEqual({ ...mark, deliveredAt: 0 }, { messageId: m.messageId, conversationId: m.conversationId, seq: 1, from: alice, deliveredAt: 0, ts: m.ts });
      assert.ok(typeof mark!.deliveredAt === 'number' && mark!.deliveredAt > 0);
      assert.deepEqual(first.advanced, [{ conversationId: m.conversationId, deliveredSeq: 1 }]);
      const again = await store.confirmIds(bob, 'b1', [m.messageId]);
      assert.deepEqual(again, { marks: [], advanced: [] });
      const raced = await Promise.all(Array.from({ length: 6 }, (_, i) => store.confirmIds(bob, `r${i % 3}`, [m.messageId])));
      assert.equal(raced.flatMap((r) => r.marks).length, 0);
      assert.equal((await store.deliveryState(m.messageId, bob))?.marks, 1);
    });

    it('marks exactly once when devices race to confirm a fresh message', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const sent = await Promise.all(Array.from({ length: 20 }, () => send(direct(alice, bob))));
      const ids = sent.map((m) => m.messageId);
      const results = await Promise.all(['b1', 'b2', 'b3', 'b1'].map((device, k) => store.confirmIds(bob, device, k % 2 ? [...ids].reverse() : ids)));
      const marked = results.flatMap((r) => r.marks.map((mark) => mark.messageId));
      assert.deepEqual([...marked].sort(), [...ids].sort());
    });

    it('ignores confirmations of unknown ids, of messages in conversations the user is not in, and of its own device', async () => {
      const [alice, bob, mallory] = [uid('alice'), uid('bob'), uid('mallory')];
      const m = await send(direct(alice, bob, { fromDevice: 'a1' }));
      assert.deepEqual(await store.confirmIds(mallory, 'x', [m.messageId, 'no-such-id', 'no-such-id']), { marks: [], advanced: [], unknownIds: 1 }, 'an unknown id is counted (once), a known one is not');
      assert.deepEqual(await store.confirmUpTo(mallory, 'x', m.conversationId, 5), { marks: [], advanced: [] });
      assert.equal(await store.deviceCursor(mallory, 'x', m.conversationId), undefined);
      assert.deepEqual((await store.confirmIds(alice, 'a1', [m.messageId])).marks, []);
      assert.deepEqual((await store.confirmIds(alice, 'a2', [m.messageId])).marks, [], 'its own message: no mark');
      assert.equal((await store.deliveryState(m.messageId, bob))?.status, 'pending');
      assert.equal(await store.deliveryState(m.messageId, alice), undefined, 'the sender is not a recipient');
      assert.equal(await store.deliveryState(m.messageId, mallory), undefined);
      assert.equal(await store.deliveryState('no-such-id', bob), undefined);
    });

    it('mixes confirmIds and confirmUpTo: out-of-order ids stay above the watermark until the gap closes', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const conversationId = directConversationId(alice, bob);
      const sent: StoredMessage[] = [];
      for (let i = 0; i < 6; i++) sent.push(await send(direct(alice, bob)));
      const byIds = await store.confirmIds(bob, 'b1', [sent[1]!.messageId, sent[3]!.messageId]);
      assert.deepEqual(byIds.marks.map((mark) => mark.seq), [2, 4]);
      assert.deepEqual(byIds.advanced, [], 'the watermark has a gap below 2 and 4: it does not move (a tick up to it must be true)');
      assert.deepEqual(await store.deviceCursor(bob, 'b1', conversationId), { upTo: 0, runs: [2, 2, 4, 4] });
      const upTo = await store.confirmUpTo(bob, 'b1', conversationId, 5);
      assert.deepEqual(upTo.marks.map((mark) => mark.seq), [1, 3, 5], 'each message once: 2 and 4 were marked before');
      assert.deepEqual(upTo.advanced, [{ conversationId, deliveredSeq: 5 }]);
      assert.deepEqual(await store.deviceCursor(bob, 'b1', conversationId), { upTo: 5, runs: [] });
      // Clamped to the last seq.
      const rest = await store.confirmUpTo(bob, 'b1', conversationId, 1000);
      assert.deepEqual(rest.marks.map((mark) => mark.seq), [6]);
      assert.deepEqual(await store.deviceCursor(bob, 'b1', conversationId), { upTo: 6, runs: [] });
      assert.deepEqual(await store.confirmUpTo(bob, 'b1', conversationId, 1000), { marks: [], advanced: [] });
      // b2 confirming everything: no marks, the user's watermark does not move.
      assert.deepEqual(await store.confirmUpTo(bob, 'b2', conversationId, 6), { marks: [], advanced: [] });
      assert.deepEqual(await store.deviceCursor(bob, 'b2', conversationId), { upTo: 6, runs: [] });
    });

    it('memberStates: deliveredSeq has no gap below it (own messages count; a confirmation past a gap waits for it)', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const conversationId = directConversationId(alice, bob);
      const a1 = await send(direct(alice, bob));
      await send(direct(bob, alice)); // seq 2, bob's own: his devices have it
      const a3 = await send(direct(alice, bob));
      const deliveredSeqOf = async (userId: string) => (await store.memberStates(conversationId)).find((member) => member.userId === userId)!.deliveredSeq;
      assert.equal(await deliveredSeqOf(bob), 0, 'a1 never reached bob: his own seq 2 does not make it delivered');
      assert.deepEqual((await store.confirmIds(bob, 'b1', [a3.messageId])).advanced, []);
      assert.equal(await deliveredSeqOf(bob), 0, 'a3 was confirmed past the gap at a1');
      assert.deepEqual((await store.confirmIds(bob, 'b1', [a1.messageId])).advanced, [{ conversationId, deliveredSeq: 3 }], 'the gap closed: through his own seq 2 to a3');
      assert.equal(await deliveredSeqOf(bob), 3);
      assert.equal(await deliveredSeqOf(alice), 1, 'alice has her own 1 and 3, not bob’s 2');
    });

    it('confirmUpTo in a direct conversation marks only the other user’s newly covered messages', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const conversationId = directConversationId(alice, bob);
      const a1 = await send(direct(alice, bob, { fromDevice: 'a1' }));
      await send(direct(bob, alice, { fromDevice: 'b1' }));
      const a2 = await send(direct(alice, bob, { fromDevice: 'a1' }));
      const result = await store.confirmUpTo(bob, 'b1', conversationId, 3);
      assert.deepEqual(result.marks.map((mark) => [mark.messageId, mark.from, mark.seq]), [[a1.messageId, alice, 1], [a2.messageId, alice, 3]]);
      assert.deepEqual(result.advanced, [{ conversationId, deliveredSeq: 3 }]);
      // And the other way round: alice's device confirming bob's message marks it for alice.
      const back = await store.confirmUpTo(alice, 'a1', conversationId, 3);
      assert.deepEqual(back.marks.map((mark) => [mark.from, mark.seq]), [[bob, 2]]);
    });

    it('watermarks of many members at once, each from its own cursor, mark only the others\' newly covered messages', async () => {
      // On MongoDB these land in one confirmation batch, whose ranges of one conversation are read
      // together where they lie close (confirm-batch.ts readRanges): here one joined read over the
      // members from seq 0 and one over those near the top, 250+ seqs apart.
      const [owner, m1, m2, m3] = [uid('owner'), uid('m1'), uid('m2'), uid('m3')];
      const members = [owner, m1, m2, m3];
      const conversationId = uid('g:');
      await store.createGroup({ conversationId, title: 't', ownerId: owner, members: [m1, m2, m3], createdAt: now() });
      const sent = await Promise.all(Array.from({ length: 300 }, (_, i) => send(inGroup(conversationId, members[i % 4]!, { fromDevice: 'd' }))));
      const bySeq = new Map(sent.map((message) => [message.seq, message]));
      const othersIn = (user: string, from: number, to: number) =>
        sent.filter((message) => message.seq > from && message.seq <= to && message.from !== user).map((message) => message.messageId).sort();
      await store.confirmUpTo(owner, 'w', conversationId, 280);
      await store.confirmUpTo(m1, 'w', conversationId, 290);
      const [ownerTop, m1Top, m2Low, m3Low] = await Promise.all([
        store.confirmUpTo(owner, 'w', conversationId, 300),
        store.confirmUpTo(m1, 'w', conversationId, 300),
        store.confirmUpTo(m2, 'w', conversationId, 5),
        store.confirmUpTo(m3, 'w', conversationId, 3),
      ]);
      const ids = (result: { marks: readonly { messageId: string }[] }) => result.marks.map((mark) => mark.messageId).sort();
      assert.deepEqual(ids(ownerTop), othersIn(owner, 280, 300));
      assert.deepEqual(ids(m1Top), othersIn(m1, 290, 300));
      assert.deepEqual(ids(m2Low), othersIn(m2, 0, 5));
      assert.deepEqual(ids(m3Low), othersIn(m3, 0, 3));
      for (const result of [ownerTop, m1Top, m2Low, m3Low]) for (const mark of result.marks) assert.equal(mark.from, bySeq.get(mark.seq)?.from);
      assert.deepEqual(m2Low.advanced, [{ conversationId, deliveredSeq: 5 }]);
      const past = sent.filter((message) => message.seq > 3 && message.from !== m3).sort((a, b) => a.seq - b.seq)[0]!;
      assert.equal((await store.deliveryState(past.messageId, m3))?.status, 'pending', 'past m3\'s watermark: not marked for m3');
    });

    it('a group member gets only what came after joining; a removed member gets nothing and confirms nothing', async () => {
      const [owner, b, late] = [uid('owner'), uid('b'), uid('late')];
      const conversationId = uid('g:');
      await store.createGroup({ conversationId, title: 't', ownerId: owner, members: [b], createdAt: now() });
      const before1 = await send(inGroup(conversationId, owner, { fromDevice: 'o1' }));
      await send(inGroup(conversationId, owner, { fromDevice: 'o1' }));
      await store.addMembers(conversationId, [late], now());
      assert.deepEqual(await store.replayTargets(late, 'l1'), [], 'nothing before joining');
      const after1 = await send(inGroup(conversationId, b, { fromDevice: 'b1' }));
      assert.deepEqual(await store.replayTargets(late, 'l1'), [{ conversationId, cursor: { upTo: 2, runs: [] }, lastSeq: 3 }]);
      assert.deepEqual((await store.confirmIds(late, 'l1', [before1.messageId])).marks, [], 'before joining: not theirs');
      assert.equal(await store.deliveryState(after1.messageId, late).then((s) => s?.status), 'pending');
      assert.deepEqual((await store.confirmIds(late, 'l1', [after1.messageId])).marks.map((mark) => mark.seq), [3]);
      assert.deepEqual(await store.replayTargets(late, 'l1'), []);

      // b leaves: no replay targets there, confirmations ignored, markRead refused.
      const owners = await send(inGroup(conversationId, owner, { fromDevice: 'o1' }));
      await store.removeMember(conversationId, b);
      assert.deepEqual(await store.replayTargets(b, 'b1'), []);
      assert.deepEqual(await store.replayTargets(b, 'b9'), []);
      assert.deepEqual(await store.confirmIds(b, 'b1', [owners.messageId]), { marks: [], advanced: [] });
      assert.deepEqual(await store.confirmUpTo(b, 'b1', conversationId, 4), { marks: [], advanced: [] });
      assert.equal(await store.markRead(b, conversationId, 4), undefined);
      assert.equal(await store.deliveryState(owners.messageId, b), undefined);
      assert.equal(await store.deliveryState(before1.messageId, late), undefined, 'sent before joining: not a recipient');
      // The group's other members still get it.
      assert.equal(target(await store.replayTargets(late, 'l1'), conversationId)?.lastSeq, 4);
    });

    it('a member who leaves and rejoins gets only what came after rejoining', async () => {
      const [owner, b] = [uid('owner'), uid('b')];
      const conversationId = uid('g:');
      await store.createGroup({ conversationId, title: 't', ownerId: owner, members: [b], createdAt: now() });
      await send(inGroup(conversationId, owner));
      await store.removeMember(conversationId, b);
      await send(inGroup(conversationId, owner));
      await store.addMembers(conversationId, [b], now());
      assert.equal((await store.membership(conversationId, b))?.joinSeq, 2);
      assert.deepEqual(await store.replayTargets(b, 'b1'), []);
      const after = await send(inGroup(conversationId, owner));
      assert.deepEqual(await store.replayTargets(b, 'b1'), [{ conversationId, cursor: { upTo: 2, runs: [] }, lastSeq: 3 }]);
      assert.deepEqual((await store.confirmUpTo(b, 'b1', conversationId, 3)).marks.map((mark) => mark.messageId), [after.messageId]);
      assert.equal((await store.conversationItem(conversationId, b))?.unread, 1);
    });

    it('replayTargets lists only conversations with something past the cursor, across many conversations', async () => {
      const me = uid('me');
      const peers = Array.from({ length: 5 }, () => uid('p'));
      for (const peer of peers) await send(direct(peer, me));
      const targets = await store.replayTargets(me, 'd1');
      assert.deepEqual(targets.map((t) => t.conversationId).sort(), peers.map((p) => directConversationId(p, me)).sort());
      for (const t of targets) await store.confirmUpTo(me, 'd1', t.conversationId, t.lastSeq);
      assert.deepEqual(await store.replayTargets(me, 'd1'), []);
      await send(direct(peers[2]!, me));
      assert.deepEqual(await store.replayTargets(me, 'd1'), [{ conversationId: directConversationId(peers[2]!, me), cursor: { upTo: 1, runs: [] }, lastSeq: 2 }]);
    });

    it('counts messages, recipients and marks', async () => {
      const [alice, bob, c] = [uid('alice'), uid('bob'), uid('c')];
      const conversationId = uid('g:');
      await store.createGroup({ conversationId, title: 't', ownerId: alice, members: [bob, c], createdAt: now() });
      const before = await store.counts();
      const m = await send(direct(alice, bob));
      await store.persist(direct(alice, bob, { messageId: m.messageId }));
      const g = await send(inGroup(conversationId, alice));
      await store.confirmIds(bob, 'b1', [m.messageId, g.messageId]);
      await store.confirmIds(bob, 'b2', [m.messageId, g.messageId]);
      const counts = await store.counts();
      assert.equal(counts.messages - before.messages, 2);
      assert.equal(counts.deliveries - before.deliveries, 3, 'bob, then bob and c');
      assert.equal(counts.delivered - before.delivered, 2);
      assert.equal(counts.persists - before.persists, 2);
      assert.equal(counts.deliveryMarks - before.deliveryMarks, 2);
    });
  });
}
