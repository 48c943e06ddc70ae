// The SDK's edit and delete (protocol v1.2) against the real server: edit() and deleteMessage()
// resolve on the server's ack, another device gets `edited` / `deleted` once each, in seq order with the
// messages (no false gap), and again after a reconnect only if it had not confirmed them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { ChatClientError, connect, type ChatClient, type ClientErrorEvent, type MessageEditEvent } from '../../src/client/index.js';
import { until } from '../helpers/sdk-events.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('client SDK: edit and delete', () => {
  let t: TestServer;
  const clients: ChatClient[] = [];
  const open = async (userId: string, device: string) => {
    const client = connect({ url: t.wsUrl, token: await t.token(userId), WebSocket, device });
    clients.push(client);
    await client.whenReady();
    return client;
  };
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    for (const client of clients) client.close();
    await t.close();
  });

  it('edits and deletes; the other side sees each event once, in order, and no gap', async () => {
    const alice = await open('ed-alice', 'a1');
    const bob = await open('ed-bob', 'b1');
    const seen: string[] = [];
    const gaps: unknown[] = [];
    const edits: MessageEditEvent[] = [];
    bob.on('message', (m) => seen.push(`message ${m.seq} ${m.body}`));
    bob.on('edited', (e) => (seen.push(`edited ${e.seq} ${e.body}`), edits.push(e)));
    bob.on('deleted', (e) => seen.push(`deleted ${e.seq} ${e.messageId === first.messageId}`));
    bob.on('gap', (g) => gaps.push(g));

    const first = await alice.send('ed-bob', 'helo');
    const edit = await alice.edit(first.messageId, 'hello', { editId: 'fix-typo' });
    assert.equal(edit.event, 'edited');
    assert.equal(edit.eventId, 'edit.fix-typo');
    assert.equal(edit.seq, first.seq! + 1);
    assert.equal((await alice.edit(first.messageId, 'hello', { editId: 'fix-typo' })).duplicate, true, 'a retry is applied once');
    const second = await alice.send('ed-bob', 'after the edit');
    const deletion = await alice.deleteMessage(first.messageId);
    assert.equal(deletion.event, 'deleted');
    await until(bob, () => seen.length === 4);
    assert.deepEqual(seen, [`message ${first.seq} helo`, `edited ${edit.seq} hello`, `message ${second.seq} after the edit`, `deleted ${deletion.seq} true`]);
    assert.equal(edits[0]!.from, 'ed-alice');
    assert.deepEqual(gaps, [], 'events fill their seqs: no gap');

    await assert.rejects(alice.edit(first.messageId, 'revived'), (error: unknown) => error instanceof ChatClientError && error.code === 'not_found', 'deleted is final');
    await assert.rejects(bob.edit(second.messageId, 'not mine'), (error: unknown) => error instanceof ChatClientError && error.code === 'forbidden');

    // The history shows the tombstone with body "" and the message after it.
    const pages = [];
    for await (const page of bob.history(first.conversationId!)) pages.push(...page.messages);
    assert.deepEqual(pages.map((m) => [m.messageId, m.body, m.deleted ?? false]), [[first.messageId, '', true], [second.messageId, 'after the edit', false]]);

    // Confirmed events are not replayed: a new connection of b1 sees nothing again.
    bob.close();
    const again = await open('ed-bob', 'b1');
    const replayed: string[] = [];
    again.on('message', (m) => replayed.push(m.messageId));
    again.on('edited', (e) => replayed.push(e.eventId));
    again.sync();
    await new Promise<void>((resolve) => again.on('ready', () => resolve()));
    assert.deepEqual(replayed, []);
  });

  it('a refused edit or delete reports the message and the event apart, as the wire error frame does', async () => {
    // Until this was fixed the error event said messageId "edit.<editId>" (the eventId) and had no eventId.
    const alice = await open('ids-alice', 'a1');
    const bob = await open('ids-bob', 'b1');
    const errors: ClientErrorEvent[] = [];
    bob.on('error', (e) => errors.push(e));
    const sent = await alice.send('ids-bob', 'not yours to change');
    const refusedEdit = await bob.edit(sent.messageId, 'changed', { editId: 'bobs-edit' }).catch((error: unknown) => error);
    const refusedDelete = await bob.deleteMessage(sent.messageId).catch((error: unknown) => error);
    for (const [error, eventId] of [[refusedEdit, 'edit.bobs-edit'], [refusedDelete, `delete.${sent.messageId}`]] as const) {
      assert.ok(error instanceof ChatClientError);
      assert.deepEqual([error.code, error.messageId, error.eventId], ['forbidden', sent.messageId, eventId], 'the rejection');
    }
    assert.deepEqual(
      errors.map((e) => [e.code, e.messageId, e.eventId, e.willRetry]),
      [
        ['forbidden', sent.messageId, 'edit.bobs-edit', false],
        ['forbidden', sent.messageId, `delete.${sent.messageId}`, false],
      ],
      'the error events',
    );
  });
});
