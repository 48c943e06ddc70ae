// Slow consumers: a recipient that reads nothing is closed (1013) at the backpressure limit instead of
// buffering without bound, and its messages stay pending and are replayed on reconnect.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

describe('backpressure', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { WS_MAX_BACKPRESSURE_BYTES: '65536', MAX_MESSAGE_BYTES: '8192' } });
  });
  after(() => t.close());

  it('closes a recipient that stops reading with 1013 and replays everything on reconnect', async () => {
    const slowToken = await t.token('slow');
    const { client: slow } = await TestClient.connectReady(t.wsUrl, slowToken);
    (slow.ws as unknown as { _socket: Socket })._socket.pause(); // stop reading: the kernel buffers fill up
    const { client: sender } = await TestClient.connectReady(t.wsUrl, await t.token('fast'));
    const body = 'x'.repeat(8000);
    const ids: string[] = [];
    const deadline = Date.now() + 20_000;
    // Keep sending until the server gives up on the slow socket (bounded by count and time).
    while (t.server.connectionCount() === 2 && ids.length < 5000 && Date.now() < deadline) {
      const batch = Array.from({ length: 50 }, (_, i) => `bp-${ids.length + i}`);
      for (const messageId of batch) sender.send({ type: 'send', messageId, to: 'slow', body });
      ids.push(...batch);
      await sender.next((f) => f.messageId === batch.at(-1) && f.status === 'SENT', 10_000);
    }
    assert.equal(t.server.connectionCount(), 1, 'the slow consumer was closed');
    const metrics = await t.server.metrics.backpressureCloses.get();
    assert.equal(metrics.values[0]?.value, 1);
    (slow.ws as unknown as { _socket: Socket })._socket.resume();
    const closed = await slow.closed;
    assert.equal(closed.code, 1013, 'the close frame reached the client');
    // Nothing was lost: a fresh connection replays every message once, in order.
    const { client: again, replayed } = await TestClient.connectReady(t.wsUrl, slowToken);
    assert.equal(replayed.length, ids.length);
    assert.deepEqual(replayed.map((f) => f.messageId), ids);
    await Promise.all([sender.close(), again.close()]);
  });

  it('replays a backlog larger than the backpressure limit without closing the reader', async () => {
    const { client: sender } = await TestClient.connectReady(t.wsUrl, await t.token('bulk-sender'));
    const ids = Array.from({ length: 200 }, (_, i) => `bulk-${i}`);
    for (const messageId of ids) sender.send({ type: 'send', messageId, to: 'bulk', body: 'y'.repeat(4000) });
    await sender.next((f) => f.messageId === ids.at(-1) && f.status === 'SENT');
    // 200 × 4 KB = 800 KB, far over the 64 KB limit: replay must wait for drain, not overflow.
    const { client, replayed } = await TestClient.connectReady(t.wsUrl, await t.token('bulk'));
    assert.deepEqual(replayed.map((f) => f.messageId), ids);
    await Promise.all([sender.close(), client.close()]);
  });
});
