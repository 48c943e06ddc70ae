// The Store contract, part 1: messages, conversations, membership, history and the conversation list.
// Every implementation runs it (store-contract.test.ts); part 2 (delivery) is contract-delivery.ts.
// Each test uses fresh user and conversation ids, so tests share one store without seeing each other.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { directConversationId } from '../../src/store/conversation-ids.js';
import { UNREAD_CAP, type NewMessage, type Store } from '../../src/store/store.js';
import type { StoreVariant } from '../helpers/stores.js';

/** Fresh ids and message builders for one suite. */
export function contractFixtures() {
  let n = 0;
  const uid = (prefix: string) => `${prefix}${Date.now().toString(36)}${(n++).toString(36)}`;
  let ts = 1_700_000_000_000;
  const direct = (from: string, to: string, overrides: Partial<NewMessage> = {}): NewMessage => ({
    messageId: uid('m'), from, to, body: 'hello', ts: ++ts, ...overrides,
  });
  const inGroup = (conversationId: string, from: string, overrides: Partial<NewMessage> = {}): NewMessage => ({
    messageId: uid('m'), conversationId, from, body: 'hello', ts: ++ts, ...overrides,
  });
  return { uid, direct, inGroup, now: () => ++ts };
}

export function runStoreContract(variant: StoreVariant): void {
  describe(`Store contract: ${variant.label ?? variant.name}: messages and conversations`, () => {
    let store: Store;
    const { uid, direct, inGroup, now } = contractFixtures();
    const group = async (ownerId: string, members: string[]) => {
      const conversationId = uid('g:');
      await store.createGroup({ conversationId, title: 'team', ownerId, members, createdAt: now() });
      return conversationId;
    };
    const send = async (message: NewMessage) => {
      const result = await store.persist(message);
      assert.equal(result.kind, 'created', `persist ${message.messageId}: ${result.kind}`);
      return (result as { message: import('../../src/store/store.js').StoredMessage }).message;
    };

    before(async () => {
      store = await variant.create();
    });
    after(async () => {
      await store.close();
      await variant.cleanup();
    });

    it('answers ping', async () => {
      await store.ping();
    });

    it('creates a direct conversation on its first message: id from directConversationId, both members, `to` stored', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const m = direct(alice, bob, { body: 'héllo 👋 "quoted" \\ back', fromDevice: 'a1' });
      const stored = await send(m);
      const conversationId = directConversationId(alice, bob);
      assert.deepEqual(stored, { messageId: m.messageId, conversationId, seq: 1, from: alice, fromDevice: 'a1', to: bob, body: m.body, ts: m.ts });
      assert.deepEqual(await store.getMessage(m.messageId), stored);
      const conversation = await store.getConversation(conversationId);
      assert.equal(conversation?.kind, 'direct');
      assert.equal(conversation?.title, null);
      assert.deepEqual([...conversation!.members].sort(), [alice, bob].sort());
      assert.equal((await store.membership(conversationId, bob))?.joinSeq, 0);
      // The reply goes to the same conversation, `to` the other member.
      const reply = await send(direct(bob, alice));
      assert.equal(reply.conversationId, conversationId);
      assert.equal(reply.to, alice);
      assert.equal(reply.seq, 2);
      assert.equal(reply.fromDevice, undefined);
    });

    it('a direct message addressed by conversationId goes to that conversation, `to` the other member', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const conversationId = directConversationId(alice, bob);
      await send(direct(alice, bob));
      const byId = await send({ messageId: uid('m'), conversationId, from: bob, body: 'by id', ts: now() });
      assert.deepEqual([byId.conversationId, byId.seq, byId.to], [conversationId, 2, alice]);
      // An unknown direct conversation is not created from its id alone.
      const [x, y] = [uid('x'), uid('y')];
      assert.equal((await store.persist({ messageId: uid('m'), conversationId: directConversationId(x, y), from: x, body: 'no', ts: now() })).kind, 'not_member');
    });

    it('treats a retry with the same content as a duplicate and keeps the original ts and seq', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const m = direct(alice, bob);
      const stored = await send(m);
      const before = await store.counts();
      const retry = await store.persist({ ...m, ts: m.ts + 5000 });
      assert.deepEqual(retry, { kind: 'duplicate', message: stored });
      const counts = await store.counts();
      assert.equal(counts.messages, before.messages);
      assert.equal(counts.persists, before.persists);
      // A retry never burns a seq: the next message follows directly.
      assert.equal((await send(direct(alice, bob))).seq, 2);
    });

    it('refuses another body, sender or conversation under an existing messageId and never changes the stored one', async () => {
      const [alice, bob, carol] = [uid('alice'), uid('bob'), uid('carol')];
      const m = direct(alice, bob);
      const stored = await send(m);
      await send(direct(carol, alice));
      for (const change of [{ body: 'changed' }, { from: carol, to: alice }, { to: carol }]) {
        assert.deepEqual(await store.persist({ ...m, ...change }), { kind: 'conflict', messageId: m.messageId });
      }
      assert.deepEqual(await store.getMessage(m.messageId), stored);
    });

    it('stores exactly one of 10 concurrent persists of one messageId', async () => {
      const m = direct(uid('alice'), uid('bob'));
      const results = await Promise.all(Array.from({ length: 10 }, () => store.persist(m)));
      assert.equal(results.filter((r) => r.kind === 'created').length, 1);
      assert.equal(results.filter((r) => r.kind === 'duplicate').length, 9);
      const seqs = new Set(results.map((r) => (r.kind === 'created' || r.kind === 'duplicate' ? r.message.seq : -1)));
      assert.deepEqual([...seqs], [1]);
    });

    it('judges every send of one messageId against the stored one, also when they arrive together', async () => {
      const m = direct(uid('alice'), uid('bob'));
      const results = await Promise.all([store.persist(m), store.persist({ ...m, body: 'other' }), store.persist(m)]);
      assert.deepEqual(results.map((r) => r.kind), ['created', 'conflict', 'duplicate']);
    });

    it('assigns seq 1, 2, 3… per conversation, gapless, in accept order, also for concurrent persists', async () => {
      const [alice, bob, carol] = [uid('alice'), uid('bob'), uid('carol')];
      const ids = ['zz', 'aa', 'mm', '00', 'ZZ'].map((p) => `${p}${uid('')}`);
      const sequential: number[] = [];
      for (const messageId of ids) sequential.push((await send(direct(alice, bob, { messageId }))).seq);
      assert.deepEqual(sequential, [1, 2, 3, 4, 5]);
      // Another conversation counts from 1 on its own.
      assert.equal((await send(direct(alice, carol))).seq, 1);
      // 200 concurrent sends, with a few retries mixed in: seqs 6…205 exactly, one per new message.
      const burst = Array.from({ length: 200 }, (_, i) => direct(i % 2 ? alice : bob, i % 2 ? bob : alice, { body: `b${i}` }));
      const results = await Promise.all([...burst.map((m) => store.persist(m)), ...burst.slice(0, 10).map((m) => store.persist(m))]);
      const created = results.filter((r) => r.kind === 'created');
      assert.equal(created.length, 200);
      const seqs = created.map((r) => (r.kind === 'created' ? r.message.seq : 0)).sort((x, y) => x - y);
      assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i + 6));
      // Accept order: one sender's messages keep the order they were sent in.
      const aliceSeqs = burst.map((m, i) => (i % 2 ? (results[i] as { message: { seq: number } }).message.seq : 0)).filter((s) => s > 0);
      assert.deepEqual(aliceSeqs, [...aliceSeqs].sort((x, y) => x - y));
      const listed = (await store.messagesIn([{ conversationId: directConversationId(alice, bob), afterSeq: 0, toSeq: 1000 }]))[0]!;
      assert.deepEqual(listed.map((m) => m.seq), Array.from({ length: 205 }, (_, i) => i + 1));
    });

    it('refuses senders who are not members, and unknown conversations, storing nothing', async () => {
      const [owner, member, stranger] = [uid('owner'), uid('member'), uid('stranger')];
      const conversationId = await group(owner, [member]);
      const before = await store.counts();
      const m = inGroup(conversationId, stranger);
      assert.deepEqual(await store.persist(m), { kind: 'not_member', messageId: m.messageId });
      const unknown = inGroup(uid('g:none'), owner);
      assert.deepEqual(await store.persist(unknown), { kind: 'not_member', messageId: unknown.messageId });
      // A direct message needs `to`: without it there is no conversation to create.
      const noTo = { messageId: uid('m'), from: owner, body: 'x', ts: now() };
      assert.equal((await store.persist(noTo)).kind, 'not_member');
      assert.equal(await store.getMessage(m.messageId), undefined);
      assert.equal((await store.counts()).messages, before.messages);
      // A member's message takes seq 1: refused sends burned none.
      assert.equal((await send(inGroup(conversationId, member))).seq, 1);
    });

    it('creates a group idempotently by id, owner first, duplicates and the owner ignored', async () => {
      const [owner, b, c] = [uid('owner'), uid('b'), uid('c')];
      const conversationId = uid('g:');
      const { conversation: created, created: isNew } = await store.createGroup({ conversationId, title: 'team', ownerId: owner, members: [b, owner, c, b], createdAt: 1000 });
      assert.equal(isNew, true);
      assert.deepEqual(created, { conversationId, kind: 'group', title: 'team', ownerId: owner, createdAt: 1000, members: [owner, b, c] });
      const again = await store.createGroup({ conversationId, title: 'other', ownerId: b, members: [uid('x')], createdAt: 2000 });
      assert.deepEqual(again.conversation, created);
      assert.equal(again.created, false);
      assert.equal(again.requestDigest, undefined, 'created without a digest');
      assert.deepEqual(await store.getConversation(conversationId), created);
      assert.deepEqual(await store.membership(conversationId, c), { conversationId, userId: c, joinedAt: 1000, joinSeq: 0 });
      assert.equal(await store.membership(conversationId, uid('x')), undefined);
      assert.equal(await store.getConversation(uid('g:none')), undefined);
    });

    it("keeps a group's request digest: a later creation with the same id is told the first one's", async () => {
      const owner = uid('owner');
      const conversationId = uid('g:');
      const first = await store.createGroup({ conversationId, title: 'team', ownerId: owner, members: [uid('b')], createdAt: 1000, requestDigest: 'digest-1' });
      assert.equal(first.created, true);
      assert.equal(first.requestDigest, 'digest-1');
      const reuse = await store.createGroup({ conversationId, title: 'other', ownerId: owner, members: [], createdAt: 2000, requestDigest: 'digest-2' });
      assert.equal(reuse.created, false);
      assert.equal(reuse.requestDigest, 'digest-1');
      assert.deepEqual(reuse.conversation, first.conversation);
    });

    it('adds and removes members; joinSeq is the last seq at join; the owner leaving passes ownership on', async () => {
      const [owner, b, c, d] = [uid('owner'), uid('b'), uid('c'), uid('d')];
      const conversationId = await group(owner, [b]);
      await send(inGroup(conversationId, owner));
      await send(inGroup(conversationId, b));
      const at = now();
      const added = await store.addMembers(conversationId, [c, b, d, c], at);
      assert.deepEqual(added?.users, [c, d]);
      assert.deepEqual(added?.conversation.members, [owner, b, c, d]);
      assert.deepEqual(await store.membership(conversationId, c), { conversationId, userId: c, joinedAt: at, joinSeq: 2 });
      assert.deepEqual((await store.addMembers(conversationId, [b], now()))?.users, []);
      assert.equal(await store.addMembers(uid('g:none'), [c], now()), undefined);
      // A new member can send, and its message follows in the same sequence.
      assert.equal((await send(inGroup(conversationId, d))).seq, 3);

      const left = await store.removeMember(conversationId, owner);
      assert.deepEqual(left?.users, [owner]);
      assert.equal(left?.conversation.ownerId, b, 'the longest-standing member owns it now');
      assert.deepEqual(left?.conversation.members, [b, c, d]);
      assert.deepEqual((await store.removeMember(conversationId, owner))?.users, []);
      assert.equal(await store.removeMember(uid('g:none'), b), undefined);
      assert.equal(await store.membership(conversationId, owner), undefined);
      // A removed member can no longer send.
      const late = inGroup(conversationId, owner);
      assert.deepEqual(await store.persist(late), { kind: 'not_member', messageId: late.messageId });
      assert.deepEqual(await store.conversationIdsOf(owner), []);
      assert.deepEqual(await store.conversationIdsOf(c), [conversationId]);

      const renamed = await store.setTitle(conversationId, 'renamed');
      assert.equal(renamed?.title, 'renamed');
      assert.equal((await store.getConversation(conversationId))?.title, 'renamed');
      assert.equal(await store.setTitle(uid('g:none'), 'x'), undefined);
      // Everyone leaves: nobody owns it.
      for (const user of [b, c, d]) await store.removeMember(conversationId, user);
      const empty = await store.getConversation(conversationId);
      assert.equal(empty?.ownerId, null);
      assert.deepEqual(empty?.members, []);
    });

    it('counts the groups each user is in, not its direct conversations, up to the bound asked', async () => {
      const [a, b, c, none] = [uid('a'), uid('b'), uid('c'), uid('none')];
      const groups = [await group(a, [b]), await group(a, [b]), await group(b, [])];
      await send(direct(a, c));
      await send(direct(b, c));
      assert.deepEqual(await store.groupCounts([a, b, c, none, b], 10), [2, 3, 0, 0, 3]);
      // Bounded: a count may stop at the bound (FerretDB's count per user), never below it.
      const [bounded] = await store.groupCounts([b], 2);
      assert.ok(bounded! >= 2, `b bounded at 2: ${bounded}`);
      await store.removeMember(groups[0]!, b);
      await store.addMembers(groups[2]!, [c], now());
      assert.deepEqual(await store.groupCounts([b, c], 10), [2, 1]);
      assert.deepEqual(await store.groupCounts([], 10), []);
    });

    it('pages history backwards: ascending pages, before/limit, hasMore', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const conversationId = directConversationId(alice, bob);
      for (let i = 1; i <= 7; i++) await send(direct(alice, bob, { body: `h${i}` }));
      const newest = await store.history(conversationId, undefined, 3);
      assert.deepEqual(newest.messages.map((m) => m.seq), [5, 6, 7]);
      assert.equal(newest.hasMore, true);
      assert.deepEqual(newest.messages.map((m) => m.body), ['h5', 'h6', 'h7']);
      const older = await store.history(conversationId, 5, 3);
      assert.deepEqual(older.messages.map((m) => m.seq), [2, 3, 4]);
      assert.equal(older.hasMore, true);
      const oldest = await store.history(conversationId, 2, 3);
      assert.deepEqual(oldest.messages.map((m) => m.seq), [1]);
      assert.equal(oldest.hasMore, false);
      assert.deepEqual((await store.history(conversationId, undefined, 7)).hasMore, false);
      assert.deepEqual(await store.history(uid('g:none'), undefined, 5), { messages: [], hasMore: false });
      assert.deepEqual((await store.messagesIn([{ conversationId, afterSeq: 5, toSeq: 15 }]))[0]!.map((m) => m.seq), [6, 7]);
      assert.deepEqual((await store.messagesIn([{ conversationId, afterSeq: 2, toSeq: 4 }]))[0]!.map((m) => m.seq), [3, 4]);
    });

    it('reads many conversations\' seq ranges in one call, each in seq order, in the order asked', async () => {
      const [alice, bob, carol] = [uid('alice'), uid('bob'), uid('carol')];
      const [ab, ac] = [directConversationId(alice, bob), directConversationId(alice, carol)];
      for (let i = 1; i <= 6; i++) await send(direct(alice, bob, { body: `ab${i}` }));
      for (let i = 1; i <= 4; i++) await send(direct(carol, alice, { body: `ac${i}` }));
      const pages = await store.messagesIn([
        { conversationId: ac, afterSeq: 1, toSeq: 3 },
        { conversationId: ab, afterSeq: 0, toSeq: 2 },
        { conversationId: ab, afterSeq: 4, toSeq: 10 }, // past the newest: what there is
        { conversationId: ab, afterSeq: 3, toSeq: 3 }, // empty range
        { conversationId: uid('g:none'), afterSeq: 0, toSeq: 5 },
      ]);
      assert.deepEqual(pages.map((page) => page.map((m) => m.body)), [['ac2', 'ac3'], ['ab1', 'ab2'], ['ab5', 'ab6'], [], []]);
      assert.deepEqual(pages[0]!.map((m) => [m.conversationId, m.seq, m.from]), [[ac, 2, carol], [ac, 3, carol]]);
      assert.deepEqual(await store.messagesIn([]), []);
    });

    it('pages history forwards from `after`: the oldest page after it, within `before`, hasMore toward the newest', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const conversationId = directConversationId(alice, bob);
      for (let i = 1; i <= 7; i++) await send(direct(alice, bob, { body: `f${i}` }));
      const first = await store.history(conversationId, undefined, 3, 0);
      assert.deepEqual(first.messages.map((m) => m.seq), [1, 2, 3]);
      assert.deepEqual(first.messages.map((m) => m.body), ['f1', 'f2', 'f3']);
      assert.equal(first.hasMore, true);
      const last = await store.history(conversationId, undefined, 3, 5);
      assert.deepEqual(last.messages.map((m) => m.seq), [6, 7]);
      assert.equal(last.hasMore, false);
      const gap = await store.history(conversationId, 6, 10, 2);
      assert.deepEqual(gap.messages.map((m) => m.seq), [3, 4, 5], 'a gap between two seqs a client holds');
      assert.equal(gap.hasMore, false);
      const part = await store.history(conversationId, 6, 2, 2);
      assert.deepEqual(part.messages.map((m) => m.seq), [3, 4]);
      assert.equal(part.hasMore, true);
      assert.deepEqual(await store.history(conversationId, undefined, 3, 7), { messages: [], hasMore: false });
      assert.deepEqual(await store.history(conversationId, undefined, 3, 100), { messages: [], hasMore: false });
    });

    it('lists conversations by activity, pages them with a cursor, and counts unread from others after readSeq', async () => {
      const [me, x, y, z] = [uid('me'), uid('x'), uid('y'), uid('z')];
      const groupId = await store.createGroup({ conversationId: uid('g:'), title: 'g', ownerId: x, members: [me], createdAt: now() }).then((g) => g.conversation.conversationId);
      await send(direct(me, x));
      await send(direct(y, me));
      await send(direct(y, me));
      await send(direct(me, y));
      const last = await send(direct(z, me, { body: 'newest' }));
      const page1 = await store.listConversations(me, 2, undefined);
      const zId = directConversationId(me, z);
      const yId = directConversationId(me, y);
      const xId = directConversationId(me, x);
      assert.deepEqual(page1.items.map((item) => item.conversation.conversationId), [zId, yId]);
      assert.ok(page1.next);
      const page2 = await store.listConversations(me, 2, page1.next);
      assert.deepEqual(page2.items.map((item) => item.conversation.conversationId), [xId, groupId]);
      assert.equal(page2.next, undefined);

      const [zItem, yItem] = page1.items;
      assert.deepEqual(zItem!.lastMessage, last);
      assert.equal(zItem!.lastSeq, 1);
      assert.equal(zItem!.unread, 1);
      assert.equal(zItem!.activityTs, last.ts);
      assert.equal(yItem!.lastSeq, 3);
      assert.equal(yItem!.unread, 2, 'only messages from others');
      const groupItem = page2.items[1]!;
      assert.equal(groupItem.lastMessage, null);
      assert.equal(groupItem.unread, 0);
      assert.equal(groupItem.lastSeq, 0);

      assert.deepEqual(await store.markRead(me, yId, 1), { readSeq: 1, advanced: true });
      const yNow = await store.conversationItem(yId, me);
      assert.equal(yNow?.readSeq, 1);
      assert.equal(yNow?.unread, 1);
      // A member who joined late has nothing unread from before joining.
      const late = uid('late');
      await send(inGroup(groupId, x));
      await store.addMembers(groupId, [late], now());
      await send(inGroup(groupId, x));
      assert.deepEqual(await store.conversationItem(groupId, late).then((item) => [item?.readSeq, item?.unread, item?.lastSeq]), [1, 1, 2]);
      // Activity moves a conversation to the top.
      await send(inGroup(groupId, x));
      assert.equal((await store.listConversations(me, 1, undefined)).items[0]!.conversation.conversationId, groupId);
      assert.equal(await store.conversationItem(yId, x), undefined, 'not a member');
      assert.equal(await store.conversationItem(uid('g:none'), me), undefined);
      assert.deepEqual(await store.listConversations(uid('nobody'), 10, undefined), { items: [], next: undefined });
      assert.deepEqual(new Set(await store.conversationIdsOf(me)), new Set([groupId, xId, yId, zId]));
    });

    it('caps unread at UNREAD_CAP', { skip: variant.name === 'mongo' ? 'slow on FerretDB; the cap is one code path' : false }, async () => {
      const [me, x] = [uid('me'), uid('x')];
      for (let i = 0; i < UNREAD_CAP + 2; i++) await store.persist(direct(x, me));
      assert.equal((await store.conversationItem(directConversationId(me, x), me))?.unread, UNREAD_CAP);
    });

    it('moves the read watermark forward only, clamped to the last seq; non-members get undefined', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const conversationId = directConversationId(alice, bob);
      await send(direct(alice, bob));
      await send(direct(alice, bob));
      assert.deepEqual(await store.markRead(bob, conversationId, 1), { readSeq: 1, advanced: true });
      assert.deepEqual(await store.markRead(bob, conversationId, 1), { readSeq: 1, advanced: false });
      assert.deepEqual(await store.markRead(bob, conversationId, 0), { readSeq: 1, advanced: false });
      assert.deepEqual(await store.markRead(bob, conversationId, 99), { readSeq: 2, advanced: true });
      assert.equal(await store.markRead(uid('mallory'), conversationId, 1), undefined);
      assert.equal(await store.markRead(bob, uid('g:none'), 1), undefined);
    });
    it('stores an edit or delete as an event with its own seq; applyEvent: the highest seq wins, a delete is final, idempotent', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const original = await send(direct(alice, bob, { body: 'draft' }));
      const { conversationId } = original;
      const edit1 = await send(inGroup(conversationId, alice, { messageId: uid('edit.e'), body: 'second', event: { kind: 'edited', target: original.messageId } }));
      const edit2 = await send(inGroup(conversationId, alice, { messageId: uid('edit.e'), body: 'third', event: { kind: 'edited', target: original.messageId } }));
      assert.deepEqual(edit1.event, { kind: 'edited', target: original.messageId });
      assert.equal(edit1.seq, original.seq + 1);
      assert.equal(edit1.to, bob, 'an event in a direct conversation is addressed like a message');
      // Applied out of order: the later event wins, the earlier one changes nothing after it.
      assert.equal((await store.applyEvent(edit2))?.body, 'third');
      const afterStale = await store.applyEvent(edit1);
      assert.equal(afterStale?.body, 'third');
      assert.equal(afterStale?.editedAt, edit2.ts);
      assert.equal((await store.getMessage(original.messageId))?.body, 'third');
      // A retry of an event with the same id and target is a duplicate; another target is a conflict.
      assert.equal((await store.persist({ ...edit1, event: edit1.event })).kind, 'duplicate');
      assert.equal((await store.persist({ messageId: edit1.messageId, conversationId, from: alice, body: 'second', ts: now(), event: { kind: 'edited', target: uid('m') } })).kind, 'conflict');
      // History holds messages only, with their latest body; the list too, and events are not unread.
      const page = await store.history(conversationId, undefined, 10);
      assert.deepEqual(page.messages.map((m) => [m.messageId, m.body]), [[original.messageId, 'third']]);
      assert.equal(page.hasMore, false);
      const item = await store.conversationItem(conversationId, bob);
      assert.equal(item?.lastMessage?.messageId, original.messageId);
      assert.equal(item?.lastSeq, edit2.seq);
      assert.equal(item?.unread, 1);
      // Replay reads events like messages.
      assert.deepEqual((await store.messagesIn([{ conversationId, afterSeq: original.seq, toSeq: original.seq + 10 }]))[0]!.map((m) => m.messageId), [edit1.messageId, edit2.messageId]);

      const deletion = await send(inGroup(conversationId, alice, { messageId: `delete.${original.messageId}`, body: '', event: { kind: 'deleted', target: original.messageId } }));
      const tombstone = await store.applyEvent(deletion);
      assert.equal(tombstone?.deleted, true);
      assert.equal(tombstone?.body, '');
      assert.equal(tombstone?.editedAt, undefined);
      // Final: a later edit applied after the delete does not bring the message back.
      const late = await send(inGroup(conversationId, alice, { messageId: uid('edit.e'), body: 'revived', event: { kind: 'edited', target: original.messageId } }));
      assert.equal((await store.applyEvent(late))?.deleted, true);
      assert.equal((await store.applyEvent(deletion))?.deleted, true, 'idempotent');
      assert.deepEqual((await store.history(conversationId, undefined, 10)).messages.map((m) => [m.messageId, m.deleted]), [[original.messageId, true]]);
      assert.equal((await store.conversationItem(conversationId, bob))?.unread, 0, 'a deleted message is not unread');
      // A replay still brings the events, in their places, without the deleted text: the two edits and
      // the edit stored after the delete alike.
      const replayed = (await store.messagesIn([{ conversationId, afterSeq: original.seq, toSeq: original.seq + 10 }]))[0]!;
      assert.deepEqual(replayed.map((m) => [m.messageId, m.event?.kind, m.body]), [
        [edit1.messageId, 'edited', ''],
        [edit2.messageId, 'edited', ''],
        [deletion.messageId, 'deleted', ''],
        [late.messageId, 'edited', ''],
      ]);
    });

    it('a retry of a message sent before it was edited or deleted is a duplicate, not a conflict', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const original = await send(direct(alice, bob, { body: 'as sent' }));
      const edit = await send(inGroup(original.conversationId, alice, { messageId: uid('edit.e'), body: 'as edited', event: { kind: 'edited', target: original.messageId } }));
      await store.applyEvent(edit);
      const retry = await store.persist({ messageId: original.messageId, from: alice, to: bob, body: 'as sent', ts: now() });
      assert.equal(retry.kind, 'duplicate', 'the lost ack of the original send is answered');
      assert.equal(retry.kind === 'duplicate' && retry.message.seq, original.seq);
      // Still a conflict from another sender.
      assert.equal((await store.persist({ messageId: original.messageId, from: bob, to: alice, body: 'as sent', ts: now() })).kind, 'conflict');
    });

    it('pages history past events: a page is `limit` messages, hasMore counts messages only', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const first = await send(direct(alice, bob));
      const second = await send(direct(alice, bob));
      const edit = async (target: string) => send(inGroup(first.conversationId, alice, { messageId: uid('edit.e'), body: 'e', event: { kind: 'edited', target } }));
      await edit(first.messageId);
      await edit(second.messageId);
      const third = await send(direct(alice, bob));
      await edit(third.messageId);
      const newest = await store.history(first.conversationId, undefined, 2);
      assert.deepEqual(newest.messages.map((m) => m.messageId), [second.messageId, third.messageId]);
      assert.equal(newest.hasMore, true);
      const older = await store.history(first.conversationId, second.seq, 2);
      assert.deepEqual(older.messages.map((m) => m.messageId), [first.messageId]);
      assert.equal(older.hasMore, false);
      // Forwards the same: events are skipped, and do not count toward hasMore.
      const forward = await store.history(first.conversationId, undefined, 2, 0);
      assert.deepEqual(forward.messages.map((m) => m.messageId), [first.messageId, second.messageId]);
      assert.equal(forward.hasMore, true);
      const rest = await store.history(first.conversationId, undefined, 2, second.seq);
      assert.deepEqual(rest.messages.map((m) => m.messageId), [third.messageId]);
      assert.equal(rest.hasMore, false, 'only an edit event follows the third message');
    });
  });
}
