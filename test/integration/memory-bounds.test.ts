// The memory store's bound on one conversation (MAX_CONVERSATION_MESSAGES in
// src/store/memory/memory-store.ts, lowered here to 2): past it a send is refused as `unavailable`
// with its messageId, nothing is stored or acked, and the server goes on serving other conversations
// and retries of what it stored. At the real bound V8 would stop the process instead.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

describe('memory store: messages per conversation', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ store: new MemoryStore({ maxConversationMessages: 2 }) });
  });
  after(() => t.close());

  it('refuses the message past the bound as unavailable and keeps serving', async () => {
    const { client: alice } = await TestClient.connectReady(t.wsUrl, await t.token('mb-alice'));
    for (const id of ['mb-1', 'mb-2']) assert.equal((await alice.sendMessage(id, 'mb-bob', id)).status, 'SENT');
    const refused = await alice.sendMessage('mb-3', 'mb-bob', 'one too many');
    assert.deepEqual([refused.type, refused.code, refused.messageId], ['error', 'unavailable', 'mb-3']);
    assert.equal(await t.store.getMessage('mb-3'), undefined);
    assert.equal(alice.frames.some((f) => f.type === 'ack' && f.messageId === 'mb-3'), false);
    // A retry of a stored message is still answered as the duplicate it is; another conversation is open.
    const retry = await alice.sendMessage('mb-2', 'mb-bob', 'mb-2');
    assert.deepEqual([retry.status, retry.duplicate], ['SENT', true]);
    assert.equal((await alice.sendMessage('mb-4', 'mb-carol', 'elsewhere')).status, 'SENT');
    await alice.close();
  });
});
