// Parsing and validation of client frames, and the encoders: no sockets needed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChatError } from '../../src/errors.js';
import { encodeError, encodeMessage, encodeSentAck, parseClientFrame } from '../../src/protocol/frames.js';

const limits = { maxMessageBytes: 16, maxDeliveredIds: 3 };
const code = (text: string) => {
  try {
    parseClientFrame(text, limits);
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof ChatError);
    return error.code;
  }
};

describe('parseClientFrame', () => {
  it('parses the three client frame types', () => {
    assert.deepEqual(parseClientFrame('{"type":"send","messageId":"m-1_A","to":"bob@x.io","body":"hi"}', limits), {
      type: 'send', messageId: 'm-1_A', to: 'bob@x.io', body: 'hi',
    });
    assert.deepEqual(parseClientFrame('{"type":"delivered","messageIds":["a","b"]}', limits), { type: 'delivered', messageIds: ['a', 'b'] });
    assert.deepEqual(parseClientFrame('{"type":"sync"}', limits), { type: 'sync' });
  });

  it('drops unknown fields such as a forged from', () => {
    const frame = parseClientFrame('{"type":"send","messageId":"m","to":"bob","body":"b","from":"alice","__proto__":{"admin":true}}', limits);
    assert.deepEqual(Object.keys(frame).sort(), ['body', 'messageId', 'to', 'type']);
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });

  it('classifies bad frames', () => {
    const cases: [string, string][] = [
      ['', 'bad_request'], ['nul', 'bad_request'], ['{"type":"send"', 'bad_request'], ['null', 'bad_request'],
      ['[]', 'bad_request'], ['{"type":["send"]}', 'bad_request'], ['{"type":"ping"}', 'unknown_type'],
      ['{"type":"send","messageId":"m","to":"bob","body":"12345678901234567"}', 'too_large'],
      ['{"type":"send","messageId":"m","to":"bob","body":"ééééééééé"}', 'too_large'],
      ['{"type":"send","messageId":"m","to":"bob","body":"éééééééé"}', 'ok'],
      ['{"type":"send","messageId":"m","to":"","body":"x"}', 'bad_request'],
      ['{"type":"send","messageId":"m","to":"b ob","body":"x"}', 'bad_request'],
      ['{"type":"send","messageId":"m","to":"bob","body":["x"]}', 'bad_request'],
      ['{"type":"send","messageId":1e400,"to":"bob","body":"x"}', 'bad_request'],
      ['{"type":"delivered","messageIds":["a","b","c","d"]}', 'too_large'],
      ['{"type":"delivered","messageIds":["a",null]}', 'bad_request'],
      ['{"type":"delivered","messageIds":{"0":"a"}}', 'bad_request'],
    ];
    for (const [text, expected] of cases) assert.equal(code(text), expected, text);
  });
});

describe('encoders', () => {
  it('produce valid JSON for any body', () => {
    const body = 'quote " backslash \\ newline \n emoji 👋 \u2028';
    const frame = JSON.parse(encodeMessage({ messageId: 'm', from: 'a', to: 'b', body, ts: 5 }));
    assert.deepEqual(frame, { type: 'message', messageId: 'm', from: 'a', to: 'b', body, ts: 5 });
    assert.deepEqual(JSON.parse(encodeSentAck('m', 7, true)), { type: 'ack', status: 'SENT', messageId: 'm', ts: 7, duplicate: true });
    assert.deepEqual(JSON.parse(encodeError(new ChatError('conflict', 'x "y"', { messageId: 'm' }))), {
      type: 'error', code: 'conflict', message: 'x "y"', messageId: 'm',
    });
  });
});
