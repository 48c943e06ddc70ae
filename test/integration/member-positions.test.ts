// GET /api/conversations/:id carries every member's delivered and read positions (`receipts`), so a
// client that was not connected when the receipt frames went out (a reload, another browser) can draw
// its ticks; groups above RECEIPTS_MAX_MEMBERS leave them out, as they leave out receipt frames.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, connectDevice, uid } from '../helpers/conversations.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';

for (const variant of storeVariants()) {
  describe(`member positions in a conversation (${variant.name} store)`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ store: await variant.create(), env: { RECEIPTS_MAX_MEMBERS: '3' } });
    });
    after(async () => {
      await t.close();
      await variant.cleanup();
    });

    it('reports each member\'s deliveredSeq and readSeq after confirmations and reads', async () => {
      const [ann, bob, cy] = [uid('ann'), uid('bob'), uid('cy')];
      const created = await api(t, ann, 'POST', '/api/conversations', { title: 'ticks', members: [bob, cy] });
      assert.equal(created.status, 201);
      const id = encodeURIComponent(created.body.conversationId);
      const a = await connectDevice(t, ann, 'p');
      const b = await connectDevice(t, bob, 'p');
      for (const n of [1, 2, 3]) {
        a.client.send({ type: 'send', messageId: uid('m'), conversationId: created.body.conversationId, body: `m${n}` });
        await a.client.next((f) => f.type === 'ack' && f.seq === n);
      }
      await b.client.next((f) => f.type === 'message' && f.seq === 3);
      b.client.send({ type: 'read', conversationId: created.body.conversationId, seq: 2 });
      b.client.send({ type: 'delivered', conversationId: created.body.conversationId, seq: 3 });
      // The reader's and confirmer's positions land in the store; read them back as any member.
      let receipts: { userId: string; deliveredSeq: number; readSeq: number }[] = [];
      for (let i = 0; i < 50; i++) {
        receipts = (await api(t, cy, 'GET', `/api/conversations/${id}`)).body.receipts;
        if (receipts.find((r) => r.userId === bob)?.deliveredSeq === 3) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(receipts, [
        { userId: ann, deliveredSeq: 3, readSeq: 0 },
        { userId: bob, deliveredSeq: 3, readSeq: 2 },
        { userId: cy, deliveredSeq: 0, readSeq: 0 },
      ]);
      await Promise.all([a.client.close(), b.client.close()]);
    });

    it('leaves them out of groups larger than RECEIPTS_MAX_MEMBERS', async () => {
      const owner = uid('own');
      const created = await api(t, owner, 'POST', '/api/conversations', { title: 'big', members: [uid('a'), uid('b'), uid('c')] });
      const item = await api(t, owner, 'GET', `/api/conversations/${encodeURIComponent(created.body.conversationId)}`);
      assert.equal(item.status, 200);
      assert.equal(item.body.receipts, undefined);
    });
  });
}
