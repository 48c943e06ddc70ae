// MongoStore beyond the shared contract: batching really batches, the truth survives a restart and is
// shared by two instances on one database, sort-key ties across instances page correctly, a crash
// between the two writes is repaired by the retry, indexes are named and idempotent. Mongo only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { createMetrics } from '../../src/metrics/registry.js';
import type { MongoStore } from '../../src/store/mongo/mongo-store.js';
import { SortKeyClock } from '../../src/store/sort-key.js';
import type { NewMessage, Store } from '../../src/store/store.js';
import { createMongoStoreForTests, mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { skipReason } from '../helpers/skips.js';

const baseUri = mongoTestUri();

describe('MongoStore', { skip: baseUri ? false : skipReason('mongo') }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'store');
  const clock = new SortKeyClock();
  const open: Store[] = [];
  let n = 0;
  const uid = (prefix: string) => `${prefix}${Date.now().toString(36)}${(n++).toString(36)}`;
  const message = (overrides: Partial<NewMessage> = {}): NewMessage => {
    const seq = clock.next();
    return { messageId: uid('m'), from: 'alice', to: uid('u'), body: 'hello', ts: Math.floor(seq / 1024), seq, ...overrides };
  };
  const storeOn = async (uri: string, metrics = createMetrics({ collectDefault: false })) => {
    const store = await createMongoStoreForTests(uri, { metrics });
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
  let client: MongoClient;

  before(async () => {
    client = new MongoClient(baseUri!, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
  });
  after(async () => {
    await Promise.allSettled(open.map((store) => store.close()));
    await client.close();
    await databases.drop();
  });

  it('writes 500 concurrent persists and 500 confirmations in a few bulk writes each', async () => {
    const metrics = createMetrics({ collectDefault: false });
    const store = await storeOn(databases.fresh(), metrics);
    const sent = Array.from({ length: 500 }, (_, i) => message({ to: `r${i % 7}` }));
    const results = await Promise.all(sent.map((m) => store.persist(m)));
    assert.ok(results.every((r) => r.kind === 'created'));
    const persisted = await batchCount(metrics, 'persist');
    assert.equal(persisted.ops, 500);
    assert.ok(persisted.batches <= 3, `500 persists took ${persisted.batches} batches`);

    const marks = await Promise.all(sent.map((m) => store.markDelivered(m.to, [m.messageId])));
    assert.equal(marks.flat().length, 500);
    const marked = await batchCount(metrics, 'markDelivered');
    assert.equal(marked.ops, 500);
    assert.ok(marked.batches <= 3, `500 confirmations took ${marked.batches} batches`);
    assert.equal((await store.counts()).delivered, 500);
  });

  it('answers 100 retries of stored messages and 100 repeated confirmations in batches, and keeps answering', async () => {
    // Guards the write shapes: FerretDB v1 holds a PostgreSQL connection per matched updateOne until
    // the command ends and deadlocks when they outnumber its pool, so retries and marks must not use one.
    const uri = databases.fresh();
    const store = await storeOn(uri);
    const sent = Array.from({ length: 100 }, () => message({ to: 'retry-target' }));
    await Promise.all(sent.map((m) => store.persist(m)));
    const retries = await Promise.all(sent.map((m) => store.persist({ ...m, seq: clock.next() })));
    assert.ok(retries.every((r) => r.kind === 'duplicate'));
    assert.equal((await Promise.all(sent.map((m) => store.markDelivered(m.to, [m.messageId])))).flat().length, 100);
    const cold = await storeOn(uri); // a cold cache: every confirmation reaches Mongo
    assert.equal((await Promise.all(sent.map((m) => cold.markDelivered(m.to, [m.messageId])))).flat().length, 0);
    assert.equal((await cold.counts()).delivered, 100);
    await store.ping();
  });

  it('a restarted store sees every stored message, delivery state and mark, and keeps marks exactly once', async () => {
    const uri = databases.fresh();
    const first = await storeOn(uri);
    const to = uid('bob');
    const sent = Array.from({ length: 6 }, (_, i) => message({ to, body: `b${i}` }));
    for (const m of sent) await first.persist(m);
    assert.equal((await first.markDelivered(to, [sent[0]!.messageId, sent[1]!.messageId])).length, 2);
    await first.close();

    const second = await storeOn(uri);
    for (const m of sent) assert.deepEqual(await second.getMessage(m.messageId), m);
    const page = await second.pendingFor(to, undefined, 100);
    assert.deepEqual(page.messages.map((m) => m.messageId), sent.slice(2).map((m) => m.messageId));
    const retry = await second.persist({ ...sent[0]!, ts: sent[0]!.ts + 9000, seq: clock.next() });
    assert.deepEqual(retry, { kind: 'duplicate', message: sent[0] });
    assert.equal((await second.deliveryState(sent[0]!.messageId, to))?.status, 'delivered', 'a retry never revives a delivery');
    assert.deepEqual(await second.markDelivered(to, [sent[0]!.messageId]), []);
    assert.equal((await second.markDelivered(to, [sent[2]!.messageId])).length, 1);
    assert.equal((await second.deliveryState(sent[2]!.messageId, to))?.marks, 1);
  });

  it('two instances on one database: one insert per messageId, one mark per delivery, and no cache hides the other’s messages', async () => {
    const uri = databases.fresh();
    const [a, b] = [await storeOn(uri), await storeOn(uri)];
    const to = uid('bob');
    // b has read "nothing pending" for bob: a message stored through a must still be listed by b.
    assert.deepEqual((await b.pendingFor(to, undefined, 10)).messages, []);
    const m = message({ to });
    const persisted = await Promise.all([a.persist(m), b.persist({ ...m, seq: clock.next() }), a.persist(m), b.persist(m)]);
    assert.equal(persisted.filter((r) => r.kind === 'created').length, 1);
    assert.ok(persisted.every((r) => r.kind !== 'conflict'));
    assert.deepEqual((await b.pendingFor(to, undefined, 10)).messages.map((x) => x.messageId), [m.messageId]);

    const marks = await Promise.all([a, b, a, b].map((store) => store.markDelivered(to, [m.messageId])));
    assert.equal(marks.flat().length, 1);
    assert.equal((await a.deliveryState(m.messageId, to))?.marks, 1);
    for (const store of [a, b]) assert.deepEqual((await store.pendingFor(to, undefined, 10)).messages, []);
    assert.equal((await a.counts()).deliveryMarks + (await b.counts()).deliveryMarks, 1);
  });

  it('two instances racing confirmations of many deliveries make exactly one mark each', async () => {
    const uri = databases.fresh();
    const [a, b] = [await storeOn(uri), await storeOn(uri)];
    const to = uid('race');
    const sent = Array.from({ length: 60 }, (_, i) => message({ to, body: `r${i}` }));
    await Promise.all(sent.map((m, i) => (i % 2 ? a : b).persist(m)));
    const ids = sent.map((m) => m.messageId);
    // Both instances, several confirmations each, in different orders: two devices of one user.
    const rounds = await Promise.all([a, b, a, b].map((store, k) => store.markDelivered(to, k % 2 ? [...ids].reverse() : ids)));
    const marked = rounds.flat().map((mark) => mark.messageId);
    assert.equal(marked.length, ids.length);
    assert.deepEqual([...marked].sort(), [...ids].sort());
    for (const m of sent.slice(0, 5)) assert.equal((await a.deliveryState(m.messageId, to))?.marks, 1);
    assert.equal((await a.counts()).delivered, ids.length);
    for (const store of [a, b]) assert.deepEqual((await store.pendingFor(to, undefined, 100)).messages, []);
  });

  it('a confirmation of an id not stored yet leaves nothing behind: the message, once sent, is marked normally', async () => {
    const store = await storeOn(databases.fresh());
    const m = message();
    assert.deepEqual(await store.markDelivered(m.to, [m.messageId]), []);
    await store.persist(m);
    assert.equal((await store.pendingFor(m.to, undefined, 10)).messages.length, 1);
    assert.equal((await store.markDelivered(m.to, [m.messageId])).length, 1);
  });

  it('pages without gaps or repeats when two instances handed out the same sort keys', async () => {
    const store = await storeOn(databases.fresh());
    const to = uid('ties');
    const base = clock.next();
    // Two instances in the same millisecond: keys base, base+1, base+2 from each.
    const sent = [0, 0, 1, 1, 2, 2].map((k, i) => message({ to, seq: base + k, messageId: `tie${i}${uid('')}` }));
    for (const m of sent) await store.persist(m);
    for (const limit of [1, 2, 3, 5]) {
      const seen: string[] = [];
      let after: number | undefined;
      let pages = 0;
      do {
        const page = await store.pendingFor(to, after, limit);
        seen.push(...page.messages.map((m) => m.messageId));
        after = page.next;
      } while (after !== undefined && ++pages < 20);
      assert.deepEqual([...seen].sort(), sent.map((m) => m.messageId).sort(), `limit ${limit}`);
      const seqs = seen.map((id) => sent.find((m) => m.messageId === id)!.seq);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), `limit ${limit}: in key order`);
    }
  });

  it('a retry repairs a delivery entry lost by a crash between the two writes, after newer messages', async () => {
    const uri = databases.fresh();
    const store = await storeOn(uri);
    const to = uid('crash');
    const lost = message({ to });
    const db = client.db(new URL(uri).pathname.slice(1));
    // The crash: the message document is written, its delivery entry is not, no SENT ack went out.
    await db.collection('messages').insertOne({ _id: lost.messageId as never, from: lost.from, to, body: lost.body, ts: lost.ts, seq: lost.seq, insertedBy: 'crashed:1' });
    const newer = message({ to });
    await store.persist(newer);
    const retry = await store.persist({ ...lost, seq: clock.next() });
    assert.deepEqual(retry, { kind: 'duplicate', message: lost });
    const page = await store.pendingFor(to, undefined, 10);
    // Listed after the newer one: it was first acknowledged by the retry.
    assert.deepEqual(page.messages.map((m) => m.messageId), [newer.messageId, lost.messageId]);
    assert.deepEqual(page.messages[1], lost);
  });

  it('judges every send of one messageId in a batch against the stored one', async () => {
    const store = await storeOn(databases.fresh());
    const m = message();
    const results = await Promise.all([store.persist(m), store.persist({ ...m, body: 'other' }), store.persist(m)]);
    assert.deepEqual(results.map((r) => r.kind), ['created', 'conflict', 'duplicate']);
  });

  it('creates its named indexes at start, idempotently', async () => {
    const uri = databases.fresh();
    await storeOn(uri);
    await storeOn(uri); // a second start on the same database
    const db = client.db(new URL(uri).pathname.slice(1));
    const names = async (collection: string) => (await db.collection(collection).listIndexes().toArray()).map((index) => index.name).sort();
    assert.deepEqual(await names('deliveries'), ['_id_', 'pending_by_recipient']);
    assert.deepEqual(await names('messages'), ['_id_', 'conversation_by_seq']);
  });

  it('flushes queued writes on close; refuses writes after it', async () => {
    const uri = databases.fresh();
    const store = await createMongoStoreForTests(uri, { batch: { maxWaitMs: 200, maxOps: 512 } });
    const sent = Array.from({ length: 20 }, () => message());
    const pending = sent.map((m) => store.persist(m));
    await store.close();
    assert.ok((await Promise.all(pending)).every((r) => r.kind === 'created'));
    await assert.rejects(store.persist(message()), /closed/);
    const reopened = await storeOn(uri);
    assert.equal((await reopened.counts()).messages, 20);
  });
});

export type { MongoStore };
