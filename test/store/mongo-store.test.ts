// MongoStore beyond the shared contract: batching really batches, writes per message do not grow with
// the group, seq stays gapless across two instances on one database, the truth survives a restart and
// is shared by instances, the history query is index-backed, indexes are named and idempotent. Mongo only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient, type Db } from 'mongodb';
import { createMetrics } from '../../src/metrics/registry.js';
import { directConversationId } from '../../src/store/conversation-ids.js';
import { historyFilter, type MongoStore } from '../../src/store/mongo/mongo-store.js';
import { UNREAD_CAP, type NewMessage, type Store, type StoredMessage } from '../../src/store/store.js';
import { createMongoStoreForTests, mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { skipReason } from '../helpers/skips.js';
import { contractFixtures } from './contract.js';

const baseUri = mongoTestUri();

describe('MongoStore', { skip: baseUri ? false : skipReason('mongo') }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'store');
  const { uid, direct, inGroup, now } = contractFixtures();
  const open: Store[] = [];
  // A generous op timeout: the batcher sheds what it predicts cannot be written within it, and a
  // loaded test machine running FerretDB can be slow enough for these bursts to be shed.
  const storeOn = async (uri: string, metrics = createMetrics({ collectDefault: false })) => {
    const store = await createMongoStoreForTests(uri, { metrics, opTimeoutMs: 30_000 });
    open.push(store);
    return store;
  };
  const batchCount = async (metrics: ReturnType<typeof createMetrics>, op: string) => {
    const values = (await metrics.storeBatchSize.get()).values.filter((v) => v.labels.op === op);
    return {
      batches: values.find((v) => v.metricName === 'chat_store_batch_size_count')?.value ?? 0,
      ops: values.find((v) => v.metricName === 'chat_store_batch_size_sum')?.value ?? 0,
    };
  };
  const created = (result: Awaited<ReturnType<Store['persist']>>): StoredMessage => {
    assert.equal(result.kind, 'created');
    return (result as { message: StoredMessage }).message;
  };
  /** A store with MongoDB's query shapes whose reads (find, aggregate, count) are listed as it sends them. */
  const readCounted = async (uri: string) => {
    const monitored = new URL(uri);
    monitored.searchParams.set('monitorCommands', 'true');
    const store = await createMongoStoreForTests(monitored.toString(), { idLookup: 'in', opTimeoutMs: 30_000 });
    open.push(store);
    const reads: string[] = [];
    store.database().client.on('commandStarted', (event) => {
      if (['find', 'aggregate', 'count'].includes(event.commandName)) reads.push(event.commandName);
    });
    return { store, reads };
  };
  let client: MongoClient;
  const dbOf = (uri: string): Db => client.db(new URL(uri).pathname.slice(1));
  const documentCounts = async (db: Db) => {
    const counts: Record<string, number> = {};
    for (const { name } of await db.listCollections().toArray()) counts[name] = await db.collection(name).countDocuments({});
    return counts;
  };

  before(async () => {
    client = new MongoClient(baseUri!, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
  });
  after(async () => {
    await Promise.allSettled(open.map((store) => store.close()));
    await client.close();
    await databases.drop();
  });

  it('writes 500 concurrent persists and 500 confirmations in a few batches each', async () => {
    const metrics = createMetrics({ collectDefault: false });
    const store = await storeOn(databases.fresh(), metrics);
    const sent = Array.from({ length: 500 }, (_, i) => direct(`s${i % 5}`, `r${i % 7}`));
    const results = await Promise.all(sent.map((m) => store.persist(m)));
    const stored = results.map(created);
    const persisted = await batchCount(metrics, 'persist');
    assert.equal(persisted.ops, 500);
    assert.ok(persisted.batches <= 3, `500 persists took ${persisted.batches} batches`);

    const confirmed = await Promise.all(stored.map((m) => store.confirmIds(m.to!, 'd1', [m.messageId])));
    assert.equal(confirmed.flatMap((r) => r.marks).length, 500);
    const marked = await batchCount(metrics, 'confirm');
    assert.equal(marked.ops, 500);
    assert.ok(marked.batches <= 3, `500 confirmations took ${marked.batches} batches`);
    assert.equal((await store.counts()).delivered, 500);
  });

  it('stores O(1) documents per message whatever the group size: the message and its sender’s cursors', async () => {
    const uri = databases.fresh();
    const store = await storeOn(uri);
    const owner = uid('owner');
    const members = Array.from({ length: 60 }, () => uid('m'));
    const conversationId = uid('g:');
    await store.createGroup({ conversationId, title: 'big', ownerId: owner, members, createdAt: now() });
    await store.persist(inGroup(conversationId, owner, { fromDevice: 'o1' })); // the sender's cursors exist now
    const before = await documentCounts(dbOf(uri));
    await Promise.all(Array.from({ length: 40 }, () => store.persist(inGroup(conversationId, owner, { fromDevice: 'o1' }))));
    const afterCounts = await documentCounts(dbOf(uri));
    const grown = Object.fromEntries(Object.keys(afterCounts).map((name) => [name, afterCounts[name]! - (before[name] ?? 0)]).filter(([, n]) => n !== 0));
    assert.deepEqual(grown, { messages: 40 }, 'only the messages: cursors are updated in place, nothing per member');
    assert.equal((await store.counts()).deliveries, 41 * 60);
  });

  it('two instances persisting concurrently into one conversation: seqs exactly 1..N, unique, retries never burn one', async () => {
    const uri = databases.fresh();
    const [a, b] = [await storeOn(uri), await storeOn(uri)];
    const owner = uid('owner');
    const conversationId = uid('g:');
    const members = [uid('x'), uid('y'), uid('z')];
    await a.createGroup({ conversationId, title: 'race', ownerId: owner, members, createdAt: now() });
    const senders = [owner, ...members];
    const sent = Array.from({ length: 240 }, (_, i) => inGroup(conversationId, senders[i % 4]!, { body: `r${i}` }));
    // Interleaved in small waves so both instances' heads go stale again and again; every 10th
    // message is also sent through the other instance (a retry racing the original).
    const results: Awaited<ReturnType<Store['persist']>>[] = [];
    for (let wave = 0; wave < sent.length; wave += 40) {
      const slice = sent.slice(wave, wave + 40);
      const round = await Promise.all([
        ...slice.map((m, i) => (i % 2 ? a : b).persist(m)),
        ...slice.filter((_, i) => i % 10 === 0).map((m, i) => (i % 2 ? b : a).persist(m)),
      ]);
      results.push(...round);
    }
    assert.ok(results.every((r) => r.kind === 'created' || r.kind === 'duplicate'), JSON.stringify(results.filter((r) => r.kind !== 'created' && r.kind !== 'duplicate')));
    assert.equal(results.filter((r) => r.kind === 'created').length, sent.length);
    const listed = (await a.messagesIn([{ conversationId, afterSeq: 0, toSeq: 1000 }]))[0]!;
    assert.deepEqual(listed.map((m) => m.seq), Array.from({ length: sent.length }, (_, i) => i + 1));
    assert.deepEqual(new Set(listed.map((m) => m.messageId)), new Set(sent.map((m) => m.messageId)));
    // Every answer names the seq that is stored.
    const bySeq = new Map(listed.map((m) => [m.messageId, m.seq]));
    for (const r of results) if (r.kind === 'created' || r.kind === 'duplicate') assert.equal(r.message.seq, bySeq.get(r.message.messageId));
    assert.ok(a.seqCollisions + b.seqCollisions > 0, 'the instances did race for seqs');
    // And the next message on either instance continues the sequence.
    assert.equal(created(await b.persist(inGroup(conversationId, owner))).seq, sent.length + 1);
    assert.equal(created(await a.persist(inGroup(conversationId, owner))).seq, sent.length + 2);
  });

  it('a batch spanning 150 conversations whose cached heads are all stale completes, gapless', async () => {
    const uri = databases.fresh();
    const [a, b] = [await storeOn(uri), await storeOn(uri)];
    const me = uid('me');
    const peers = Array.from({ length: 150 }, () => uid('p'));
    for (const store of [a, b, a]) await Promise.all(peers.map((peer) => store.persist(direct(peer, me)).then(created)));
    // a wrote seq 1 and 3 everywhere, b seq 2: b's cached heads are stale in all 150.
    const results = await Promise.all(peers.map((peer) => b.persist(direct(me, peer))));
    assert.deepEqual(new Set(results.map((r) => created(r).seq)), new Set([4]));
  });

  it("lists a user's conversations in five reads on MongoDB's query shapes, and the truth after another instance wrote past its cached heads", async () => {
    const uri = databases.fresh();
    // a counts its commands; b writes behind a's back; fresh (a new instance each time with
    // FerretDB's shapes: reads and counts per conversation) says what the list must be.
    const { store: a, reads } = await readCounted(uri);
    const b = await storeOn(uri);
    const me = uid('me');
    const peers = Array.from({ length: 30 }, () => uid('p'));
    const sent = await Promise.all(peers.map((peer, i) => a.persist(direct(i % 2 ? me : peer, i % 2 ? peer : me)).then(created)));
    await a.createGroup({ conversationId: uid('g:'), title: 'quiet', ownerId: me, members: peers.slice(0, 3), createdAt: now() });
    const truth = async () => {
      const fresh = await createMongoStoreForTests(uri, { idLookup: 'each', opTimeoutMs: 30_000 });
      try {
        return await fresh.listConversations(me, 40, undefined);
      } finally {
        await fresh.close();
      }
    };
    const listed = async () => {
      reads.length = 0;
      const page = await a.listConversations(me, 40, undefined);
      return { page, reads: reads.length };
    };

    await a.listConversations(me, 40, undefined); // the group's head is learned here
    const warm = await listed();
    // memberships of the user, the last entries (one $or), the page's conversations, their members,
    // the unread counts (one aggregate); reads per conversation would be 1 + 31 + 31 + 31 + 15.
    assert.equal(warm.reads, 5, 'reads of a list with every head cached');
    assert.deepEqual(warm.page, await truth());
    assert.equal(warm.page.items.length, 31);

    // b writes past a's cached heads: three messages in one, an edit as the newest entry of another.
    const [busy, edited] = [sent[0]!, sent[1]!];
    for (let i = 0; i < 3; i++) created(await b.persist(inGroup(busy.conversationId, busy.from)));
    created(await b.persist(inGroup(edited.conversationId, edited.from, { messageId: uid('edit.e'), body: 'changed', event: { kind: 'edited', target: edited.messageId } })));
    const behind = await listed();
    assert.deepEqual(behind.page, await truth());
    const busyItem = behind.page.items.find((item) => item.conversation.conversationId === busy.conversationId);
    assert.deepEqual([busyItem?.lastSeq, busyItem?.unread], [4, 4], 'four from the peer, none read');
    const editedItem = behind.page.items.find((item) => item.conversation.conversationId === edited.conversationId);
    assert.deepEqual([editedItem?.lastSeq, editedItem?.lastMessage?.messageId], [2, edited.messageId]);
    assert.equal(behind.reads, 6, 'the same five, and the message below the edit');

    // Far behind: more entries past the cached heads than the query takes; one read per conversation.
    await Promise.all(Array.from({ length: 100 }, () => b.persist(inGroup(sent[2]!.conversationId, sent[2]!.from)).then(created)));
    const far = await listed();
    assert.deepEqual(far.page, await truth());
    assert.equal(far.page.items[0]?.conversation.conversationId, sent[2]!.conversationId);
    assert.equal(far.page.items[0]?.lastSeq, 101);
  });

  it('counts unread past the aggregate\'s bound one conversation at a time, each capped at UNREAD_CAP', async () => {
    const uri = databases.fresh();
    const { store, reads } = await readCounted(uri);
    const me = uid('me');
    const [many, some] = [uid('p'), uid('p')];
    const firsts = [created(await store.persist(direct(many, me))), created(await store.persist(direct(some, me)))];
    // A backlog written behind the store's back (the store would take minutes on FerretDB): 1,500 and
    // 600 unread, 2,100 together, past the one aggregate's 2 × UNREAD_CAP.
    const backlog = (first: StoredMessage, count: number) =>
      Array.from({ length: count - 1 }, (_, i) => ({ _id: uid('m'), conversationId: first.conversationId, seq: i + 2, from: first.from, to: me, body: 'hi', ts: first.ts + i + 1, recipients: 1, insertedBy: 'test' }));
    await dbOf(uri).collection('messages').insertMany([...backlog(firsts[0]!, 1500), ...backlog(firsts[1]!, 600)] as never[]);
    reads.length = 0;
    const page = await store.listConversations(me, 10, undefined);
    const unread = new Map(page.items.map((item) => [item.conversation.conversationId, [item.lastSeq, item.unread]]));
    assert.deepEqual(unread.get(firsts[0]!.conversationId), [1500, UNREAD_CAP]);
    assert.deepEqual(unread.get(firsts[1]!.conversationId), [600, 600], 'counted whole, not cut by the aggregate\'s limit');
    assert.ok(reads.filter((name) => name === 'aggregate').length >= 3, `the aggregate, then a count each: ${reads.join(', ')}`);
  });

  it("reads a group's member states in two queries on MongoDB's query shapes, whatever its size", async () => {
    const uri = databases.fresh();
    const { store, reads } = await readCounted(uri);
    const [owner, ...members] = Array.from({ length: 40 }, () => uid('u'));
    const conversationId = uid('g:');
    await store.createGroup({ conversationId, title: 'big', ownerId: owner!, members, createdAt: now() });
    const first = created(await store.persist(inGroup(conversationId, owner!)));
    created(await store.persist(inGroup(conversationId, owner!)));
    await store.confirmIds(members[0]!, 'phone', [first.messageId]);
    await store.markRead(members[1]!, conversationId, 2);
    reads.length = 0;
    const states = await store.memberStates(conversationId);
    assert.equal(reads.length, 2, 'the memberships, then every member cursor at once (one each would be 41)');
    const byUser = new Map(states.map((state) => [state.userId, state]));
    assert.deepEqual(states.map((state) => state.userId), [owner, ...members]);
    assert.deepEqual([byUser.get(owner!)?.deliveredSeq, byUser.get(members[0]!)?.deliveredSeq, byUser.get(members[2]!)?.deliveredSeq], [2, 1, 0]);
    assert.equal(byUser.get(members[1]!)?.readSeq, 2);
  });

  it('two instances storing the first messages of the same direct conversations at once both store them', async () => {
    const uri = databases.fresh();
    const [a, b] = [await storeOn(uri), await storeOn(uri)];
    // Each conversation is created by whichever instance gets there first; the other must still see
    // its sender as a member (it answered not_member when the creation landed between its reads).
    // The second instance starts a little later each round, to sweep that window.
    const results = [];
    for (let round = 0; round < 12; round++) {
      const [x, y] = [uid('x'), uid('y')];
      const later = new Promise((resolve) => setTimeout(resolve, round)).then(() => b.persist(direct(y, x)));
      results.push(...(await Promise.all([a.persist(direct(x, y)), later])));
    }
    assert.deepEqual(results.map((result) => result.kind).filter((kind) => kind !== 'created'), []);
  });

  it('a direct conversation left without members (a crash between its two inserts) is completed by the next first message', async () => {
    const uri = databases.fresh();
    const store = await storeOn(uri);
    const [x, y] = [uid('x'), uid('y')];
    const conversationId = directConversationId(x, y);
    await dbOf(uri).collection('conversations').insertOne({ _id: conversationId, kind: 'direct', title: null, ownerId: null, createdAt: now() } as never);
    const first = created(await store.persist(direct(x, y)));
    assert.equal(first.seq, 1);
    assert.equal(first.conversationId, conversationId);
    const members = await dbOf(uri).collection('memberships').find({ conversationId }).toArray();
    assert.deepEqual(members.map((doc) => doc.userId).sort(), [x, y].sort());
    assert.equal(created(await store.persist(direct(y, x))).seq, 2);
  });

  it('a removed member cannot send through an instance that saw it as a member a moment ago', async () => {
    const uri = databases.fresh();
    const [a, b] = [await storeOn(uri), await storeOn(uri)];
    const [owner, leaver] = [uid('owner'), uid('leaver')];
    const conversationId = uid('g:');
    await a.createGroup({ conversationId, title: 't', ownerId: owner, members: [leaver], createdAt: now() });
    created(await a.persist(inGroup(conversationId, leaver)));
    await b.removeMember(conversationId, leaver);
    const late = inGroup(conversationId, leaver);
    assert.deepEqual(await a.persist(late), { kind: 'not_member', messageId: late.messageId });
  });

  it('asks the sender gate before each insert round: a ban refuses at once, a removal heard after a seq collision refuses the retry', async () => {
    const uri = databases.fresh();
    const [a, b] = [await storeOn(uri), await storeOn(uri)];
    const [owner, leaver, spammer] = [uid('owner'), uid('leaver'), uid('spammer')];
    const conversationId = uid('g:');
    await a.createGroup({ conversationId, title: 't', ownerId: owner, members: [leaver, spammer], createdAt: now() });
    const asked: { userId: string; readAt: number; at: number }[] = [];
    // The leaver's removal is heard just after the gate first let it through (before its insert).
    let removalHeard = false;
    a.admitSenders((userId, conversation, readAt) => {
      assert.equal(conversation, conversationId);
      asked.push({ userId, readAt, at: Date.now() });
      if (userId === spammer) return 'banned';
      if (userId !== leaver) return undefined;
      if (removalHeard) return 'removed';
      removalHeard = true;
      return undefined;
    });
    const banned = inGroup(conversationId, spammer);
    assert.deepEqual(await a.persist(banned), { kind: 'banned', messageId: banned.messageId });
    created(await a.persist(inGroup(conversationId, owner))); // a's cached head: 1
    created(await b.persist(inGroup(conversationId, owner))); // seq 2, which a does not know
    // a's first round takes seq 2 and collides; the removal is heard before its second round.
    const late = inGroup(conversationId, leaver);
    assert.deepEqual(await a.persist(late), { kind: 'not_member', messageId: late.messageId });
    assert.equal(asked.filter((call) => call.userId === leaver).length, 2, 'asked again before the second round');
    for (const call of asked) assert.ok(call.readAt <= call.at);
    assert.equal(await a.getMessage(late.messageId), undefined);
    assert.equal(await a.getMessage(banned.messageId), undefined);
    assert.deepEqual((await a.history(conversationId, undefined, 10)).messages.map((m) => m.seq), [1, 2]);
    // The server API may send as a banned user.
    assert.equal(created(await a.persist({ ...inGroup(conversationId, spammer), byServer: true })).seq, 3);
  });

  it('a restarted store sees every message, cursor and mark, and keeps marks exactly once', async () => {
    const uri = databases.fresh();
    const first = await storeOn(uri);
    const [alice, bob] = [uid('alice'), uid('bob')];
    const conversationId = directConversationId(alice, bob);
    const sent: StoredMessage[] = [];
    for (let i = 0; i < 6; i++) sent.push(created(await first.persist(direct(alice, bob, { fromDevice: 'a1' }))));
    assert.equal((await first.confirmIds(bob, 'b1', [sent[0]!.messageId, sent[1]!.messageId])).marks.length, 2);
    await first.close();

    const second = await storeOn(uri);
    for (const m of sent) assert.deepEqual(await second.getMessage(m.messageId), m);
    assert.deepEqual(await second.replayTargets(bob, 'b1'), [{ conversationId, cursor: { upTo: 2, runs: [] }, lastSeq: 6 }]);
    assert.deepEqual(await second.replayTargets(alice, 'a1'), []);
    const retry = await second.persist(direct(alice, bob, { messageId: sent[0]!.messageId, fromDevice: 'a1', ts: sent[0]!.ts + 9000 }));
    assert.deepEqual(retry, { kind: 'duplicate', message: sent[0] });
    assert.equal((await second.deliveryState(sent[0]!.messageId, bob))?.status, 'delivered', 'a retry never revives a delivery');
    assert.deepEqual((await second.confirmIds(bob, 'b2', [sent[0]!.messageId])).marks, []);
    assert.equal((await second.confirmUpTo(bob, 'b1', conversationId, 3)).marks.length, 1);
    assert.equal((await second.deliveryState(sent[2]!.messageId, bob))?.marks, 1);
    // The next message continues the sequence: the head is read from the stored messages.
    assert.equal(created(await second.persist(direct(bob, alice))).seq, 7);
  });

  it('two instances racing confirmations from several devices make exactly one mark per message', async () => {
    const uri = databases.fresh();
    const [a, b] = [await storeOn(uri), await storeOn(uri)];
    const [alice, bob] = [uid('alice'), uid('bob')];
    const conversationId = directConversationId(alice, bob);
    const sent = (await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).persist(direct(alice, bob, { body: `r${i}` }))))).map(created);
    const ids = sent.map((m) => m.messageId);
    const rounds = await Promise.all([
      a.confirmIds(bob, 'b1', ids),
      b.confirmIds(bob, 'b2', [...ids].reverse()),
      a.confirmUpTo(bob, 'b3', conversationId, 60),
      b.confirmUpTo(bob, 'b4', conversationId, 30),
    ]);
    const marked = rounds.flatMap((r) => r.marks.map((mark) => mark.messageId));
    assert.deepEqual([...marked].sort(), [...ids].sort());
    assert.equal((await a.counts()).delivered, ids.length);
    assert.equal((await a.counts()).deliveryMarks + (await b.counts()).deliveryMarks, ids.length);
    for (const [store, device] of [[a, 'b1'], [b, 'b2'], [a, 'b3']] as const) assert.deepEqual(await store.replayTargets(bob, device), [], device);
  });

  it('answers 100 retries and 200 repeated confirmations in batches, and keeps answering', async () => {
    // Guards the write shapes: FerretDB v1 holds a PostgreSQL connection per matched updateOne until
    // the command ends and deadlocks when they outnumber its pool, so no write may use one.
    const uri = databases.fresh();
    const store = await storeOn(uri);
    const [alice, bob] = [uid('alice'), uid('bob')];
    const sent = Array.from({ length: 100 }, () => direct(alice, bob, { fromDevice: 'a1' }));
    await Promise.all(sent.map((m) => store.persist(m)));
    const retries = await Promise.all(sent.map((m) => store.persist(m)));
    assert.ok(retries.every((r) => r.kind === 'duplicate'));
    const confirms = await Promise.all([...sent, ...sent].map((m, i) => store.confirmIds(bob, `b${i % 3}`, [m.messageId])));
    assert.equal(confirms.flatMap((r) => r.marks).length, 100);
    const cold = await storeOn(uri); // cold caches: every read reaches Mongo
    assert.equal((await Promise.all(sent.map((m) => cold.confirmIds(bob, 'b9', [m.messageId])))).flatMap((r) => r.marks).length, 0);
    await store.ping();
  });

  it('a device first seen on one instance starts from the cursors another instance wrote', async () => {
    const uri = databases.fresh();
    const [a, b] = [await storeOn(uri), await storeOn(uri)];
    const [alice, bob] = [uid('alice'), uid('bob')];
    const conversationId = directConversationId(alice, bob);
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(created(await a.persist(direct(alice, bob))));
    await a.confirmIds(bob, 'b1', [sent[0]!.messageId, sent[2]!.messageId]);
    assert.deepEqual(await b.replayTargets(bob, 'b2'), [{ conversationId, cursor: { upTo: 1, runs: [3, 3] }, lastSeq: 3 }]);
    // A message stored through a is a replay target for a device on b at once (no cache hides it).
    await b.confirmUpTo(bob, 'b2', conversationId, 3);
    assert.deepEqual(await b.replayTargets(bob, 'b2'), []);
    await a.persist(direct(alice, bob));
    assert.equal((await b.replayTargets(bob, 'b2'))[0]?.lastSeq, 4);
  });

  it('a retry repairs the sender cursors of a persist that stopped after its message was stored', async () => {
    const uri = databases.fresh();
    const store = await storeOn(uri);
    const [alice, bob] = [uid('alice'), uid('bob')];
    const conversationId = directConversationId(alice, bob);
    created(await store.persist(direct(alice, bob, { fromDevice: 'a1' })));
    // The crash: the message document is stored, its sender's cursors are not, no SENT ack went out.
    const lost = direct(alice, bob, { fromDevice: 'a1' });
    await dbOf(uri).collection('messages').insertOne({
      _id: lost.messageId as never, conversationId, seq: 2, from: alice, fromDevice: 'a1', to: bob, body: lost.body, ts: lost.ts, recipients: 1, insertedBy: 'crashed:1',
    });
    assert.equal((await store.replayTargets(alice, 'a1'))[0]?.lastSeq, 2, 'its own message looks pending to its device');
    const retry = await store.persist(lost);
    assert.equal(retry.kind, 'duplicate');
    assert.deepEqual(await store.replayTargets(alice, 'a1'), []);
    assert.equal(created(await store.persist(direct(bob, alice))).seq, 3);
  });

  it('a confirmation after one that stopped between its receipts and its cursors advances the cursors and marks nothing twice', async () => {
    const uri = databases.fresh();
    const store = await storeOn(uri);
    const [alice, bob] = [uid('alice'), uid('bob')];
    const conversationId = directConversationId(alice, bob);
    const m = created(await store.persist(direct(alice, bob)));
    // The crash: the receipt (the mark) is stored, the cursors are not.
    await dbOf(uri).collection('receipts').insertOne({
      _id: `${bob}/${m.messageId}` as never, userId: bob, messageId: m.messageId, conversationId, seq: 1, from: alice, ts: m.ts, deliveredAt: 1, markedBy: 'crashed:1',
    });
    assert.equal((await store.replayTargets(bob, 'b1'))[0]?.lastSeq, 1);
    const again = await store.confirmIds(bob, 'b1', [m.messageId]);
    assert.deepEqual(again.marks, []);
    assert.deepEqual(await store.replayTargets(bob, 'b1'), []);
    assert.deepEqual(await store.deliveryState(m.messageId, bob), { status: 'delivered', deliveredAt: 1, marks: 1 });
  });

  it('reads history from the {conversationId, seq} index', async () => {
    const uri = databases.fresh();
    const store = await storeOn(uri);
    const [alice, bob] = [uid('alice'), uid('bob')];
    for (let i = 0; i < 5; i++) await store.persist(direct(alice, bob));
    const conversationId = directConversationId(alice, bob);
    const plan = await dbOf(uri).collection('messages').find(historyFilter(conversationId, 4) as never).sort({ seq: -1 }).limit(3).explain();
    const text = JSON.stringify(plan);
    if ('ferretdbVersion' in (plan.serverInfo ?? {}) || 'filterPushdown' in plan) {
      // FerretDB v1 answers with the PostgreSQL plan: the conversation filter must be pushed down to
      // PostgreSQL (not a scan of every message in FerretDB); sorting happens after it.
      assert.equal(plan.filterPushdown, true, text);
      assert.match(text, /conversationId/);
    } else {
      assert.match(text, /IXSCAN/, text);
      assert.match(text, /conversation_seq/, text);
      assert.doesNotMatch(text, /COLLSCAN/, text);
    }
  });

  it('creates its named indexes at start, idempotently', async () => {
    const uri = databases.fresh();
    await storeOn(uri);
    await storeOn(uri); // a second start on the same database
    const db = dbOf(uri);
    const names = async (collection: string) => (await db.collection(collection).listIndexes().toArray()).map((index) => index.name).sort();
    assert.deepEqual((await names('messages')).filter((name) => name !== 'by_target'), ['_id_', 'conversation_seq']);
    // by_target is built after the start (indexes.ts, LATER_INDEXES), not waited for.
    for (let i = 0; i < 100 && !(await names('messages')).includes('by_target'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await names('messages'), ['_id_', 'by_target', 'conversation_seq']);
    assert.deepEqual(await names('memberships'), ['_id_', 'by_conversation', 'by_user']);
    assert.deepEqual(await names('user_cursors'), ['_id_', 'by_user']);
    assert.deepEqual(await names('device_cursors'), ['_id_', 'by_device']);
    const unique = (await db.collection('messages').listIndexes().toArray()).find((index) => index.name === 'conversation_seq');
    assert.equal(unique?.unique, true);
  });

  it('flushes queued writes on close; refuses writes after it', async () => {
    const uri = databases.fresh();
    const store = await createMongoStoreForTests(uri, { batch: { maxWaitMs: 200, maxOps: 512 } });
    const [alice, bob] = [uid('alice'), uid('bob')];
    const pending = Array.from({ length: 20 }, () => store.persist(direct(alice, bob)));
    await store.close();
    assert.ok((await Promise.all(pending)).every((r) => r.kind === 'created'));
    await assert.rejects(store.persist(direct(alice, bob)), /closed/);
    const reopened = await storeOn(uri);
    assert.equal((await reopened.counts()).messages, 20);
  });
});

export type { MongoStore, NewMessage };
