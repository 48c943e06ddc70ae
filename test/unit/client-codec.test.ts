// The client's side of the wire against the server's: what the server's encoders write, the SDK's
// decoder reads back as typed frames, and what the SDK encodes, the server's parser accepts as is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeServerFrame, encodeClientFrame } from '../../src/protocol/client-codec.js';
import { ChatError } from '../../src/errors.js';
import { encodeDeliveredAck, encodeError, encodeMessage, encodeReady, encodeSentAck, parseClientFrame, type ClientFrame } from '../../src/protocol/frames.js';

describe('decodeServerFrame', () => {
  it('reads back every frame the server encodes', () => {
    assert.deepEqual(decodeServerFrame(encodeSentAck('m-1', 1764086400000, true)), { type: 'ack', status: 'SENT', messageId: 'm-1', ts: 1764086400000, duplicate: true });
    assert.deepEqual(decodeServerFrame(encodeSentAck('m-1', 5, false)), { type: 'ack', status: 'SENT', messageId: 'm-1', ts: 5, duplicate: false });
    assert.deepEqual(decodeServerFrame(encodeDeliveredAck('m-2')), { type: 'ack', status: 'DELIVERED', messageId: 'm-2' });
    const message = { messageId: 'm-3', from: 'alice', to: 'bob', body: 'hé "quoted"\n✓', ts: 7 };
    assert.deepEqual(decodeServerFrame(encodeMessage(message)), { type: 'message', ...message });
    assert.deepEqual(decodeServerFrame(encodeReady(3)), { type: 'ready', replayed: 3 });
  });

  it('a v1 client reads v1.1 frames by their v1 fields and ignores the new frame types', () => {
    const message = { messageId: 'm-3', from: 'alice', to: 'bob', body: 'x', ts: 7 };
    assert.deepEqual(decodeServerFrame(encodeMessage({ ...message, conversationId: 'd:alice:bob', seq: 4 })), { type: 'message', ...message });
    assert.deepEqual(decodeServerFrame(encodeSentAck('m-1', 5, false, 'd:alice:bob', 4)), { type: 'ack', status: 'SENT', messageId: 'm-1', ts: 5, duplicate: false });
    for (const text of [
      '{"type":"receipt","conversationId":"d:a:b","userId":"b","deliveredSeq":2,"readSeq":1}',
      '{"type":"typing","conversationId":"d:a:b","userId":"b"}',
      '{"type":"conversation","event":"created","conversation":{"conversationId":"g:x"}}',
    ]) assert.equal(decodeServerFrame(text), undefined, text);
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

describe('encodeClientFrame', () => {
  it('writes what the server parses back unchanged', () => {
    const limits = { maxMessageBytes: 1000, maxDeliveredIds: 10 };
    const frames: ClientFrame[] = [{ type: 'send', messageId: 'm-5', to: 'bob', body: 'hi "there"' }, { type: 'delivered', messageIds: ['m-5', 'm-6'] }, { type: 'sync' }];
    for (const frame of frames) assert.deepEqual(parseClientFrame(encodeClientFrame(frame), limits), frame);
  });
});
