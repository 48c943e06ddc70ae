// The race between a replay and a send still settling: the store has acknowledged the write (so the
// replay reads and sends the message) but the send's promise settles only after the replay's `ready`,
// and its live delivery would give the same connection the message a second time. A store whose
// acknowledgements can be held back makes the race happen every time.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isDeliveredAck } from '../helpers/conversations.js';
import { HeldAckStore } from '../helpers/held-ack-store.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

describe('replay racing a send that is still settling', () => {
  const store = new HeldAckStore();
  let t: TestServer;
  const clients: TestClient[] = [];
  // A replay waits at most DB_OP_TIMEOUT_MS for the device's confirmations in flight: short here, so
  // the cases that hold a confirmation past it see the per-connection guard behind that wait.
  const OP_TIMEOUT_MS = 600;
  before(async () => (t = await startTestServer({ store, env: { DB_OP_TIMEOUT_MS: String(OP_TIMEOUT_MS) } })));
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await t.close();
  });
  const connect = async (userId: string) => {
    const result = await TestClient.connectReady(t.wsUrl, await t.token(userId));
    clients.push(result.client);
    return result;
  };
  const copiesOf = (client: TestClient, messageId: string) =>
    client.frames.filter((frame) => frame.type === 'message' && frame.messageId === messageId).length;

  it('gives the connection a message the replay sent only once, even when the send settles after ready', async () => {
    const { client: sender } = await connect('race-sender');
    store.hold();
    sender.send({ type: 'send', messageId: 'race-1', to: 'race-recipient', body: 'stored, ack held' });
    while (store.stored === 0) await new Promise((resolve) => setTimeout(resolve, 5));

    const { client: recipient, replayed } = await connect('race-recipient');
    assert.deepEqual(replayed.map((frame) => frame.messageId), ['race-1'], 'the replay read the stored message');

    store.release();
    await sender.next((frame) => frame.type === 'ack' && frame.messageId === 'race-1' && frame.status === 'SENT');
    // A later message proves live delivery runs and that anything queued before it has arrived.
    await sender.sendMessage('race-2', 'race-recipient', 'after');
    await recipient.next((frame) => frame.type === 'message' && frame.messageId === 'race-2');
    assert.equal(copiesOf(recipient, 'race-1'), 1, 'race-1 reached this connection once');

    // A second device connecting later still gets it by replay: the guard is per connection.
    const { replayed: other } = await connect('race-recipient');
    assert.deepEqual(other.map((frame) => frame.messageId), ['race-1', 'race-2']);
  });

  /** A message delivered to `recipient` live, then its confirmation held in the store and a `sync` behind it. */
  const confirmThenSync = async (tag: string) => {
    const { client: sender } = await connect(`${tag}-sender`);
    const { client: recipient } = await connect(`${tag}-recipient`);
    await sender.sendMessage(`${tag}-1`, `${tag}-recipient`, 'confirmed while its write is slow');
    await recipient.next((frame) => frame.type === 'message' && frame.messageId === `${tag}-1`);
    store.holdConfirms();
    recipient.send({ type: 'delivered', messageIds: [`${tag}-1`] });
    recipient.send({ type: 'sync' });
    const ready = await recipient.next((frame) => frame.type === 'ready');
    assert.equal(store.confirmsHeld > 0, true, 'the confirmation was still unrecorded during the replay');
    assert.equal(ready.replayed, 0, 'the replay skipped what this connection had confirmed');
    return { sender, recipient, messageId: `${tag}-1` };
  };

  it('does not replay what this connection confirmed while the confirmation is still being recorded', async () => {
    const { sender, recipient, messageId } = await confirmThenSync('inflight');
    store.releaseConfirms();
    await sender.next(isDeliveredAck(messageId));
    recipient.send({ type: 'sync' });
    assert.equal((await recipient.next((frame) => frame.type === 'ready')).replayed, 0);
    assert.equal(copiesOf(recipient, messageId), 1);
  });

  it("a reconnecting device's replay waits for the confirmation its previous connection left being written", async () => {
    const { client: sender } = await connect('again-sender');
    const url = `${t.wsUrl}?device=phone`;
    const first = await TestClient.connect(url, { token: await t.token('again-recipient') });
    clients.push(first);
    await first.next((frame) => frame.type === 'ready');
    await sender.sendMessage('again-1', 'again-recipient', 'confirmed, then the app went away');
    await first.next((frame) => frame.type === 'message' && frame.messageId === 'again-1');
    store.holdConfirms();
    first.send({ type: 'delivered', messageIds: ['again-1'] });
    while (store.confirmsHeld === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await first.close();
    const second = await TestClient.connect(url, { token: await t.token('again-recipient') });
    clients.push(second);
    // The write lands while the new connection's replay is waiting for it (well inside the op timeout).
    setTimeout(() => store.releaseConfirms(), OP_TIMEOUT_MS / 4);
    const ready = await second.next((frame) => frame.type === 'ready');
    assert.equal(ready.replayed, 0, 'the replay read the cursor after the confirmation was recorded');
    assert.equal(copiesOf(second, 'again-1'), 0);
    await sender.next(isDeliveredAck('again-1'));
  });

  it('replays it on the next sync when that confirmation is refused', async () => {
    const { recipient, messageId } = await confirmThenSync('refused');
    store.releaseConfirms(true);
    await recipient.next((frame) => frame.type === 'error' && frame.code === 'unavailable');
    recipient.send({ type: 'sync' });
    assert.equal((await recipient.next((frame) => frame.type === 'ready')).replayed, 1);
    assert.equal(copiesOf(recipient, messageId), 2, 'still owed, so sent again');
  });
});
