// Confirmations are rate limited per user (ids per second, with a burst), and a connection that keeps
// sending past its limits is closed with 1008 and its user kept out for a cooldown. Nothing is lost:
// a refused confirmation leaves its messages pending, and they are confirmed once the client waits.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeRefusal } from '../helpers/ws-client.js';

describe('confirmation limits', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      env: { DELIVERED_RATE_PER_SEC: '10', DELIVERED_BURST: '20', RATE_LIMITED_CLOSE_AFTER: '5', RATE_LIMITED_COOLDOWN_SEC: '30' },
    });
  });
  after(() => t.close());

  /** `reader` confirms `messageId` while its user still owes for earlier confirmations: refused, and the message stays pending. */
  async function refusedForDebt(reader: TestClient, userId: string, messageId: string, why: string): Promise<void> {
    reader.send({ type: 'delivered', messageIds: [messageId] });
    const refused = await reader.next((f) => f.type === 'error');
    assert.equal(refused.code, 'rate_limited', why);
    assert.ok(Number(refused.retryAfter) >= 1);
    assert.equal((await t.store.deliveryState(messageId, userId))?.status, 'pending');
  }

  it('refuses a confirmation past the per-user budget with rate_limited and retryAfter; the messages stay pending', async () => {
    const { client: sender } = await TestClient.connectReady(t.wsUrl, await t.token('cl-sender'));
    const ids = Array.from({ length: 30 }, (_, i) => `cl-${i}`);
    for (const id of ids) assert.equal((await sender.sendMessage(id, 'cl-reader', 'hi')).status, 'SENT');
    const { client: reader, replayed } = await TestClient.connectReady(t.wsUrl, await t.token('cl-reader'));
    assert.equal(replayed.length, 30);
    reader.send({ type: 'delivered', messageIds: ids.slice(0, 15) }); // within the burst of 20
    for (const id of ids.slice(0, 15)) await sender.next((f) => f.status === 'DELIVERED' && f.messageId === id);
    reader.send({ type: 'delivered', messageIds: ids.slice(15) }); // 15 more: only ~5 tokens left
    const refused = await reader.next((f) => f.type === 'error');
    assert.equal(refused.code, 'rate_limited');
    assert.ok(Number(refused.retryAfter) >= 1, JSON.stringify(refused));
    assert.equal((await t.store.deliveryState('cl-20', 'cl-reader'))?.status, 'pending', 'nothing of the refused frame was recorded');
    // The refused ids are replayed on the next connect, and confirmed then.
    await reader.close();
    const again = await TestClient.connectReady(t.wsUrl, await t.token('cl-reader'));
    assert.deepEqual(again.replayed.map((f) => f.messageId), ids.slice(15));
    await Promise.all([sender.close(), again.client.close()]);
  });

  it('closes a connection that keeps confirming past its limit with 1008, and refuses its user for the cooldown (429)', async () => {
    const token = await t.token('cl-flooder');
    const flooder = await TestClient.connect(t.wsUrl, { token });
    const ids = Array.from({ length: 20 }, (_, i) => `nope-${i}`);
    // The first frame takes the whole burst; each next one is refused; the fifth refusal closes.
    for (let i = 0; i < 10; i++) flooder.send({ type: 'delivered', messageIds: ids });
    const closed = await Promise.race([flooder.closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the flooder was not closed')), 5000))]);
    assert.equal(closed.code, 1008);
    assert.equal(flooder.frames.filter((f) => f.code === 'rate_limited').length, 5);
    const refusal = await upgradeRefusal(t.wsUrl, { token });
    assert.equal(refusal.status, 429);
    assert.match(refusal.message, /closed \(1008\): wait Retry-After seconds/);
    assert.ok(Number(refusal.retryAfter) >= 1, `Retry-After ${refusal.retryAfter}`);
    const metrics = await t.server.metrics.registry.metrics();
    assert.match(metrics, /chat_flood_closes_total 1/);
    assert.match(metrics, /chat_ws_closes_total\{reason="rate_limited"\} 1/);
    // Other users are not affected.
    const { client: other } = await TestClient.connectReady(t.wsUrl, await t.token('cl-bystander'));
    await other.close();
  });

  it('charges an id that matches no stored message DELIVERED_UNKNOWN_ID_COST (10): made-up ids use up the budget ten times faster', async () => {
    const { client: sender } = await TestClient.connectReady(t.wsUrl, await t.token('cu-sender'));
    for (const id of ['cu-1', 'cu-2', 'cu-3']) assert.equal((await sender.sendMessage(id, 'cu-reader', 'hi')).status, 'SENT');
    const { client: reader, replayed } = await TestClient.connectReady(t.wsUrl, await t.token('cu-reader'));
    const conversationId = String(replayed[0]!.conversationId);
    // Real ids cost one each: 2 of the burst of 20, and the next frame is taken.
    reader.send({ type: 'delivered', messageIds: ['cu-1'] });
    await sender.next((f) => f.status === 'DELIVERED' && f.messageId === 'cu-1');
    // Two made-up ids: 2 up front, then 18 more once the store found nothing: the budget is spent.
    reader.send({ type: 'delivered', messageIds: ['cu-made-up-1', 'cu-made-up-2'] });
    // A round trip that starts after that confirmation and ends after it was charged (a read mark is answered).
    reader.send({ type: 'read', conversationId, seq: 0 });
    await reader.next((f) => f.type === 'receipt');
    await refusedForDebt(reader, 'cu-reader', 'cu-2', 'a real id after made-up ones waits for the debt');
    await Promise.all([sender.close(), reader.close()]);
  });
  it('charges a watermark one per message it marks delivered: one frame covering 30 messages spends the burst of 20', async () => {
    const { client: sender } = await TestClient.connectReady(t.wsUrl, await t.token('cw-sender'));
    const ids = Array.from({ length: 31 }, (_, i) => `cw-${i}`);
    for (const id of ids) assert.equal((await sender.sendMessage(id, 'cw-reader', 'hi')).status, 'SENT');
    const { client: reader, replayed } = await TestClient.connectReady(t.wsUrl, await t.token('cw-reader'));
    const conversationId = String(replayed[0]!.conversationId);
    const seqOf = (id: string) => Number(replayed.find((f) => f.messageId === id)!.seq);
    reader.send({ type: 'delivered', conversationId, seq: seqOf('cw-29') }); // 1 up front, 29 more after
    await sender.next((f) => f.status === 'DELIVERED' && f.messageId === 'cw-29');
    await refusedForDebt(reader, 'cw-reader', 'cw-30', 'the next confirmation waits for the debt');
    await Promise.all([sender.close(), reader.close()]);
  });

  it('looks up ids a connection was not sent one frame at a time per user: pipelined frames of made-up ids wait for the first lookup and are refused in its debt', async () => {
    const { client: reader } = await TestClient.connectReady(t.wsUrl, await t.token('cp-reader'));
    // 4 frames of 5 ids cost the whole burst of 20 up front, so the limiter alone lets all 4 through
    // before any lookup answers; each would then cost the store a lookup of ids nobody was sent.
    for (let frame = 0; frame < 4; frame++) reader.send({ type: 'delivered', messageIds: Array.from({ length: 5 }, (_, i) => `cp-made-up-${frame}-${i}`) });
    const refusals: Record<string, unknown>[] = [];
    for (let i = 0; i < 4; i++) refusals.push(await reader.next((f) => f.type === 'error'));
    assert.deepEqual(refusals.map((f) => f.code), ['rate_limited', 'rate_limited', 'rate_limited', 'rate_limited']);
    // The first frame's first part was looked up and charged; the rest of it, and the frames behind it, were not.
    assert.match(String(refusals[0]!.message), /the first 2 ids were recorded/);
    await reader.close();
  });

  it('looks up stored ids the connection was not sent in parts, every one of them, at one token each; a made-up one puts the frames behind it in debt', async () => {
    const { client: sender } = await TestClient.connectReady(t.wsUrl, await t.token('cg-sender'));
    const others = ['cg-o-1', 'cg-o-2', 'cg-o-3'];
    for (const id of others) assert.equal((await sender.sendMessage(id, 'cg-other', 'not yours')).status, 'SENT');
    const ids = Array.from({ length: 12 }, (_, i) => `cg-${i}`);
    for (const id of ids) assert.equal((await sender.sendMessage(id, 'cg-reader', 'hi')).status, 'SENT');
    const { client: reader, replayed } = await TestClient.connectReady(t.wsUrl, await t.token('cg-reader'));
    assert.equal(replayed.length, 12);
    // Someone else's stored ids first (never sent on this connection): the frame is looked up in parts
    // of 2, 4, 8 and 1, none made up, so it costs its 15 ids of the burst of 20 and marks all 12 of its own.
    reader.send({ type: 'delivered', messageIds: [...others, ...ids] });
    for (const id of ids) await sender.next((f) => f.status === 'DELIVERED' && f.messageId === id);
    for (const id of ids) assert.equal((await t.store.deliveryState(id, 'cg-reader'))?.status, 'delivered');
    assert.equal((await t.store.deliveryState('cg-o-1', 'cg-other'))?.status, 'pending', 'not the reader’s to mark');
    // Then one made-up id (1 up front, 9 more once looked up: in debt), and one more frame behind it.
    reader.send({ type: 'delivered', messageIds: ['cg-made-up'] });
    reader.send({ type: 'delivered', messageIds: [others[0]!] });
    const refused = await reader.next((f) => f.type === 'error');
    assert.equal(refused.code, 'rate_limited');
    reader.send({ type: 'sync' });
    await reader.next((f) => f.type === 'ready');
    assert.equal(reader.frames.filter((f) => f.type === 'error').length, 1, 'only the frame behind the made-up id was refused');
    await Promise.all([sender.close(), reader.close()]);
  });
});
