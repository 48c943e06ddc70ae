// The HTTP door on every store (memory; MongoDB when TEST_MONGO_URI is set): POST /api/messages is
// DB-first and idempotent by messageId exactly like the WebSocket send. (Status codes, limits and a
// failing store: http.test.ts.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';
import { TestClient } from '../helpers/ws-client.js';

for (const variant of storeVariants()) {
  describe(`POST /api/messages (${variant.name} store)`, () => {
    let t: TestServer;
    const post = async (token: string, body: object) => {
      const res = await fetch(`${t.httpUrl}/api/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    before(async () => {
      t = await startTestServer({ store: await variant.create() });
    });
    after(async () => {
      await t.close();
      await variant.cleanup();
    });

    it('stores before 201, answers a retry 200 duplicate with the original ts, refuses a changed retry 409, keeps one copy', async () => {
      const alice = await t.token('hs-alice');
      const first = await post(alice, { messageId: 'hs-1', to: 'hs-bob', body: 'over http' });
      assert.equal(first.status, 201);
      assert.equal(first.json.duplicate, false);
      const stored = await t.store.getMessage('hs-1');
      assert.deepEqual(stored && { from: stored.from, to: stored.to, body: stored.body, ts: stored.ts }, { from: 'hs-alice', to: 'hs-bob', body: 'over http', ts: first.json.ts });

      const retries = await Promise.all(Array.from({ length: 5 }, () => post(alice, { messageId: 'hs-1', to: 'hs-bob', body: 'over http' })));
      for (const retry of retries) assert.deepEqual([retry.status, retry.json.duplicate, retry.json.ts], [200, true, first.json.ts]);
      const changed = await post(alice, { messageId: 'hs-1', to: 'hs-bob', body: 'changed' });
      assert.equal(changed.status, 409);
      assert.equal((await t.store.getMessage('hs-1'))?.body, 'over http');

      // The recipient, offline until now, gets it once by replay, and its confirmation marks it once.
      const { client: bob, replayed } = await TestClient.connectReady(t.wsUrl, await t.token('hs-bob'));
      assert.deepEqual(replayed.map((frame) => frame.messageId), ['hs-1']);
      bob.send({ type: 'delivered', messageIds: ['hs-1'] });
      const deadline = Date.now() + 5000;
      while ((await t.store.deliveryState('hs-1', 'hs-bob'))?.status !== 'delivered' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(await t.store.deliveryState('hs-1', 'hs-bob').then((state) => state && [state.status, state.marks]), ['delivered', 1]);
      await bob.close();
    });

    it('refuses an operator object where a string belongs and stores nothing', async () => {
      const alice = await t.token('hs-alice');
      for (const body of [{ messageId: { $gt: '' }, to: 'hs-bob', body: 'x' }, { messageId: 'hs-2', to: { $ne: null }, body: 'x' }, { messageId: 'hs-3', to: 'hs-bob', body: { $where: '1' } }]) {
        assert.equal((await post(alice, body)).status, 400, JSON.stringify(body));
      }
      assert.equal(await t.store.getMessage('hs-2'), undefined);
      assert.equal(await t.store.getMessage('hs-3'), undefined);
    });
  });

  describe(`group members (${variant.name} store)`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ store: await variant.create(), env: { MAX_GROUP_MEMBERS: '10', MAX_MEMBERS_PER_ADD: '5', CONVERSATION_CHANGES_PER_MIN: '1000' } });
    });
    after(async () => {
      await t.close();
      await variant.cleanup();
    });
    const call = async (token: string, method: string, path: string, body: unknown) => {
      const res = await fetch(`${t.httpUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as { conversationId?: string; members?: string[]; error?: { code: string } } };
    };

    it('concurrent additions never take a group past MAX_GROUP_MEMBERS: the ones that do not fit answer 413', async () => {
      const owner = await t.token('gm-owner');
      const group = await call(owner, 'POST', '/api/conversations', { title: 'cap', members: ['gm-first'] });
      assert.equal(group.status, 201);
      const path = `/api/conversations/${encodeURIComponent(group.json.conversationId!)}/members`;
      const adds = await Promise.all(Array.from({ length: 6 }, (_, i) => call(owner, 'POST', path, { userIds: [0, 1, 2, 3].map((j) => `gm-${i}-${j}`) })));
      const statuses = adds.map((add) => add.status).sort();
      assert.deepEqual(statuses, [200, 200, 413, 413, 413, 413], 'two adds of 4 fit beside the 2 members, the rest are refused');
      const stored = await t.store.getConversation(group.json.conversationId!);
      assert.equal(stored?.members.length, 10);
    });

    it('refuses the server\'s own ids as members, on creation and on addition', async () => {
      const owner = await t.token('gm-owner2');
      const refused = await call(owner, 'POST', '/api/conversations', { title: 'sys', members: ['gm-x', '@system'] });
      assert.deepEqual([refused.status, refused.json.error?.code], [400, 'bad_request']);
      const group = await call(owner, 'POST', '/api/conversations', { title: 'sys', members: ['gm-x'] });
      const add = await call(owner, 'POST', `/api/conversations/${encodeURIComponent(group.json.conversationId!)}/members`, { userIds: ['@system'] });
      assert.deepEqual([add.status, add.json.error?.code], [400, 'bad_request']);
      assert.deepEqual([...((await t.store.getConversation(group.json.conversationId!))?.members ?? [])].sort(), ['gm-owner2', 'gm-x']);
    });
  });
}
