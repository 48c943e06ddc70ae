// Two servers on one MongoDB database both sweep for offline pushes: each notification is claimed
// (inserted under its deterministic id) by one of them and sent once. Mongo only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pushNotificationId } from '../../src/push/notification.js';
import { createMongoStoreForTests, mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { PushReceiver } from '../helpers/push-receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skipReason } from '../helpers/skips.js';
import { TestClient } from '../helpers/ws-client.js';
import { metricValue } from '../reliability/metric-value.js';

const baseUri = mongoTestUri();

describe('offline push with two instances on one database', { skip: baseUri ? false : skipReason('mongo') }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'push2');
  let receiver: PushReceiver;
  let servers: TestServer[] = [];

  before(async () => {
    receiver = await PushReceiver.start();
    const dbUri = databases.fresh();
    const env = {
      PUSH_WEBHOOK_URL: receiver.url,
      PUSH_WEBHOOK_SECRET: 'two-instances-secret-0123456789abcdef',
      PUSH_AFTER_MS: '300',
      PUSH_SWEEP_MS: '25',
      PUSH_COALESCE_MS: '60000',
    };
    servers = await Promise.all([0, 1].map(async () => startTestServer({ store: await createMongoStoreForTests(dbUri), env })));
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await receiver.close();
    await databases.drop();
  });

  it('sends each notification once, whichever instance the message went through', async () => {
    const expected = new Set<string>();
    const senders = await Promise.all(servers.map(async (server, i) => (await TestClient.connectReady(server.wsUrl, await server.token(`two-alice${i}`))).client));
    for (let i = 0; i < 20; i++) {
      const to = `two-bob${i}`;
      const ack = await senders[i % 2]!.sendMessage(`two-m${i}`, to, `hello ${i}`);
      assert.equal(ack.status, 'SENT');
      expected.add(pushNotificationId(to, String(ack.conversationId), Number(ack.seq)));
    }
    await receiver.until(() => [...expected].every((id) => receiver.received.some((push) => push.payload.id === id && push.status === 200)), 30_000, 'every push');
    // Once every row is recorded sent, no instance can send one again (a send needs a pending row).
    const rows = async () => Promise.all([...expected].map((id) => servers[0]!.store.push.get(id)));
    const deadline = Date.now() + 15_000;
    while (!(await rows()).every((row) => row?.status === 'sent')) {
      assert.ok(Date.now() < deadline, 'every row recorded sent');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const perId = new Map<string, number>();
    for (const push of receiver.received) perId.set(push.payload.id, (perId.get(push.payload.id) ?? 0) + 1);
    assert.deepEqual([...perId.keys()].sort(), [...expected].sort());
    assert.ok([...perId.values()].every((count) => count === 1), `each id POSTed once: ${JSON.stringify([...perId.values()])}`);
    const sent = await Promise.all(servers.map((server) => metricValue(server.server.metrics.pushSent)));
    assert.equal(sent[0]! + sent[1]!, expected.size);
    const owners = new Set((await rows()).map((row) => row!.claimedBy));
    console.log(`# two instances: pushes sent ${sent.join(' + ')}; claimed by ${owners.size} instance(s)`);
    await Promise.all(senders.map((client) => client.close()));
  });
});
