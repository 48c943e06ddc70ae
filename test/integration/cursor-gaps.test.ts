// A message a device has not confirmed stays owed however many seqs above it the server covers by
// itself: the edit events a device that did not ask for them is never sent, and the user's own sends.
// Before cursors kept runs (2026-12-07), 1,025 of either closed the gap below them: the message counted
// as delivered (a new device skipped it, the sender's receipt said delivered) without any confirmation.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectDevice, uid } from '../helpers/conversations.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';

/** More than the 1,024 a cursor used to hold above a gap. */
const COVERED_ABOVE = 1100;

describe('an unconfirmed message below many seqs the server covers itself', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  /** `from` sends `count` messages to `to` and waits for each SENT; returns the acks. */
  async function sendAll(client: TestClient, to: string, count: number, prefix: string): Promise<Frame[]> {
    const ids = Array.from({ length: count }, () => uid(prefix));
    for (const messageId of ids) client.send({ type: 'send', messageId, to, body: 'hi' });
    const acks: Frame[] = [];
    for (const messageId of ids) acks.push(await client.next((f) => f.type === 'ack' && f.status === 'SENT' && f.messageId === messageId));
    return acks;
  }

  /** How many messages a connect of `userId`'s `device` replays (it confirms none of them). */
  async function replayedTo(userId: string, device: string): Promise<number> {
    const { client, replayed } = await connectDevice(t, userId, device);
    await client.close();
    return replayed.length;
  }

  it('edits of a message, withheld from a device that did not ask for events, do not close the gap', async () => {
    const [alice, bob] = [uid('alice'), uid('bob')];
    const sender = await TestClient.connect(t.wsUrl, { token: await t.token(alice) });
    const sent = await sendAll(sender, bob, 10, 'm');
    const target = sent[0]!.messageId as string;
    for (let i = 0; i < COVERED_ABOVE; i++) sender.send({ type: 'edit', messageId: target, editId: uid('e'), body: `edit ${i}` });
    await sender.next((f) => f.type === 'ack' && f.status === 'EDITED' && f.seq === 10 + COVERED_ABOVE, 30_000);

    // bob's v1 device: replayed the 10 messages (each edit withheld: covered, not sent), confirms none.
    assert.equal(await replayedTo(bob, 'laptop'), 10);
    assert.equal(await replayedTo(bob, 'laptop'), 10, 'still owed to the device that never confirmed them');
    assert.equal(await replayedTo(bob, 'phone'), 10, 'and to a new device of the user');
    await sender.close();
  });

  it("the user's own sends above messages it has not confirmed do not close the gap", async () => {
    const [alice, bob] = [uid('alice'), uid('bob')];
    const sender = await TestClient.connect(t.wsUrl, { token: await t.token(alice) });
    await sendAll(sender, bob, 10, 'm');
    // bob sends from a device that confirms nothing of alice's: his own sends are covered for him.
    const busy = await TestClient.connect(`${t.wsUrl}?device=desk`, { token: await t.token(bob) });
    await busy.next((f) => f.type === 'ready');
    await sendAll(busy, alice, COVERED_ABOVE, 'own');
    await busy.close();
    assert.equal(await replayedTo(bob, 'phone'), 10, "a new device of bob's gets alice's 10");
    assert.equal(await replayedTo(bob, 'desk'), 10, 'and so does the device that sent');
    await sender.close();
  });
});
