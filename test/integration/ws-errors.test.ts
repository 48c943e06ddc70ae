// Every error code a WebSocket client can get, over a real socket; a bad frame never closes the connection.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { NewMessage } from '../../src/store/store.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

/**
 * A real memory store whose writes can be made to fail, as a store outage would: with a rejected
 * promise (as MongoDB does), or thrown at once (as the memory store itself does once closed: it
 * answers without a promise, and the hot path takes the answer so).
 */
class FlakyStore extends MemoryStore {
  failing: false | 'reject' | 'throw' = false;
  override persist(message: NewMessage) {
    return this.failing ? this.fail() : super.persist(message);
  }
  override confirmIds(userId: string, deviceId: string, ids: readonly string[]) {
    return this.failing ? this.fail() : super.confirmIds(userId, deviceId, ids);
  }
  private fail(): never | Promise<never> {
    const error = new Error('connection refused');
    if (this.failing === 'throw') throw error;
    return Promise.reject(error);
  }
}

describe('WebSocket error frames', () => {
  let t: TestServer;
  let store: FlakyStore;
  let client: TestClient;
  const expectError = async (frame: unknown, code: string) => {
    client.send(frame);
    const error = await client.next((f) => f.type === 'error');
    assert.equal(error.code, code, JSON.stringify(error));
    assert.equal(typeof error.message, 'string');
    return error;
  };

  before(async () => {
    store = new FlakyStore();
    t = await startTestServer({ store, env: { MAX_MESSAGE_BYTES: '64', MAX_DELIVERED_IDS: '5' } });
    ({ client } = await TestClient.connectReady(t.wsUrl, await t.token('eve')));
  });
  after(async () => {
    await client.close();
    await t.close();
  });

  it('bad_request for malformed JSON, non-objects and missing or wrong-typed fields', async () => {
    await expectError('{"type":"send",', 'bad_request');
    await expectError('[1,2]', 'bad_request');
    await expectError('"send"', 'bad_request');
    await expectError({ type: 42 }, 'bad_request');
    await expectError({ type: 'send', to: 'bob', body: 'x' }, 'bad_request');
    await expectError({ type: 'send', messageId: 'has space', to: 'bob', body: 'x' }, 'bad_request');
    await expectError({ type: 'send', messageId: 'a'.repeat(65), to: 'bob', body: 'x' }, 'bad_request');
    await expectError({ type: 'send', messageId: 'm1', to: 'bob', body: '' }, 'bad_request');
    await expectError({ type: 'send', messageId: 'm1', to: '..', body: 'x' }, 'bad_request');
    await expectError({ type: 'send', messageId: 'm1', to: 'bob', body: 7 }, 'bad_request');
    await expectError({ type: 'delivered', messageIds: [] }, 'bad_request');
    await expectError({ type: 'delivered', messageIds: 'm1' }, 'bad_request');
    await expectError({ type: 'delivered', messageIds: [1] }, 'bad_request');
  });

  it('bad_request for operator objects where strings belong (NoSQL injection), with nothing stored', async () => {
    const before = await store.counts();
    await expectError({ type: 'send', messageId: { $gt: '' }, to: 'bob', body: 'x' }, 'bad_request');
    await expectError({ type: 'send', messageId: 'inj1', to: { $ne: null }, body: 'x' }, 'bad_request');
    await expectError({ type: 'send', messageId: 'inj2', to: 'bob', body: { $where: '1' } }, 'bad_request');
    await expectError({ type: 'delivered', messageIds: [{ $gt: '' }] }, 'bad_request');
    assert.deepEqual(await store.counts(), before);
  });

  it('bad_request for a send to @system, the server API\'s user, which never connects', async () => {
    const error = await expectError({ type: 'send', messageId: 'to-system', to: '@system', body: 'x' }, 'bad_request');
    assert.equal(error.messageId, 'to-system');
    assert.match(String(error.message), /@system/);
  });

  it('echoes the messageId of a send it refuses, when the messageId itself was valid', async () => {
    const error = await expectError({ type: 'send', messageId: 'valid-id', to: 'bad user!', body: 'x' }, 'bad_request');
    assert.equal(error.messageId, 'valid-id');
  });

  it('bad_request for lone surrogates and NUL in a body (they could not come back unchanged)', async () => {
    await expectError('{"type":"send","messageId":"s1","to":"bob","body":"\\ud800"}', 'bad_request');
    await expectError('{"type":"send","messageId":"s2","to":"bob","body":"a\\u0000b"}', 'bad_request');
  });

  it('bad_request for binary frames', async () => {
    client.ws.send(Buffer.from('{"type":"sync"}'), { binary: true });
    const error = await client.next((f) => f.type === 'error');
    assert.equal(error.code, 'bad_request');
  });

  it('unknown_type for an unknown frame type', async () => {
    await expectError({ type: 'subscribe' }, 'unknown_type');
  });

  it('too_large for a body over MAX_MESSAGE_BYTES (counted in UTF-8 bytes) and too many delivered ids', async () => {
    await expectError({ type: 'send', messageId: 'big1', to: 'bob', body: 'x'.repeat(65) }, 'too_large');
    await expectError({ type: 'send', messageId: 'big2', to: 'bob', body: '€'.repeat(22) }, 'too_large'); // 66 bytes
    const ok = await client.sendMessage('fits', 'bob', '€'.repeat(21)); // 63 bytes
    assert.equal(ok.status, 'SENT');
    await expectError({ type: 'delivered', messageIds: ['a', 'b', 'c', 'd', 'e', 'f'] }, 'too_large');
  });

  it('closes with 1009 a frame over the payload limit', async () => {
    const { client: big } = await TestClient.connectReady(t.wsUrl, await t.token('big'));
    big.send('x'.repeat(t.config.limits.maxPayloadBytes + 10));
    const { code } = await big.closed;
    assert.equal(code, 1009);
  });

  for (const failing of ['reject', 'throw'] as const) {
    it(`unavailable when the store fails (${failing}): nothing acked or marked, and the same frames succeed after recovery`, async () => {
      const { client: sender } = await TestClient.connectReady(t.wsUrl, await t.token(`sender-${failing}`));
      const messageId = `to-eve-${failing}`;
      assert.equal((await sender.sendMessage(messageId, 'eve', 'hello eve')).status, 'SENT');
      await client.next((f) => f.type === 'message' && f.messageId === messageId);
      store.failing = failing;
      try {
        const error = await client.sendMessage(`outage-${failing}`, 'bob', 'during outage');
        assert.equal(error.type, 'error');
        assert.equal(error.code, 'unavailable');
        assert.equal(error.messageId, `outage-${failing}`);
        assert.equal(client.frames.some((f) => f.type === 'ack' && f.messageId === `outage-${failing}`), false);
        // A message this connection was sent (the confirmation hot path) and one it was not.
        for (const id of [messageId, 'whatever']) {
          client.send({ type: 'delivered', messageIds: [id] });
          assert.equal((await client.next((f) => f.type === 'error')).code, 'unavailable');
        }
      } finally {
        store.failing = false;
      }
      assert.equal(sender.frames.some((f) => f.status === 'DELIVERED'), false);
      const retry = await client.sendMessage(`outage-${failing}`, 'bob', 'during outage');
      assert.equal(retry.status, 'SENT');
      assert.equal(retry.duplicate, false);
      client.send({ type: 'delivered', messageIds: [messageId] });
      assert.deepEqual(await sender.next((f) => f.status === 'DELIVERED'), { type: 'ack', status: 'DELIVERED', messageId });
      await sender.close();
    });
  }

  it('rate_limited for syncs past SYNC_BURST (each would run a replay), and no replay for those', async () => {
    const { client: syncer } = await TestClient.connectReady(t.wsUrl, await t.token('syncer'));
    const burst = t.config.limits.syncBurst;
    for (let i = 0; i < burst + 5; i++) syncer.send({ type: 'sync' });
    const refused = await syncer.next((f) => f.type === 'error');
    assert.equal(refused.code, 'rate_limited', JSON.stringify(refused));
    assert.ok(Number(refused.retryAfter) >= 1, JSON.stringify(refused));
    // A later frame's answer: every frame before it was handled.
    syncer.send('[1]');
    await syncer.next((f) => f.type === 'error' && f.code === 'bad_request');
    const errors = syncer.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited').length;
    assert.ok(errors >= 5 && errors <= 5 + 1, `${errors} syncs refused of ${burst + 5} (burst ${burst})`);
    // Replays that ran: at most one per sync let through (running ones coalesce), plus the first.
    assert.ok(syncer.frames.filter((f) => f.type === 'ready').length <= burst + 1);
    await syncer.close();
  });

  it('keeps the connection open after every bad frame', async () => {
    assert.equal(client.ws.readyState, WebSocket.OPEN);
    assert.equal((await client.sendMessage('after-errors', 'bob', 'ok')).status, 'SENT');
  });
});

