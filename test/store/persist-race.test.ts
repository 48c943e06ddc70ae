// A retry that races its first attempt on another instance, found only when its insert hits the
// stored id: the sender's cursors are read while the insert runs (persist-batch.ts), so the stored
// message may name a device whose cursors were not read. They must be read then, not taken as empty:
// a cursor written from nothing would forget what that device already has, and replay it again.
//
// Instance B talks to the database through a 200 ms-each-way proxy, instance A directly: A stores the
// message after B's existing-id check has run in the database and before B's insert arrives there.
// Mongo only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startLatencyProxy, type LatencyProxy } from '../../bench/lib/latency-proxy.js';
import { covers } from '../../src/store/cursor.js';
import type { MongoStore } from '../../src/store/mongo/mongo-store.js';
import type { NewMessage } from '../../src/store/store.js';
import { createMongoStoreForTests, mongoTestUri, mongoUriThrough, TestDatabases } from '../helpers/mongo.js';
import { skipReason } from '../helpers/skips.js';

const baseUri = mongoTestUri();
const DELAY_MS = 200;

describe('MongoStore: a retry found a duplicate only at its insert', { skip: baseUri ? false : skipReason('mongo') }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'race');
  let proxy: LatencyProxy;
  let direct: MongoStore;
  let slow: MongoStore;

  before(async () => {
    proxy = await startLatencyProxy({ target: new URL(baseUri!).host, delayMs: DELAY_MS });
    const uri = databases.fresh();
    direct = await createMongoStoreForTests(uri, { batch: { maxWaitMs: 0, maxOps: 512 }, opTimeoutMs: 30_000 });
    slow = await createMongoStoreForTests(mongoUriThrough(uri, proxy.port), { batch: { maxWaitMs: 0, maxOps: 512 }, opTimeoutMs: 30_000 });
  });

  after(async () => {
    await slow?.close();
    await direct?.close();
    await proxy?.close();
    await databases.drop();
  });

  it("moves the stored message's device cursor from what it holds, and leaves the retrying device's alone", async () => {
    const send = (messageId: string, fromDevice: string): NewMessage => ({ messageId, from: 'alice', fromDevice, to: 'bob', body: `body of ${messageId}`, ts: Date.now() });
    // alice's phone sends seqs 1 and 2 (through A); her laptop seq 3 (through B, which now knows both devices).
    assert.equal((await direct.persist(send('p-1', 'phone'))).kind, 'created');
    assert.equal((await direct.persist(send('p-2', 'phone'))).kind, 'created');
    assert.equal((await slow.persist(send('l-3', 'laptop'))).kind, 'created');

    // The same message from the laptop through B, and from the phone through A while B's insert travels.
    // B's check reaches the database after DELAY_MS and its insert after 3 × DELAY_MS: A, starting at
    // 1.25 × DELAY_MS, has 350 ms to store the message even on a loaded machine. (Should A store it
    // before B's check runs, B finds it there: the test still holds, through the other path.)
    const fromLaptop = slow.persist(send('x', 'laptop'));
    await new Promise((resolve) => setTimeout(resolve, DELAY_MS * 1.25));
    const first = await direct.persist(send('x', 'phone'));
    const retry = await fromLaptop;
    assert.equal(first.kind, 'created');
    assert.equal(retry.kind, 'duplicate', 'B found the message A stored (A was slower than B\'s insert?)');
    assert.ok(retry.kind === 'duplicate' && retry.message.fromDevice === 'phone' && retry.message.seq === 4);

    // The phone holds its own messages 1, 2 and 4 and still lacks the laptop's 3. The laptop started
    // where its user was (1 and 2: a new device copies its user's cursor), holds its 3, and lacks 4.
    const phone = (await direct.replayTargets('alice', 'phone')).find((target) => target.conversationId === retry.message.conversationId);
    assert.ok(phone, 'the phone has the laptop message pending');
    assert.deepEqual([1, 2, 3, 4].map((seq) => covers(phone.cursor, seq)), [true, true, false, true], 'the phone cursor');
    const laptop = (await direct.replayTargets('alice', 'laptop')).find((target) => target.conversationId === retry.message.conversationId);
    assert.ok(laptop, 'the laptop has the message stored as the phone\'s pending');
    assert.deepEqual([1, 2, 3, 4].map((seq) => covers(laptop.cursor, seq)), [true, true, true, false], 'the laptop cursor');
  });
});
