// v1.4 batched frames (`?batch=1`): frames the server writes together go as one text frame,
// newline-separated, never larger than the largest single frame; the frames, their order and their
// count are what an unbatched connection gets; a client that does not ask sees v1 unchanged. Over
// real sockets, against the real server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isDeliveredAck } from '../helpers/conversations.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeStatus, type Frame } from '../helpers/ws-client.js';

/** Small, so that a replay's batches reach the cap: joined frames stay within 6 × 256 + 1024 bytes. */
const MAX_MESSAGE_BYTES = 256;
const LARGEST_FRAME_BYTES = MAX_MESSAGE_BYTES * 6 + 1024;

describe('batched frames (?batch=1, v1.4)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) } });
  });
  after(async () => {
    await t.close();
  });

  it('refuses a batch that is not 0 or 1 with 400', async () => {
    const token = await t.token('refused');
    for (const value of ['2', 'true', 'yes', '%20']) assert.equal(await upgradeStatus(`${t.wsUrl}?batch=${value}`, { token }), 400, value);
    assert.equal(await upgradeStatus(`${t.wsUrl}?batch=1`, { token }), 101);
    assert.equal(await upgradeStatus(`${t.wsUrl}?batch=0`, { token }), 101);
  });

  it('writes a DELIVERED ack and its receipt as one text frame, and to an unbatched device as two', async () => {
    const batched = (await TestClient.connectReady(`${t.wsUrl}?device=batched&batch=1`, await t.token('ada'))).client;
    const plain = (await TestClient.connectReady(`${t.wsUrl}?device=plain`, await t.token('ada'))).client;
    const bob = (await TestClient.connectReady(t.wsUrl, await t.token('bob'))).client;
    assert.equal((await batched.sendMessage('b1', 'bob', 'hello')).status, 'SENT');
    await bob.next((f) => f.type === 'message' && f.messageId === 'b1');
    bob.send({ type: 'delivered', messageIds: ['b1'] });
    await plain.next((f) => f.type === 'receipt' && f.deliveredSeq === 1);
    await batched.next((f) => f.type === 'receipt' && f.deliveredSeq === 1);

    // The same frames in the same order on both devices (after each one's `ready`).
    const after = (c: TestClient) => c.frames.slice(c.frames.findIndex((f) => f.type === 'ready') + 1);
    const tail = (c: TestClient) => after(c).filter((f) => isDeliveredAck('b1')(f) || f.type === 'receipt');
    assert.deepEqual(tail(batched), tail(plain));
    assert.deepEqual(tail(batched).map((f) => f.type), ['ack', 'receipt']);
    const joined = batched.texts.find((text) => text.includes('"DELIVERED"'))!;
    assert.deepEqual(joined.split('\n').map((line) => (JSON.parse(line) as Frame).type), ['ack', 'receipt'], joined);
    for (const text of plain.texts) assert.ok(!text.includes('\n'), `an unbatched connection got a joined frame: ${text}`);
    await Promise.all([batched.close(), plain.close(), bob.close()]);
  });

  it('replays many messages in joined frames no larger than the largest single frame, in order, each once', async () => {
    const sender = (await TestClient.connectReady(t.wsUrl, await t.token('cleo'))).client;
    const count = 300;
    const ids = Array.from({ length: count }, (_, i) => `r${i}`);
    // Bodies of every size up to the limit, with characters JSON escapes (6 bytes each) and ones that are 3 bytes in UTF-8.
    const bodyOf = (i: number) => ['"\\\n', 'é€', 'plain text '][i % 3]!.repeat(1 + (i % 40)).slice(0, 1 + (i % 80));
    for (const [i, id] of ids.entries()) sender.send({ type: 'send', messageId: id, to: 'dan', body: bodyOf(i) });
    await sender.next((f) => f.type === 'ack' && f.status === 'SENT' && f.messageId === ids.at(-1));

    const { client: dan, replayed } = await TestClient.connectReady(`${t.wsUrl}?batch=1`, await t.token('dan'));
    assert.deepEqual(replayed.map((f) => f.messageId), ids);
    assert.deepEqual(replayed.map((f) => f.body), ids.map((_, i) => bodyOf(i)));
    const messageTexts = dan.texts.filter((text) => text.includes('"type":"message"'));
    assert.ok(messageTexts.length < count / 2, `${count} messages came in ${messageTexts.length} text frames`);
    const largest = Math.max(...dan.texts.map((text) => Buffer.byteLength(text)));
    assert.ok(largest <= LARGEST_FRAME_BYTES, `a joined frame of ${largest} bytes (largest single frame ${LARGEST_FRAME_BYTES})`);
    await Promise.all([sender.close(), dan.close()]);
  });
});