describe('rate limit', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { SEND_RATE_PER_SEC: '1', SEND_BURST: '3' } });
  });
  after(() => t.close());

  it('refuses sends past the burst with rate_limited and stores nothing for them', async () => {
    const { client } = await TestClient.connectReady(t.wsUrl, await t.token('spammer'));
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await client.sendMessage(`rl-${i}`, 'bob', 'spam'));
    assert.deepEqual(results.map((f) => f.status ?? f.code), ['SENT', 'SENT', 'SENT', 'rate_limited', 'rate_limited']);
    assert.equal(typeof results[3]!.retryAfter, 'number');
    assert.equal(await t.store.getMessage('rl-3'), undefined);
    await client.close();
  });
});

describe('a body within MAX_MESSAGE_BYTES, however it is escaped', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(); // the default limits: the point is that their defaults agree
  });
  after(() => t.close());

  it('is SENT over WebSocket and over HTTP when every byte is written \\u-escaped (6 bytes per byte)', async () => {
    const maxBytes = t.config.limits.maxMessageBytes;
    // JSON.stringify leaves most characters as they are: escape each one by hand, as a client may.
    const escaped = (messageId: string) => `{"type":"send","messageId":"${messageId}","to":"bob","body":"${'\\u0061'.repeat(maxBytes)}"}`;
    const { client } = await TestClient.connectReady(t.wsUrl, await t.token('escaper'));
    try {
      client.send(escaped('esc-ws'));
      const ack = await client.next((f) => f.messageId === 'esc-ws');
      assert.equal(ack.status, 'SENT', JSON.stringify(ack));
    } finally {
      await client.close();
    }
    const response = await fetch(`${t.httpUrl}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await t.token('escaper')}`, 'content-type': 'application/json' },
      body: `{"messageId":"esc-http","to":"bob","body":"${'\\u0001'.repeat(maxBytes)}"}`,
    });
    assert.equal(response.status, 201, await response.text());
  });
});
