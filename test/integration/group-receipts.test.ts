// A group's receipts to its other members are coalesced over RECEIPTS_GROUP_INTERVAL_MS: every
// member's confirmation of a message is a receipt to every other member, N² frames per message
// (9,801 in a group of 100), and a sender at the send limit made the server write ~500,000 frames a
// second. Over the window each member's receipt carries its newest watermarks; the member's own
// devices are still told at once (a read clears their unread counters).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectDevice, createGroup, sendTo, uid } from '../helpers/conversations.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { Frame, TestClient } from '../helpers/ws-client.js';

const WINDOW_MS = 400;
const MESSAGES = 8;

describe('group receipts, coalesced over RECEIPTS_GROUP_INTERVAL_MS', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { RECEIPTS_GROUP_INTERVAL_MS: String(WINDOW_MS) } });
  });
  after(() => t.close());

  it('a burst costs each member one receipt per other member per window, carrying the newest watermark', async () => {
    const [owner, ...members] = [uid('own'), uid('m1'), uid('m2'), uid('m3'), uid('m4')];
    const group = await createGroup(t, owner!, members);
    assert.equal(group.status, 201);
    const conversationId = (group.body as { conversationId: string }).conversationId;
    const sender = (await connectDevice(t, owner!, 'd')).client;
    const readers: TestClient[] = [];
    for (const member of members) {
      const { client } = await connectDevice(t, member, 'd');
      // Each member confirms each message as it comes, in a turn of its own: the shape of a live group.
      client.ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Frame;
        if (frame.type === 'message' && frame.conversationId === conversationId) client.send({ type: 'delivered', messageIds: [frame.messageId] });
      });
      readers.push(client);
    }
    for (let i = 0; i < MESSAGES; i++) {
      assert.equal((await sendTo(sender, conversationId, uid('g'), `m${i}`)).status, 'SENT');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS * 2 + 300));
    const observer = readers[0]!;
    for (const other of members.slice(1)) {
      const receipts = observer.frames.filter((f) => f.type === 'receipt' && f.userId === other && f.deliveredSeq !== undefined);
      assert.ok(receipts.length >= 1 && receipts.length <= 3, `${receipts.length} receipts about ${other} for ${MESSAGES} messages`);
      assert.equal(receipts.at(-1)!.deliveredSeq, MESSAGES, 'the last one carries the newest watermark');
    }
    // The sender sees each member reach the end too.
    for (const member of members) {
      const last = sender.frames.filter((f) => f.type === 'receipt' && f.userId === member && f.deliveredSeq !== undefined).at(-1);
      assert.equal(last?.deliveredSeq, MESSAGES, member);
    }
    await Promise.all([sender, ...readers].map((client) => client.close()));
  });
});
