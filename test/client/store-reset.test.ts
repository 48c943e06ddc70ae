// A server restarted on a wiped store (the memory store, DB_URI=mem, after a restart) numbers each
// conversation from seq 1 again. A connected SDK that had followed a conversation past that seq must
// not take the new messages for repeats: it had never seen their messageIds (docs/client.md, "Order,
// once each, and gaps"). Each test restarts a real server on the same port with a new, empty store.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatMessage } from '../../src/client/index.js';
import { freePort } from '../helpers/net.js';
import { peer, settle, until, type Peer } from '../helpers/sdk-peer.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Waits in `reconnecting` until the test calls reconnect(): the test decides when the replay runs. */
const HELD_BACK = { reconnect: { initialDelayMs: 120_000, maxDelayMs: 120_000 } };

const bodies = (inbox: readonly ChatMessage[]) => inbox.map((m) => `${m.seq} ${m.body}`);

/** The sender's DELIVERED acks, by messageId. */
function deliveredTo(p: Peer): string[] {
  const ids: string[] = [];
  p.client.on('delivered', ({ messageId }) => ids.push(messageId));
  return ids;
}

describe('SDK after a store reset (memory store restarted)', { timeout: 60_000 }, () => {
  it('shows the new seq-1 message once, hands over what it held, and never confirms by watermark past what it showed', async () => {
    const port = await freePort();
    let t: TestServer = await startTestServer({ env: { PORT: String(port) } });
    const alice = await peer(t, 'alice');
    const delivered = deliveredTo(alice);
    // A hole that stays open (gapWaitMs): seq 2 is lost on the way, seq 3 is held behind it.
    const bob = await peer(t, 'bob', { ...HELD_BACK, gapWaitMs: 120_000 });
    try {
      await Promise.all([alice.client.whenReady(), bob.client.whenReady()]);
      bob.network.drop('in', (f) => f.type === 'message' && f.seq === 2);
      const old = [];
      for (const body of ['old 1', 'old 2', 'old 3']) old.push(await alice.client.send('bob', body));
      const conversationId = old[0]!.conversationId!;
      // A read mark's receipt comes after the three message frames on bob's socket: seq 3 is held by then.
      bob.client.markRead(conversationId, 1);
      await until([bob.client], () => bob.receipts.some((r) => r.userId === 'bob' && r.readSeq === 1));
      assert.deepEqual(bodies(bob.inbox), ['1 old 1']);

      await t.close();
      t = await startTestServer({ env: { PORT: String(port) } }); // a new, empty memory store
      await until([alice.client], () => alice.client.state === 'ready');
      const fresh = await alice.client.send('bob', 'new 1');
      assert.equal(fresh.seq, 1, 'the wiped store numbers the conversation from 1 again');
      const sentBefore = bob.network.sent.length;
      bob.client.reconnect(); // its replay brings the new seq 1
      await until([bob.client, alice.client], () => bob.inbox.length === 3 && delivered.includes(fresh.messageId));
      assert.deepEqual(bodies(bob.inbox), ['1 old 1', '3 old 3', '1 new 1'], 'what was held first, then the new seq space');
      assert.deepEqual(bob.gaps, [], 'no gap for the old hole: history cannot fill it from the new store');

      const next = await alice.client.send('bob', 'new 2');
      await until([bob.client], () => bob.inbox.length === 4);
      await settle(bob);
      assert.deepEqual(bodies(bob.inbox), ['1 old 1', '3 old 3', '1 new 1', '2 new 2'], 'each once');
      const marks = bob.network.sent.slice(sentBefore).filter((f) => f.type === 'delivered' && f.conversationId === conversationId);
      assert.ok(marks.every((f) => (f.seq as number) <= 2), `watermarks never past what bob was shown: ${JSON.stringify(marks)}`);
      assert.equal((await t.store.deliveryState(next.messageId, 'bob'))?.marks, 1, 'confirmed');
    } finally {
      for (const p of [alice, bob]) p.client.close();
      await t.close();
    }
  });

  it('with autoConfirm off, the new message is shown once (not replayed as an unshown repeat)', async () => {
    const port = await freePort();
    let t: TestServer = await startTestServer({ env: { PORT: String(port) } });
    const alice = await peer(t, 'alice');
    const delivered = deliveredTo(alice);
    const carl: Peer = await peer(t, 'carl', { ...HELD_BACK, autoConfirm: false });
    carl.client.on('message', (m) => carl.client.confirm(m.messageId));
    try {
      await Promise.all([alice.client.whenReady(), carl.client.whenReady()]);
      const first = await alice.client.send('carl', 'before');
      await until([alice.client], () => delivered.includes(first.messageId));

      await t.close();
      t = await startTestServer({ env: { PORT: String(port) } });
      await until([alice.client], () => alice.client.state === 'ready');
      const fresh = await alice.client.send('carl', 'after the reset');
      carl.client.reconnect();
      await until([carl.client, alice.client], () => carl.inbox.length === 2 && delivered.includes(fresh.messageId));
      await settle(carl);
      assert.deepEqual(bodies(carl.inbox), ['1 before', '1 after the reset']);
    } finally {
      for (const p of [alice, carl]) p.client.close();
      await t.close();
    }
  });
});
