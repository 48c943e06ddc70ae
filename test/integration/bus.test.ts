// Two server processes on one database with the live bus (NATS): a message sent through one reaches
// the recipient's connections on the other live, once per connection; the DELIVERED ack reaches the
// sender on the other instance; a garbage event on the bus is counted and harms nothing; an instance
// whose bus is unreachable still starts and serves. Needs MongoDB (TEST_MONGO_URI) and NATS
// (TEST_NATS_URI, default nats://127.0.0.1:4222); REQUIRE_BUS=1 makes a missing NATS a failure.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect as natsConnect } from 'nats';
import { signToken } from '../../src/auth/jwt.js';
import { mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { freePort } from '../helpers/net.js';
import { TEST_SECRET, testEnv } from '../helpers/server.js';
import { natsSkip, natsUri, testBusNamespace } from '../helpers/nats.js';
import { skipReason } from '../helpers/skips.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';
import { isDeliveredAck } from '../helpers/conversations.js';

const baseUri = mongoTestUri();
/** This run's subjects (`chat.<namespace>.…`): another run on the same NATS is another deployment. */
const namespace = testBusNamespace();

const skip = !baseUri ? skipReason('mongo') : natsSkip;

describe('live bus between two server processes', { skip }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'bus');
  const servers: ServerProcess[] = [];
  const clients: TestClient[] = [];
  let dbUri: string;
  let urls: { a: string; b: string };

  const start = (busUri: string) => {
    const server = spawnServer(testEnv({ DB_URI: dbUri, BUS_URI: busUri, BUS_NAMESPACE: namespace }));
    servers.push(server);
    return server.listening.then((port) => ({ server, port, url: `ws://127.0.0.1:${port}/ws` }));
  };
  const connect = async (url: string, userId: string) => {
    const { client } = await TestClient.connectReady(url, await signToken({ secret: TEST_SECRET, userId, ttlSec: 600 }));
    clients.push(client);
    return client;
  };
  const isMessage = (messageId: string) => (frame: Frame) => frame.type === 'message' && frame.messageId === messageId;
  const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

  before(async () => {
    dbUri = databases.fresh();
    const [a, b] = await Promise.all([start(natsUri), start(natsUri)]);
    urls = { a: a.url, b: b.url };
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    for (const server of servers) server.kill('SIGTERM');
    await Promise.all(servers.map((server) => server.exited));
    await databases.drop();
  });

  it('delivers live across instances, once per connection, and brings the DELIVERED ack back to the sender', async () => {
    const alice = await connect(urls.a, 'bus-alice');
    const bobOnB = await connect(urls.b, 'bus-bob');
    const bobOnA = await connect(urls.a, 'bus-bob');

    const sent = await alice.sendMessage('bus-1', 'bus-bob', 'across the bus');
    assert.equal(sent.status, 'SENT');
    await bobOnB.next(isMessage('bus-1'), 3000); // live: no reconnect, no sync
    await bobOnA.next(isMessage('bus-1'), 3000);

    bobOnB.send({ type: 'delivered', messageIds: ['bus-1'] });
    await alice.next(isDeliveredAck('bus-1'), 3000);
    await settle();
    assert.equal(bobOnB.frames.filter(isMessage('bus-1')).length, 1, 'once on B');
    assert.equal(bobOnA.frames.filter(isMessage('bus-1')).length, 1, 'once on A: its own event coming back from the bus is skipped');
    assert.equal(alice.frames.filter(isDeliveredAck('bus-1')).length, 1, 'one DELIVERED ack');
  });

  it('carries an edit across instances as an event, not as a message (v1.2)', async () => {
    const alice = await connect(urls.a, 'bus-ed-alice');
    const { client: bobOnB } = await TestClient.connectReady(`${urls.b}?device=b1&events=1`, await signToken({ secret: TEST_SECRET, userId: 'bus-ed-bob', ttlSec: 600 }));
    clients.push(bobOnB);
    await alice.sendMessage('bus-ed-1', 'bus-ed-bob', 'helo');
    await bobOnB.next(isMessage('bus-ed-1'), 3000);
    alice.send({ type: 'edit', messageId: 'bus-ed-1', editId: 'bus-ed-fix', body: 'hello' });
    const event = await bobOnB.next((frame) => frame.type === 'message_event', 3000); // live, through the bus
    assert.equal(event.event, 'edited');
    assert.equal(event.messageId, 'bus-ed-1');
    assert.equal(event.body, 'hello');
    assert.equal(event.eventId, 'edit.bus-ed-fix');
    assert.equal(bobOnB.frames.filter((frame) => frame.type === 'message').length, 1, 'the edit did not arrive as a second message');
  });

  it('counts a garbage event on a user subject and keeps delivering', async () => {
    const carol = await connect(urls.b, 'bus-carol');
    const nc = await natsConnect({ servers: natsUri });
    try {
      const subject = `chat.${namespace}.u.${Buffer.from('bus-carol').toString('base64url')}`;
      for (const garbage of ['not json', '{"kind":"message","origin":"x","message":{"body":{"$gt":""}}}', '{"kind":"delivered"}']) nc.publish(subject, garbage);
      await nc.flush();
    } finally {
      await nc.close();
    }
    const dave = await connect(urls.a, 'bus-dave');
    await dave.sendMessage('bus-2', 'bus-carol', 'still works');
    await carol.next(isMessage('bus-2'), 3000);
    assert.equal(carol.frames.filter((frame) => frame.type === 'message').length, 1, 'nothing but the real message reached the client');
    const metrics = await (await fetch(urls.b.replace('ws://', 'http://').replace('/ws', '/metrics'))).text();
    assert.match(metrics, /chat_bus_events_total\{direction="invalid"\} 3/);
  });

  it('starts and serves its own users when the bus is unreachable', async () => {
    const c = await start(`nats://127.0.0.1:${await freePort()}`);
    const erin = await connect(c.url, 'bus-erin');
    const frank = await connect(c.url, 'bus-frank');
    await erin.sendMessage('bus-3', 'bus-frank', 'local only');
    await frank.next(isMessage('bus-3'), 3000);
    // Across instances the store still delivers, by replay.
    const frankOnA = await connect(urls.a, 'bus-frank');
    assert.equal(frankOnA.frames.filter(isMessage('bus-3')).length, 1);
  });
});
