// A connection's memory of what it confirmed (src/chat/delivery-session.ts): a live message it
// confirmed is never sent to it again, however late the event, and what it did not confirm still is.
// Confirmations are kept as seqs per conversation, not as ids, so these walk the shapes that matter:
// in order, out of order, older than the first confirmation, watermarks, and ids never sent here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ChatConnection } from '../../src/chat/connection.js';
import { DeliverySession } from '../../src/chat/delivery-session.js';
import type { ServerEvent } from '../../src/chat/events.js';
import type { StoredMessage } from '../../src/store/store.js';

function recordingConnection(): ChatConnection & { ids: string[] } {
  const ids: string[] = [];
  return {
    id: 1, userId: 'bob', deviceId: 'phone', messageEvents: true, directOnly: false, open: true, ids,
    send(event: ServerEvent) {
      if (event.type === 'message') ids.push(event.message.messageId);
    },
    pressure: () => 0,
    writable: async () => true,
  };
}

const message = (conversationId: string, seq: number): StoredMessage =>
  Object.freeze({ messageId: `${conversationId}-${seq}`, conversationId, seq, from: 'alice', to: 'bob', body: 'x', ts: 1 });

/** Delivers seqs live, confirms some of them, then delivers every one of them again (late events). */
function deliverConfirmRedeliver(seqs: number[], confirm: number[], conversationId = 'd:alice:bob') {
  const connection = recordingConnection();
  const session = new DeliverySession(connection, 100);
  for (const seq of seqs) session.deliverLive(message(conversationId, seq));
  session.confirmed(confirm.map((seq) => `${conversationId}-${seq}`));
  connection.ids.length = 0;
  for (const seq of seqs) session.deliverLive(message(conversationId, seq));
  return { session, again: connection.ids.map((id) => Number(id.split('-').pop())) };
}

describe('DeliverySession: what this connection confirmed', () => {
  it('confirmed in order: nothing is sent again; the unconfirmed one is not re-sent either (sent and unconfirmed)', () => {
    const { session, again } = deliverConfirmRedeliver([5, 6, 7, 8], [5, 6, 7]);
    assert.deepEqual(again, []);
    for (const seq of [5, 6, 7]) assert.equal(session.isConfirmed(message('d:alice:bob', seq)), true, `seq ${seq}`);
    assert.equal(session.isConfirmed(message('d:alice:bob', 8)), false);
    assert.equal(session.wasSent('d:alice:bob-8'), true);
  });

  it('seqs before the first one confirmed here are not taken as confirmed by it', () => {
    const { session } = deliverConfirmRedeliver([10, 11], [10, 11]);
    for (const seq of [1, 9]) assert.equal(session.isConfirmed(message('d:alice:bob', seq)), false, `seq ${seq}`);
    for (const seq of [10, 11]) assert.equal(session.isConfirmed(message('d:alice:bob', seq)), true, `seq ${seq}`);
    assert.equal(session.isConfirmed(message('d:alice:bob', 12)), false);
  });

  it('out of order: only what was confirmed counts, the gap stays open', () => {
    const { session } = deliverConfirmRedeliver([1, 2, 3, 4, 5], [1, 4, 2]);
    assert.deepEqual([1, 2, 3, 4, 5].map((seq) => session.isConfirmed(message('d:alice:bob', seq))), [true, true, false, true, false]);
  });

  it('an older message confirmed after a newer one (below the first seq confirmed here) is remembered by id', () => {
    const { session } = deliverConfirmRedeliver([3, 7], [7, 3]);
    assert.equal(session.isConfirmed(message('d:alice:bob', 3)), true);
    assert.equal(session.isConfirmed(message('d:alice:bob', 7)), true);
    assert.equal(session.isConfirmed(message('d:alice:bob', 5)), false);
  });

  it('confirmed newest first: the range grows down, and what lies below it is still not confirmed', () => {
    const { session } = deliverConfirmRedeliver([5, 6, 7], [7, 6, 5]);
    assert.deepEqual([4, 5, 6, 7, 8].map((seq) => session.isConfirmed(message('d:alice:bob', seq))), [false, true, true, true, false]);
  });

  it('an id never sent here (history read over HTTP, another connection) is remembered by id, and a late event for it is not sent', () => {
    const connection = recordingConnection();
    const session = new DeliverySession(connection, 100);
    session.confirmed(['d:alice:bob-4']);
    session.deliverLive(message('d:alice:bob', 4));
    session.deliverLive(message('d:alice:bob', 5));
    assert.deepEqual(connection.ids, ['d:alice:bob-5']);
  });

  it('conversations are kept apart', () => {
    const connection = recordingConnection();
    const session = new DeliverySession(connection, 100);
    session.deliverLive(message('g:one', 1));
    session.confirmed(['g:one-1']);
    assert.equal(session.isConfirmed(message('g:one', 1)), true);
    assert.equal(session.isConfirmed(message('g:two', 1)), false);
  });

  it('a watermark covers only what was sent here; later messages still come through', () => {
    const connection = recordingConnection();
    const session = new DeliverySession(connection, 100);
    for (const seq of [1, 2, 3]) session.deliverLive(message('g:one', seq));
    session.confirmedThrough('g:one', 1000);
    assert.equal(session.isConfirmed(message('g:one', 3)), true);
    assert.equal(session.isConfirmed(message('g:one', 4)), false);
  });

  it('a long in-order stream is one watermark: 10,000 confirmed, every one still known (no id is forgotten at SENT_IDS_MAX)', () => {
    const seqs = Array.from({ length: 10_000 }, (_, i) => i + 1);
    const connection = recordingConnection();
    const session = new DeliverySession(connection, 100);
    for (const seq of seqs) {
      session.deliverLive(message('d:alice:bob', seq));
      session.confirmed([`d:alice:bob-${seq}`]);
    }
    connection.ids.length = 0;
    for (const seq of seqs) session.deliverLive(message('d:alice:bob', seq));
    assert.deepEqual(connection.ids, []);
  });

  it('keeps no message it sent alive: a client that never confirms does not hold 4096 bodies on the connection', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const connection = recordingConnection();
    const session = new DeliverySession(connection, 100);
    const sent = new WeakRef(Object.freeze({ ...message('d:alice:bob', 1), body: 'x'.repeat(16_384) }));
    session.deliverLive(sent.deref()!);
    await new Promise((resolve) => setImmediate(resolve)); // the WeakRef's own hold lasts until the turn ends
    gc();
    assert.equal(sent.deref(), undefined, 'the message was collected');
    assert.equal(session.wasSent('d:alice:bob-1'), true, 'and the connection still knows it sent it');
    session.confirmed(['d:alice:bob-1']);
    assert.equal(session.isConfirmed(message('d:alice:bob', 1)), true);
  });
});
