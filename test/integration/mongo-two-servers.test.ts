// Two server processes on one database (scale-out without a bus): a message sent through one is
// replayed exactly once through the other, a confirmation made through either is honoured by both,
// a retry through the other instance is a duplicate with the original ts, and no cache on either
// side hides or repeats a delivery. Mongo only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signToken } from '../../src/auth/jwt.js';
import type { MongoStore } from '../../src/store/mongo/mongo-store.js';
import { createMongoStoreForTests, mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { TEST_SECRET, testEnv } from '../helpers/server.js';
import { skipReason } from '../helpers/skips.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';

const baseUri = mongoTestUri();

describe('two server processes on one database', { skip: baseUri ? false : skipReason('mongo') }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'two');
  const servers: ServerProcess[] = [];
  const clients: TestClient[] = [];
  let dbUri: string;
  let urls: { a: string; b: string };
  let truth: MongoStore;

  const start = () => {
    const server = spawnServer(testEnv({ DB_URI: dbUri }));
    servers.push(server);
    return server.listening.then((port) => `ws://127.0.0.1:${port}/ws`);
  };
  const connect = async (url: string, userId: string) => {
    const { client, replayed } = await TestClient.connectReady(url, await signToken({ secret: TEST_SECRET, userId, ttlSec: 600 }));
    clients.push(client);
    return { client, replayed: replayed.map((frame) => String(frame.messageId)) };
  };
  const deliveredAck = (messageId: string) => (frame: Frame) => frame.type === 'ack' && frame.status === 'DELIVERED' && frame.messageId === messageId;

  before(async () => {
    dbUri = databases.fresh();
    const [a, b] = await Promise.all([start(), start()]);
    urls = { a, b };
    truth = await createMongoStoreForTests(dbUri);
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    for (const server of servers) server.kill('SIGTERM');
    await Promise.all(servers.map((server) => server.exited));
    await truth?.close();
    await databases.drop();
  });

  it('replays through B, exactly once, what was sent through A, even after B saw "nothing pending"', async () => {
    const bob = await connect(urls.b, 'bob');
    assert.deepEqual(bob.replayed, []);
    await bob.client.close();

    const alice = await connect(urls.a, 'alice');
    const aliceOnB = await connect(urls.b, 'alice'); // a second device: gets B's DELIVERED acks
    const sent = await alice.client.sendMessage('x-1', 'bob', 'across instances');
    assert.equal(sent.status, 'SENT');

    const bobAgain = await connect(urls.b, 'bob');
    assert.deepEqual(bobAgain.replayed, ['x-1']);
    bobAgain.client.send({ type: 'delivered', messageIds: ['x-1'] });
    await aliceOnB.client.next(deliveredAck('x-1'));

    // Honoured by both: neither instance replays it again.
    for (const url of [urls.a, urls.b]) assert.deepEqual((await connect(url, 'bob')).replayed, []);
    const state = await truth.deliveryState('x-1', 'bob');
    assert.equal(state?.status, 'delivered');
    assert.equal(state?.marks, 1);
  });

  it('a confirmation repeated through the other instance makes no second mark', async () => {
    const alice = await connect(urls.a, 'alice2');
    const aliceOnB = await connect(urls.b, 'alice2');
    const bobOnB = await connect(urls.b, 'bob2');
    await alice.client.sendMessage('y-1', 'bob2', 'one');
    await alice.client.sendMessage('y-2', 'bob2', 'two');
    const bobOnA = await connect(urls.a, 'bob2');
    assert.deepEqual(bobOnA.replayed, ['y-1', 'y-2']);
    // y-1 confirmed through B, then both through A: only y-2 is new on A.
    bobOnB.client.send({ type: 'delivered', messageIds: ['y-1'] });
    await aliceOnB.client.next(deliveredAck('y-1'));
    bobOnA.client.send({ type: 'delivered', messageIds: ['y-1', 'y-2'] });
    await alice.client.next(deliveredAck('y-2'));
    assert.equal(alice.client.frames.filter(deliveredAck('y-1')).length, 0, 'y-1 was marked through B: no DELIVERED from A');
    assert.equal(aliceOnB.client.frames.filter(deliveredAck('y-1')).length, 1);
    assert.equal((await truth.deliveryState('y-1', 'bob2'))?.marks, 1);
    assert.equal((await truth.deliveryState('y-2', 'bob2'))?.marks, 1);
  });

  it('a retry through the other instance is a duplicate with the original ts, delivered once', async () => {
    const viaA = await connect(urls.a, 'carol');
    const viaB = await connect(urls.b, 'carol');
    const first = await viaA.client.sendMessage('z-1', 'dave', 'hello');
    const retry = await viaB.client.sendMessage('z-1', 'dave', 'hello');
    assert.equal(first.duplicate, false);
    assert.equal(retry.duplicate, true);
    assert.equal(retry.ts, first.ts);
    const conflict = await viaB.client.sendMessage('z-1', 'dave', 'changed');
    assert.equal(conflict.code, 'conflict');
    const [onA, onB] = [await connect(urls.a, 'dave'), await connect(urls.b, 'dave')];
    assert.deepEqual(onA.replayed, ['z-1']);
    assert.deepEqual(onB.replayed, ['z-1']);
    assert.equal((await truth.getMessage('z-1'))?.body, 'hello');
  });

  it('concurrent sends through both instances to one recipient are all replayed once, in key order', async () => {
    const senders = [await connect(urls.a, 'erin'), await connect(urls.b, 'frank')];
    const acks = await Promise.all(
      Array.from({ length: 40 }, (_, i) => senders[i % 2]!.client.sendMessage(`w-${i}`, 'gina', `m${i}`)),
    );
    assert.ok(acks.every((ack) => ack.status === 'SENT'));
    const replays = [await connect(urls.a, 'gina'), await connect(urls.b, 'gina')];
    for (const { replayed } of replays) assert.deepEqual([...replayed].sort(), acks.map((ack) => String(ack.messageId)).sort());
    assert.deepEqual(replays[0]!.replayed, replays[1]!.replayed, 'both instances replay in the same (store) order');
    // Each sender's own messages keep their send order.
    for (const parity of [0, 1]) {
      const own = replays[0]!.replayed.filter((id) => Number(id.slice(2)) % 2 === parity);
      assert.deepEqual(own, [...own].sort((x, y) => Number(x.slice(2)) - Number(y.slice(2))));
    }
  });
});
