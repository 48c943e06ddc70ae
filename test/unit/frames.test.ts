// Parsing and validation of client frames, and the encoders: no sockets needed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChatError } from '../../src/errors.js';
import { encodeError, encodeMessage, encodeSentAck, parseClientFrame } from '../../src/protocol/frames.js';
import { jsonString } from '../../src/protocol/server-frames.js';
import { prng } from '../helpers/prng.js';

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

  it('parses the v1.1 frames: send by conversationId, delivered by watermark, read, typing', () => {
    assert.deepEqual(parseClientFrame('{"type":"send","messageId":"m","conversationId":"g:abc_-.@:1","body":"hi"}', limits), {
      type: 'send', messageId: 'm', conversationId: 'g:abc_-.@:1', body: 'hi',
    });
    assert.deepEqual(parseClientFrame('{"type":"delivered","conversationId":"d:a:b","seq":0}', limits), { type: 'delivered_upto', conversationId: 'd:a:b', seq: 0 });
    assert.deepEqual(parseClientFrame('{"type":"read","conversationId":"g:x","seq":12}', limits), { type: 'read', conversationId: 'g:x', seq: 12 });
    assert.deepEqual(parseClientFrame('{"type":"typing","conversationId":"g:x","junk":1}', limits), { type: 'typing', conversationId: 'g:x' });
    assert.equal(code(`{"type":"read","conversationId":"${'c'.repeat(128)}","seq":1}`), 'ok');
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
      // v1.1: exactly one of to and conversationId; conversation ids and seqs typed and bounded.
      ['{"type":"send","messageId":"m","to":"bob","conversationId":"g:x","body":"x"}', 'bad_request'],
      ['{"type":"send","messageId":"m","conversationId":{"$gt":""},"body":"x"}', 'bad_request'],
      ['{"type":"send","messageId":"m","conversationId":"","body":"x"}', 'bad_request'],
      [`{"type":"send","messageId":"m","conversationId":"${'c'.repeat(129)}","body":"x"}`, 'bad_request'],
      ['{"type":"send","messageId":"m","conversationId":"g x","body":"x"}', 'bad_request'],
      ['{"type":"send","messageId":"m","conversationId":"g:x","body":"12345678901234567"}', 'too_large'],
      ['{"type":"delivered","conversationId":"g:x","seq":1,"messageIds":["a"]}', 'bad_request'],
      ['{"type":"delivered","conversationId":"g:x"}', 'bad_request'],
      ['{"type":"delivered","seq":1}', 'bad_request'],
      ['{"type":"delivered","conversationId":"g:x","seq":-1}', 'bad_request'],
      ['{"type":"delivered","conversationId":"g:x","seq":1.5}', 'bad_request'],
      ['{"type":"delivered","conversationId":"g:x","seq":"1"}', 'bad_request'],
      ['{"type":"delivered","conversationId":"g:x","seq":9007199254740992}', 'bad_request'],
      ['{"type":"read","conversationId":"g:x","seq":{"$gt":0}}', 'bad_request'],
      ['{"type":"read","conversationId":["g:x"],"seq":1}', 'bad_request'],
      ['{"type":"read","conversationId":"g:x"}', 'bad_request'],
      ['{"type":"read","seq":1}', 'bad_request'],
      ['{"type":"read","conversationId":"g:x","seq":1e400}', 'bad_request'],
      ['{"type":"typing"}', 'bad_request'],
      ['{"type":"typing","conversationId":{"$ne":null}}', 'bad_request'],
      ['{"type":"typing","conversationId":"g:\\u0000"}', 'bad_request'],
    ];
    for (const [text, expected] of cases) assert.equal(code(text), expected, text);
  });
});

describe('encoders', () => {
  it('write a body as JSON.stringify does, whatever it holds', () => {
    const specials = ['"', '\\', '\n', '\u0000', '\u001f', ' ', '\u007f', '\u2028', 'é', '👋', '\ud800', '\udfff', 'a', 'Z', '/', '<'];
    const next = prng(7);
    const random = (n: number) => Math.floor(next() * n);
    const bodies = [...specials, ''];
    for (let k = 0; k < 5000; k++) bodies.push(Array.from({ length: random(40) }, () => (random(4) ? 'x' : specials[random(specials.length)])).join(''));
    for (const body of bodies) assert.equal(jsonString(body), JSON.stringify(body), JSON.stringify(body));
  });

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
