// Pending pushes survive a SIGKILL: the push state is in the store, not in the process. The real
// server process on MongoDB, a real webhook receiver answering 500 until the kill; after a restart on
// the same DB_URI every notification reaches the receiver: the ones claimed and failing before the
// kill (taken over when their lease ends), and the ones whose messages were stored just before it and
// were never claimed (found again by the restarted sweep).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pushNotificationId } from '../../src/push/notification.js';
import { verifySignature } from '../../src/push/signature.js';
import { dropDatabases } from '../helpers/mongo.js';
import { PushReceiver } from '../helpers/push-receiver.js';
import { TestClient } from '../helpers/ws-client.js';
import { faultMongoUri, freshDbUri, RestartableServer, signTokens } from './server-process.js';

const mongo = faultMongoUri();
const SECRET = 'push-restart-secret-0123456789abcdef';

describe('offline push across a SIGKILL (Mongo store)', { skip: mongo.skip }, () => {
  it('sends every pending push after the server is killed and restarted on the same store', { timeout: 120_000 }, async () => {
    const { dbName, dbUri } = freshDbUri(mongo.uri!, 'rel_push');
    const receiver = await PushReceiver.start();
    receiver.answer = () => 500;
    const server = await RestartableServer.create(dbUri, {
      PUSH_WEBHOOK_URL: receiver.url,
      PUSH_WEBHOOK_SECRET: SECRET,
      PUSH_AFTER_MS: '500',
      PUSH_SWEEP_MS: '50',
      PUSH_RETRY_BASE_MS: '100',
      PUSH_RETRY_MAX_MS: '400',
      PUSH_TIMEOUT_MS: '1000',
      PUSH_LEASE_MS: '2000',
      PUSH_MAX_AGE_MS: '120000',
    });
    const claimed = ['kim1', 'kim2', 'kim3', 'kim4'];
    const unclaimed = ['lee1', 'lee2'];
    const tokens = await signTokens(['alice']);
    const expected = new Map<string, string>();
    try {
      await server.start();
      const { client: alice } = await TestClient.connectReady(server.wsUrl, tokens.get('alice')!);
      const send = async (to: string, i: number) => {
        const ack = await alice.sendMessage(`push-restart-${to}-${i}`, to, `for ${to}`);
        assert.equal(ack.status, 'SENT');
        expected.set(pushNotificationId(to, String(ack.conversationId), Number(ack.seq)), to);
      };
      for (const [i, user] of claimed.entries()) await send(user, i);
      // Claimed and failing: every one of them POSTed (and refused) at least once before the kill.
      await receiver.until(() => claimed.every((user) => receiver.for(user).length > 0), 30_000, 'a failed attempt for each');
      // Stored (SENT acked) but younger than PUSH_AFTER_MS when the process dies: nothing claimed them yet.
      for (const [i, user] of unclaimed.entries()) await send(user, i);
      const killed = await server.stop('SIGKILL');
      assert.equal(killed.signal, 'SIGKILL');
      await alice.terminate();
      assert.ok(unclaimed.every((user) => receiver.for(user).length === 0), 'the late ones were not pushed before the kill');

      receiver.answer = () => 200;
      const restarted = Date.now();
      await server.start();
      await receiver.until(
        () => [...expected.keys()].every((id) => receiver.received.some((push) => push.payload.id === id && push.status === 200)),
        60_000,
        'every pending push after the restart',
      );
      const ids = new Set(receiver.received.map((push) => push.payload.id));
      assert.deepEqual([...ids].sort(), [...expected.keys()].sort(), 'nothing but the expected notifications');
      for (const push of receiver.received) assert.equal(verifySignature(push.signature, push.raw, SECRET), true);
      const accepted = receiver.received.filter((push) => push.status === 200);
      console.log(`# push after SIGKILL: ${expected.size} notifications all accepted ${Date.now() - restarted} ms after the restart began; ${accepted.length} accepted POSTs (duplicates: ${accepted.length - expected.size}), ${receiver.received.length} POSTs in all`);
    } catch (error) {
      console.log(`push-restart failed: ${String(error)}\nserver output:\n${server.output()}`);
      throw error;
    } finally {
      await server.stop('SIGTERM');
      await receiver.close();
      await dropDatabases(mongo.uri!, [dbName]).catch(() => {});
    }
  });
});
