// Over a network a send's SENT ack and a confirmation's DELIVERED ack wait for the store's database
// round trips one after another: the MongoStore makes three for each (docs/store.md, "Writes per
// message"), and five for the first message to a new contact. Through a latency proxy whose delay
// dwarfs the database's own time, a lone persist and a lone confirmation must each take less than 3.6
// times one `ping` through the same proxy (a fourth round trip would make it 4), and that first
// message less than 5.6 (it took 7 when each conversation was created on its own). One conversation
// for its page (GET /api/conversations/:id) takes two, under 2.6 (three when the membership was read
// before the last message). A replay's merge (src/chat/replay-merge.ts) over 40 conversations with a
// message pending each reads their pages 16 at a time: under 6 pings (40 when it read them one after
// another); with MongoDB's query shapes in one query, under 1.6. A ratio measured in one run, as timings here must be. Mongo only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { startLatencyProxy, type LatencyProxy } from '../../bench/lib/latency-proxy.js';
import { median } from '../../bench/lib/stats.js';
import { ReplayMerge } from '../../src/chat/replay-merge.js';
import { directConversationId } from '../../src/store/conversation-ids.js';
import type { MongoStore } from '../../src/store/mongo/mongo-store.js';
import { createMongoStoreForTests, mongoTestUri, mongoUriThrough, TestDatabases } from '../helpers/mongo.js';
import { skipReason } from '../helpers/skips.js';

const baseUri = mongoTestUri();
/** One way: a round trip is 200 ms, against a few ms of FerretDB's own per command, even loaded. */
const DELAY_MS = 100;
const MAX_ROUND_TRIPS = 3.6;
const MAX_FIRST_ROUND_TRIPS = 5.6;
const MAX_ITEM_ROUND_TRIPS = 2.6;
const REPLAY_CONVERSATIONS = 40;
const MAX_REPLAY_ROUND_TRIPS = 6;
const MAX_ONE_QUERY_ROUND_TRIPS = 1.6;
const SAMPLES = 3;

async function timed(action: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await action();
  return performance.now() - t0;
}

describe('MongoStore round trips one after another', { skip: baseUri ? false : skipReason('mongo') }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'trips');
  let proxy: LatencyProxy;
  let store: MongoStore;
  let client: MongoClient;
  let ping = 0;
  let directUri = '';

  before(async () => {
    proxy = await startLatencyProxy({ target: new URL(baseUri!).host, delayMs: DELAY_MS });
    directUri = databases.fresh();
    const viaProxy = mongoUriThrough(directUri, proxy.port);
    store = await createMongoStoreForTests(viaProxy, { batch: { maxWaitMs: 0, maxOps: 512 }, opTimeoutMs: 30_000 });
    client = await new MongoClient(viaProxy, { directConnection: true }).connect();
    const pings: number[] = [];
    for (let i = 0; i < SAMPLES; i++) pings.push(await timed(() => client.db('admin').command({ ping: 1 })));
    ping = median(pings);
    // Warm: the conversation exists, both devices were seen, the head and the facts are cached.
    for (let i = 0; i < 2; i++) assert.equal((await store.persist({ messageId: `warm-${i}`, from: 'alice', fromDevice: 'phone', to: 'bob', body: 'hi', ts: Date.now() })).kind, 'created');
    await store.confirmIds('bob', 'laptop', ['warm-0', 'warm-1']);
  });

  after(async () => {
    await client?.close();
    await store?.close();
    await proxy?.close();
    await databases.drop();
  });

  /** Runs `action(i)` SAMPLES times, one after another, and asserts the median under `max` pings. */
  const assertUnder = async (max: number, what: string, action: (i: number) => Promise<void>) => {
    const times: number[] = [];
    for (let i = 0; i < SAMPLES; i++) times.push(await timed(() => action(i)));
    const trips = median(times) / ping;
    assert.ok(trips < max, `${what} took ${trips.toFixed(2)} pings (${times.map((t) => t.toFixed(0)).join(', ')} ms; ping ${ping.toFixed(0)} ms)`);
  };

  it(`a lone send waits for at most three (under ${MAX_ROUND_TRIPS} pings)`, () =>
    assertUnder(MAX_ROUND_TRIPS, 'persist', async (i) => {
      assert.equal((await store.persist({ messageId: `m-${i}`, from: 'alice', fromDevice: 'phone', to: 'bob', body: 'hello', ts: Date.now() })).kind, 'created');
    }));

  // Besides a send's three: the conversation documents of the batch, then their memberships.
  it(`the first message to a new contact waits for at most five (under ${MAX_FIRST_ROUND_TRIPS} pings)`, () =>
    assertUnder(MAX_FIRST_ROUND_TRIPS, 'first persist', async (i) => {
      assert.equal((await store.persist({ messageId: `first-${i}`, from: 'alice', fromDevice: 'phone', to: `contact-${i}`, body: 'hello', ts: Date.now() })).kind, 'created');
    }));

  // The membership beside the last message, then the conversation, its members and the unread count.
  it(`one conversation with its last message and unread count waits for two (under ${MAX_ITEM_ROUND_TRIPS} pings)`, () =>
    assertUnder(MAX_ITEM_ROUND_TRIPS, 'conversationItem', async () => {
      const item = await store.conversationItem(directConversationId('alice', 'bob'), 'bob');
      assert.ok(item && item.unread > 0 && item.lastMessage !== null);
    }));

  it(`a replay over ${REPLAY_CONVERSATIONS} conversations reads their pages in parallel (under ${MAX_REPLAY_ROUND_TRIPS} pings)`, async () => {
    // Stored by another instance without the proxy: only the replay's reads are timed.
    const other = await createMongoStoreForTests(directUri, { opTimeoutMs: 30_000 });
    try {
      await Promise.all(Array.from({ length: REPLAY_CONVERSATIONS }, (_, i) => other.persist({ messageId: `away-${i}`, from: `peer-${i}`, fromDevice: 'phone', to: 'carol', body: 'hi', ts: Date.now() + i })));
    } finally {
      await other.close();
    }
    const replays = (on: MongoStore, most: number, shapes: string) => async () => {
      const targets = await on.replayTargets('carol', 'tablet');
      assert.equal(targets.length, REPLAY_CONVERSATIONS);
      await assertUnder(most, `replay merge (${shapes})`, async () => {
        const merge = new ReplayMerge(on, targets, 20, () => false);
        const replayed: string[] = [];
        for (let message = await merge.next(); message; message = await merge.next()) replayed.push(message.messageId);
        assert.deepEqual(replayed, Array.from({ length: REPLAY_CONVERSATIONS }, (_, i) => `away-${i}`), 'by accept time');
      });
    };
    await replays(store, MAX_REPLAY_ROUND_TRIPS, "FerretDB's: a read per conversation, 16 at a time")();
    // MongoDB's shapes (one `$or` for the 40 pages), run on FerretDB: one round trip.
    const mongoShapes = await createMongoStoreForTests(mongoUriThrough(directUri, proxy.port), { opTimeoutMs: 30_000, idLookup: 'in' });
    try {
      await replays(mongoShapes, MAX_ONE_QUERY_ROUND_TRIPS, "MongoDB's: one query")();
    } finally {
      await mongoShapes.close();
    }
  });

  it(`a lone confirmation waits for at most three (under ${MAX_ROUND_TRIPS} pings)`, () =>
    assertUnder(MAX_ROUND_TRIPS, 'confirmIds', async (i) => {
      assert.equal((await store.confirmIds('bob', 'laptop', [`m-${i}`])).marks.length, 1);
    }));
});
