// The client's side of the wire against the server's: what the server's encoders write, the SDK's
// decoder reads back as typed frames, and what the SDK encodes, the server's parser accepts as is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeServerFrame, encodeClientFrame, type OutgoingFrame } from '../../src/protocol/client-codec.js';
import { ChatError } from '../../src/errors.js';
import { encodeDeliveredAck, encodeError, encodeMessage, encodeReady, encodeSentAck, parseClientFrame } from '../../src/protocol/frames.js';
import { encodeServerEvent } from '../../src/protocol/server-frames.js';

describe('decodeServerFrame', () => {
  it('reads back every frame the server encodes', () => {
    assert.deepEqual(decodeServerFrame(encodeSentAck('m-1', 1764086400000, true)), { type: 'ack', status: 'SENT', messageId: 'm-1', ts: 1764086400000, duplicate: true });
    assert.deepEqual(decodeServerFrame(encodeSentAck('m-1', 5, false)), { type: 'ack', status: 'SENT', messageId: 'm-1', ts: 5, duplicate: false });
    assert.deepEqual(decodeServerFrame(encodeDeliveredAck('m-2')), { type: 'ack', status: 'DELIVERED', messageId: 'm-2' });
    const message = { messageId: 'm-3', from: 'alice', to: 'bob', body: 'hé "quoted"\n✓', ts: 7 };
    assert.deepEqual(decodeServerFrame(encodeMessage(message)), { type: 'message', ...message });
    assert.deepEqual(decodeServerFrame(encodeReady(3)), { type: 'ready', replayed: 3 });
  });

  it('keeps every v1 field of a v1.1 frame, with its v1 name, type and value (v1.1 only adds)', () => {
    const message = { messageId: 'm-3', from: 'alice', to: 'bob', body: 'x', ts: 7 };
    const decoded = decodeServerFrame(encodeMessage({ ...message, conversationId: 'd:alice:bob', seq: 4 })) as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(message)) assert.equal(decoded[key], value, key);
    const ack = decodeServerFrame(encodeSentAck('m-1', 5, false, 'd:alice:bob', 4)) as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries({ type: 'ack', status: 'SENT', messageId: 'm-1', ts: 5, duplicate: false })) assert.equal(ack[key], value, key);
  });

  it('reads error frames with their messageId and retryAfter only when present', () => {
    assert.deepEqual(decodeServerFrame(encodeError(new ChatError('rate_limited', 'slow down', { messageId: 'm-4', retryAfterSec: 2 }))), {
      type: 'error', code: 'rate_limited', message: 'slow down', messageId: 'm-4', retryAfter: 2,
    });
    const bare = decodeServerFrame(encodeError(new ChatError('unavailable', 'store down')));
    assert.deepEqual(bare, { type: 'error', code: 'unavailable', message: 'store down' });
    assert.deepEqual(Object.keys(bare!).sort(), ['code', 'message', 'type'], 'no undefined keys');
    assert.deepEqual(decodeServerFrame('{"type":"error","code":"internal"}'), { type: 'error', code: 'internal', message: 'internal' }, 'the code stands in for a missing message');
  });

  it('ignores what it cannot use: bad JSON, non-objects, unknown types, frames missing their fields', () => {
    for (const text of ['', 'not json', 'null', '[]', '"ack"', '{"type":"hello"}', '{"type":"ack","status":"SENT"}', '{"type":"ack","status":"READ","messageId":"m"}', '{"type":"message","messageId":"m","from":"a","to":"b","body":"x"}', '{"type":"message","messageId":"m","from":"a","to":"b","body":{"$gt":""},"ts":1}']) {
      assert.equal(decodeServerFrame(text), undefined, text);
    }
  });
});

describe('decodeServerFrame (v1.1)', () => {
  it('reads the v1.1 frames: placed messages and acks, receipts, typing, conversation events', () => {
    assert.deepEqual(decodeServerFrame(encodeSentAck('m-1', 5, false, 'd:a:b', 7)), { type: 'ack', status: 'SENT', messageId: 'm-1', ts: 5, duplicate: false, conversationId: 'd:a:b', seq: 7 });
    const group = { messageId: 'm-2', from: 'ann', body: 'hi', ts: 9, conversationId: 'g:x', seq: 3 };
    assert.deepEqual(decodeServerFrame(encodeMessage(group)), { type: 'message', ...group }, 'a group message has no `to`');
    assert.deepEqual(decodeServerFrame(encodeServerEvent({ type: 'receipt', conversationId: 'g:x', userId: 'bob', readSeq: 3 })), { type: 'receipt', conversationId: 'g:x', userId: 'bob', readSeq: 3 });
    assert.deepEqual(decodeServerFrame(encodeServerEvent({ type: 'typing', conversationId: 'g:x', userId: 'bob' })), { type: 'typing', conversationId: 'g:x', userId: 'bob' });
    const conversation = { conversationId: 'g:x', kind: 'group' as const, title: 'T', members: ['ann', 'bob'], ownerId: 'ann', createdAt: 1 };
    assert.deepEqual(decodeServerFrame(encodeServerEvent({ type: 'conversation', event: 'joined', conversation: conversation as never })), {
      type: 'conversation', event: 'joined', conversation: { ...conversation, memberCount: 2 },
    });
    assert.equal(decodeServerFrame('{"type":"receipt","userId":"bob"}'), undefined);
    assert.equal(decodeServerFrame('{"type":"conversation","event":"exploded","conversation":{"conversationId":"g","kind":"group"}}'), undefined);
  });
});

describe('encodeClientFrame', () => {
  it('writes what the server parses back unchanged', () => {
    const limits = { maxMessageBytes: 1000, maxDeliveredIds: 10 };
    const frames: OutgoingFrame[] = [
      { type: 'send', messageId: 'm-5', to: 'bob', body: 'hi "there"' },
      { type: 'send', messageId: 'm-7', conversationId: 'g:abc', body: 'hi group' },
      { type: 'delivered', messageIds: ['m-5', 'm-6'] },
      { type: 'read', conversationId: 'g:abc', seq: 4 },
      { type: 'typing', conversationId: 'g:abc' },
      { type: 'sync' },
    ];
    for (const frame of frames) assert.deepEqual(parseClientFrame(encodeClientFrame(frame), limits), frame);
    assert.deepEqual(parseClientFrame(encodeClientFrame({ type: 'delivered', conversationId: 'g:abc', seq: 9 }), limits), { type: 'delivered_upto', conversationId: 'g:abc', seq: 9 });
  });
});
