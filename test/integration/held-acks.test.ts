// v1.3 held acks (`?ackDelayMs=N`): a connection that asks for it gets its DELIVERED acks and receipts
// in the write of its next other frame, or once they waited N ms; nothing is lost, order is kept, and
// a client that does not ask sees v1 unchanged. Over real sockets, against the real server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeStatus, type Frame } from '../helpers/ws-client.js';
import { isDeliveredAck } from '../helpers/conversations.js';

describe('held acks (?ackDelayMs=, v1.3)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { ACK_DELAY_MAX_MS: '10000' } });
  });
  after(async () => {
    await t.close();
  });

  /** alice on a held connection and on a second device that is not, bob to confirm. */
  const connect = async (ackDelayMs: number, tag: string) => {
    const alice = `alice-${tag}`;
    const bob = `bob-${tag}`;
    const held = (await TestClient.connectReady(`${t.wsUrl}?device=held&ackDelayMs=${ackDelayMs}`, await t.token(alice))).client;
    const prompt = (await TestClient.connectReady(`${t.wsUrl}?device=prompt`, await t.token(alice))).client;
    const recipient = (await TestClient.connectReady(t.wsUrl, await t.token(bob))).client;
    /**
     * Sends from the held connection; bob confirms; resolves once the prompt device has the DELIVERED,
     * with the time bob's confirmation was written (the server cannot hold anything from before it).
     */
    const deliver = async (messageId: string) => {
      assert.equal((await held.sendMessage(messageId, bob, 'hi')).status, 'SENT');
      await recipient.next((f) => f.type === 'message' && f.messageId === messageId);
      const confirmedAt = performance.now();
      recipient.send({ type: 'delivered', messageIds: [messageId] });
      await prompt.next(isDeliveredAck(messageId));
      return confirmedAt;
    };
    const close = () => Promise.all([held.close(), prompt.close(), recipient.close()]);
    return { held, prompt, recipient, bob, deliver, close };
  };

  it('refuses an ackDelayMs that is not a whole number of ms up to ACK_DELAY_MAX_MS with 400', async () => {
    const token = await t.token('alice-refused');
    for (const value of ['abc', '-5', '1.5', '1e3', '10001', '%20']) {
      assert.equal(await upgradeStatus(`${t.wsUrl}?ackDelayMs=${value}`, { token }), 400, value);
    }
    assert.equal(await upgradeStatus(`${t.wsUrl}?ackDelayMs=10000`, { token }), 101);
    assert.equal(await upgradeStatus(`${t.wsUrl}?ackDelayMs=0`, { token }), 101);
  });

  it('holds a DELIVERED ack and its receipt until the next frame to the connection, and writes them before it', async () => {
    const c = await connect(5000, 'next');
    await c.deliver('n1');
    // The prompt device has it; the held connection (same turn, same user) does not, yet.
    assert.equal(c.held.frames.some(isDeliveredAck('n1')), false);
    assert.equal((await c.held.sendMessage('n2', c.bob, 'again')).status, 'SENT');
    const at = (match: (f: Frame) => boolean) => c.held.frames.findIndex(match);
    const sent2 = at((f) => f.type === 'ack' && f.status === 'SENT' && f.messageId === 'n2');
    assert.ok(at(isDeliveredAck('n1')) >= 0 && at(isDeliveredAck('n1')) < sent2, JSON.stringify(c.held.frames));
    const receipt = at((f) => f.type === 'receipt' && f.deliveredSeq === 1);
    assert.ok(receipt >= 0 && receipt < sent2, 'the receipt rode along too');
    await c.close();
  });

  it('writes held frames on their own once they waited ackDelayMs, and never before', async () => {
    const c = await connect(300, 'alone');
    const confirmedAt = await c.deliver('a1');
    await c.held.next(isDeliveredAck('a1'));
    const waited = performance.now() - confirmedAt;
    assert.ok(waited >= 300, `held only ${waited.toFixed(0)} ms`);
    assert.equal(c.prompt.frames.filter(isDeliveredAck('a1')).length, 1);
    assert.equal(c.held.frames.filter(isDeliveredAck('a1')).length, 1);
    await c.close();
  });

  it('without ackDelayMs a DELIVERED ack goes out at once, as in v1', async () => {
    const c = await connect(0, 'v1');
    await c.deliver('v1');
    await c.held.next(isDeliveredAck('v1'), 1000);
    await c.close();
  });

  it('writes held frames before the 1001 close of a shutdown', async () => {
    const c = await connect(10_000, 'shutdown');
    await c.deliver('s1');
    assert.equal(c.held.frames.some(isDeliveredAck('s1')), false);
    await t.close();
    const { code } = await c.held.closed;
    assert.equal(code, 1001);
    assert.equal(c.held.frames.filter(isDeliveredAck('s1')).length, 1);
    t = await startTestServer({ env: { ACK_DELAY_MAX_MS: '10000' } }); // for after()
  });
});
