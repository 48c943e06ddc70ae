// Seeded generators of hostile WebSocket frames, each with the outcome the protocol promises for it
// (docs/protocol.md). Pure: the same seed gives the same frames, so a failure reproduces with FUZZ_SEED.
import { prng } from '../helpers/prng.js';

export { prng };

export type Expect =
  /** Exactly one error frame, with one of these codes; the connection stays open. */
  | { readonly kind: 'error'; readonly codes: readonly string[] }
  /** A valid send: a SENT ack, and the message stored exactly as given. */
  | { readonly kind: 'ack'; readonly messageId: string; readonly to: string; readonly body: string }
  /** A valid `delivered` (nothing of the caller's to confirm): no frame at all. */
  | { readonly kind: 'silent' }
  /** At most one frame, and if one, an error with one of these codes (typing: relayed or dropped silently). */
  | { readonly kind: 'maybe'; readonly codes: readonly string[] }
  /** A valid `sync` (with junk fields): `ready` with nothing replayed. */
  | { readonly kind: 'ready' }
  /** The connection is closed with one of these codes. */
  | { readonly kind: 'close'; readonly codes: readonly number[] }
  /** A random mutation: an error, a valid send's ack, a `ready` or nothing, checked against the frame's own JSON. */
  | { readonly kind: 'any' };

export interface FuzzCase {
  readonly category: string;
  readonly data: string | Buffer;
  readonly binary?: boolean;
  readonly expect: Expect;
}

export interface FuzzLimits {
  readonly maxMessageBytes: number;
  readonly maxPayloadBytes: number;
  readonly maxDeliveredIds: number;
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const NASTY = ['{', '}', '[', ']', '"', ':', ',', '\\', ' ', '\t', '\n', '0', '9', 'e', '-', '.', 'n', 'u', 'l', 't', 'a', '$', '\u0000', '\u001f', 'é', '€', '😀', '\ufffd', '\u2028'];
const OPERATORS = ['{"$gt":""}', '{"$ne":null}', '{"$where":"sleep(1000) || true"}', '{"$regex":".*"}', '{"$in":["a","b"]}', '{"$exists":true}', '{"$expr":{"$eq":[1,1]}}', '{"$function":{"body":"x","args":[],"lang":"js"}}'];
const WRONG_VALUES = ['true', 'false', 'null', '0', '-1', '3.14', '[]', '{}', '[1]', '[null]', '[[]]', '{"a":1}', '[{"$gt":""}]'];
const HUGE_NUMBERS = ['1e309', '-1e309', '1e-400', '-0', '123456789012345678901234567890123456789', '9007199254740993', '1' + '0'.repeat(400)];
const INVALID_NUMBERS = ['NaN', 'Infinity', '-Infinity', '0x10', '01', '.5', '+1', '1.', '1e'];
const INVALID_UTF8 = [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80]];

export class FuzzGenerator {
  private readonly random: () => number;
  private counter = 0;

  constructor(
    seed: number,
    private readonly limits: FuzzLimits,
    private readonly recipient: string,
    /** The direct conversation between the fuzzer and its recipient (v1.1 frames that may name it). */
    private readonly conversationId = 'd:unknown:unknown',
  ) {
    this.random = prng(seed);
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  id(length = this.int(8, 24)): string {
    let out = `${(this.counter++).toString(36)}-`;
    while (out.length < length) out += this.pick([...ID_CHARS]);
    return out.slice(0, 64);
  }
  text(length: number, alphabet: readonly string[] = NASTY): string {
    let out = '';
    for (let i = 0; i < length; i++) out += this.pick(alphabet);
    return out;
  }

  validSend(body = `fuzz body ${this.id()}`): { text: string; messageId: string; body: string } {
    const messageId = this.id();
    return { text: JSON.stringify({ type: 'send', messageId, to: this.recipient, body }), messageId, body };
  }

  /** One case of every kind first, so that every seed covers them all. */
  everyCategory(): FuzzCase[] {
    const limit = this.limits.maxPayloadBytes;
    const max = this.limits.maxDeliveredIds;
    const longestIds = Array.from({ length: max }, () => this.id(64).padEnd(64, 'x'));
    return [
      this.truncated(), this.garbage(), this.deepNesting(), this.hugeNumber(), this.wrongType(), this.arrayForObject(),
      this.operatorObject(), this.operatorString(), this.protoKeys(), this.invalidUtf8(), this.surrogates(), this.nul(),
      this.oversizedBody(), this.binary(), this.unknownType(), this.valid(), this.mutation(),
      ...Array.from({ length: 6 }, () => this.v11()),
      { category: 'oversized frames', data: 'x'.repeat(limit + 1), expect: { kind: 'close', codes: [1009] } },
      { category: 'oversized frames', data: 'x'.repeat(limit * 4 + 1), expect: { kind: 'close', codes: [1006] } },
      { category: `delivered with ${max} ids`, data: JSON.stringify({ type: 'delivered', messageIds: longestIds }), expect: { kind: 'silent' } },
      { category: `delivered with ${max + 1} ids`, data: JSON.stringify({ type: 'delivered', messageIds: [...longestIds.map((id) => id.slice(0, 20)), 'one-more'] }), expect: { kind: 'error', codes: ['too_large'] } },
    ];
  }

  /** One case from a weighted mix of every category. */
  next(): FuzzCase {
    const roll = this.random();
    if (roll < 0.002) return this.oversizedFrame();
    if (roll < 0.006) return this.manyIds();
    const generators = [
      () => this.truncated(),
      () => this.garbage(),
      () => this.deepNesting(),
      () => this.hugeNumber(),
      () => this.wrongType(),
      () => this.arrayForObject(),
      () => this.operatorObject(),
      () => this.operatorString(),
      () => this.protoKeys(),
      () => this.invalidUtf8(),
      () => this.surrogates(),
      () => this.nul(),
      () => this.oversizedBody(),
      () => this.binary(),
      () => this.unknownType(),
      () => this.valid(),
      () => this.mutation(),
      () => this.mutation(),
      () => this.v11(),
    ];
    return this.pick(generators)();
  }

  truncated(): FuzzCase {
    const pick = this.pick([this.validSend().text, JSON.stringify({ type: 'delivered', messageIds: [this.id(), this.id()] }), '{"type":"sync"}']);
    return { category: 'truncated JSON', data: pick.slice(0, this.int(0, pick.length - 1)), expect: { kind: 'error', codes: ['bad_request'] } };
  }

  garbage(): FuzzCase {
    const data = this.pick(['', ' ', 'null', '42', '"send"', 'true', '[]', '{', '}', '{}', '{"type":', '{"type"}']) + this.text(this.int(0, 80));
    return { category: 'invalid JSON', data, expect: { kind: 'error', codes: ['bad_request', 'unknown_type'] } };
  }

  deepNesting(): FuzzCase {
    const depth = this.int(64, Math.floor(this.limits.maxPayloadBytes / 8));
    const arrays = '['.repeat(depth) + ']'.repeat(depth);
    const objects = '{"a":'.repeat(Math.min(depth, Math.floor(this.limits.maxPayloadBytes / 8))) + '1' + '}'.repeat(Math.min(depth, Math.floor(this.limits.maxPayloadBytes / 8)));
    const nested = this.pick([arrays, objects]);
    const data = this.pick([
      nested,
      `{"type":"send","messageId":"${this.id()}","to":"${this.recipient}","body":${nested}}`,
      `{"type":"send","messageId":${nested},"to":"${this.recipient}","body":"x"}`,
      `{"type":"delivered","messageIds":${nested}}`,
      `{"type":${nested}}`,
    ]);
    return { category: 'deep nesting', data, expect: { kind: 'error', codes: ['bad_request'] } };
  }

  hugeNumber(): FuzzCase {
    const number = this.pick([...HUGE_NUMBERS, ...INVALID_NUMBERS]);
    const data = this.pick([
      `{"type":${number}}`,
      `{"type":"send","messageId":${number},"to":"${this.recipient}","body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","to":${number},"body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","to":"${this.recipient}","body":${number}}`,
      `{"type":"delivered","messageIds":[${number}]}`,
      `{"type":"delivered","messageIds":${number}}`,
    ]);
    return { category: 'huge or invalid numbers', data, expect: { kind: 'error', codes: ['bad_request'] } };
  }

  wrongType(): FuzzCase {
    const value = this.pick(WRONG_VALUES);
    const data = this.pick([
      `{"type":${value}}`,
      `{"type":"send","messageId":${value},"to":"${this.recipient}","body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","to":${value},"body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","to":"${this.recipient}","body":${value}}`,
      `{"type":"send","to":"${this.recipient}","body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","to":"${this.recipient}"}`,
      `{"type":"delivered","messageIds":${this.pick(['null', '"id"', '{}', '[]', '[1]', '[null]', '[["a"]]', '[{}]', '[true]'])}}`,
      `{"type":"delivered"}`,
    ]);
    return { category: 'wrong types', data, expect: { kind: 'error', codes: ['bad_request'] } };
  }

  arrayForObject(): FuzzCase {
    const data = this.pick([`[${this.validSend().text}]`, '[]', '[{"type":"sync"}]', `[[${this.validSend().text}]]`, '["type","send"]']);
    return { category: 'array where an object belongs', data, expect: { kind: 'error', codes: ['bad_request'] } };
  }

  operatorObject(): FuzzCase {
    const op = this.pick(OPERATORS);
    const data = this.pick([
      `{"type":${op}}`,
      `{"type":"send","messageId":${op},"to":"${this.recipient}","body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","to":${op},"body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","to":"${this.recipient}","body":${op}}`,
      `{"type":"delivered","messageIds":[${op}]}`,
      `{"type":"delivered","messageIds":${op}}`,
      `{"type":"delivered","messageIds":["${this.id()}",${op}]}`,
    ]);
    return { category: 'operator objects (NoSQL injection)', data, expect: { kind: 'error', codes: ['bad_request'] } };
  }

  /** Operator-looking strings: refused where the field pattern forbids `$`, stored verbatim in a body. */
  operatorString(): FuzzCase {
    const op = this.pick(['$gt', '$where', '$ne', '{"$gt":""}', "'; db.dropDatabase(); '", '$regex', '.*']);
    if (this.chance(0.5)) {
      const send = this.validSend(op);
      return { category: 'operator strings', data: send.text, expect: { kind: 'ack', messageId: send.messageId, to: this.recipient, body: op } };
    }
    const data = this.pick([
      JSON.stringify({ type: 'send', messageId: op, to: this.recipient, body: 'x' }),
      JSON.stringify({ type: 'send', messageId: this.id(), to: op, body: 'x' }),
      JSON.stringify({ type: 'delivered', messageIds: [op] }),
    ]);
    return { category: 'operator strings', data, expect: { kind: 'error', codes: ['bad_request'] } };
  }

  protoKeys(): FuzzCase {
    const messageId = this.id();
    const body = `proto ${messageId}`;
    const key = this.pick(['__proto__', 'constructor', 'prototype']);
    const polluter = `{"polluted":"yes","type":"sync","body":"evil","toString":"x"}`;
    const variants: FuzzCase[] = [
      { category: 'prototype keys', data: `{"${key}":${polluter},"type":"send","messageId":"${messageId}","to":"${this.recipient}","body":"${body}"}`, expect: { kind: 'ack', messageId, to: this.recipient, body } },
      { category: 'prototype keys', data: `{"type":"send","messageId":"${messageId}","to":"${this.recipient}","body":"${body}","__proto__":{"body":"evil","to":"admin"}}`, expect: { kind: 'ack', messageId, to: this.recipient, body } },
      { category: 'prototype keys', data: `{"constructor":{"prototype":${polluter}},"type":"sync"}`, expect: { kind: 'ready' } },
      { category: 'prototype keys', data: `{"__proto__":${polluter}}`, expect: { kind: 'error', codes: ['bad_request'] } },
      { category: 'prototype keys', data: `{"type":"delivered","messageIds":{"__proto__":["${messageId}"],"length":1}}`, expect: { kind: 'error', codes: ['bad_request'] } },
      { category: 'prototype keys', data: `{"type":"${key}"}`, expect: { kind: 'error', codes: ['unknown_type'] } },
    ];
    return this.pick(variants);
  }

  invalidUtf8(): FuzzCase {
    const send = Buffer.from(this.validSend().text);
    const at = this.int(0, send.length);
    const bad = Buffer.from(this.pick(INVALID_UTF8));
    // Invalid UTF-8 in a text frame breaks the WebSocket protocol (RFC 6455 8.1): uWS fails the connection.
    return { category: 'invalid UTF-8', data: Buffer.concat([send.subarray(0, at), bad, send.subarray(at)]), expect: { kind: 'close', codes: [1006, 1007] } };
  }

  surrogates(): FuzzCase {
    const lone = this.pick(['\\ud800', '\\udfff', '\\ud83d', '\\ude00\\ud83d', 'a\\udc00b']);
    if (this.chance(0.2)) {
      const messageId = this.id();
      return {
        category: 'lone surrogates',
        data: `{"type":"send","messageId":"${messageId}","to":"${this.recipient}","body":"pair \\ud83d\\ude00 ok"}`,
        expect: { kind: 'ack', messageId, to: this.recipient, body: 'pair 😀 ok' },
      };
    }
    const data = this.pick([
      `{"type":"send","messageId":"${this.id()}","to":"${this.recipient}","body":"${lone}"}`,
      `{"type":"send","messageId":"${lone}","to":"${this.recipient}","body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","to":"${lone}","body":"x"}`,
      `{"type":"delivered","messageIds":["${lone}"]}`,
    ]);
    return { category: 'lone surrogates', data, expect: { kind: 'error', codes: ['bad_request'] } };
  }

  nul(): FuzzCase {
    const data = this.pick([
      `{"type":"send","messageId":"${this.id()}","to":"${this.recipient}","body":"a\\u0000b"}`,
      `{"type":"send","messageId":"${this.id()}","to":"${this.recipient}","body":"a\u0000b"}`,
      `{"type":"send","messageId":"${this.id()}\\u0000","to":"${this.recipient}","body":"x"}`,
      `{"type":"send","messageId":"${this.id()}","to":"${this.recipient}\\u0000admin","body":"x"}`,
      `{"type":"sync"}\u0000`,
      `\u0000{"type":"sync"}`,
      `{"type":"sync\\u0000"}`,
    ]);
    const expect = data.includes('"sync\\u0000"') ? ['unknown_type'] : ['bad_request'];
    return { category: 'NUL bytes', data, expect: { kind: 'error', codes: expect } };
  }

  oversizedBody(): FuzzCase {
    const { maxMessageBytes, maxPayloadBytes } = this.limits;
    const unit = this.pick(['x', 'é', '€', '😀']);
    const unitBytes = Buffer.byteLength(unit);
    const room = Math.floor((maxPayloadBytes - 200) / unitBytes);
    const count = this.int(Math.floor(maxMessageBytes / unitBytes) + 1, Math.max(Math.floor(maxMessageBytes / unitBytes) + 1, Math.min(room, Math.floor((maxMessageBytes * 2) / unitBytes))));
    const send = this.validSend(unit.repeat(count));
    return { category: 'oversized bodies', data: send.text, expect: { kind: 'error', codes: ['too_large'] } };
  }

  /** Over the frame limit: closed with 1009; far over it (past uWS's 4x headroom) uWS drops the connection (1006). */
  oversizedFrame(): FuzzCase {
    const limit = this.limits.maxPayloadBytes;
    if (this.chance(0.6)) return { category: 'oversized frames', data: 'x'.repeat(this.int(limit + 1, limit * 4)), expect: { kind: 'close', codes: [1009] } };
    return { category: 'oversized frames', data: 'x'.repeat(this.int(limit * 4 + 1, limit * 8)), expect: { kind: 'close', codes: [1006] } };
  }

  binary(): FuzzCase {
    const bytes = this.pick([Buffer.from(this.validSend().text), Buffer.from(Array.from({ length: this.int(0, 200) }, () => this.int(0, 255)))]);
    return { category: 'binary frames', data: bytes, binary: true, expect: { kind: 'error', codes: ['bad_request'] } };
  }

  /** MAX_DELIVERED_IDS ids (of the longest length: they must fit the default frame limit) are accepted; one more is too_large. */
  manyIds(): FuzzCase {
    const max = this.limits.maxDeliveredIds;
    const longest = this.chance(0.5);
    const ids = (n: number) => Array.from({ length: n }, () => (longest ? this.id(64).padEnd(64, 'x') : this.id()));
    if (this.chance(0.5)) return { category: `delivered with ${max} ids`, data: JSON.stringify({ type: 'delivered', messageIds: ids(max) }), expect: { kind: 'silent' } };
    return { category: `delivered with ${max + 1} ids`, data: JSON.stringify({ type: 'delivered', messageIds: ids(max + 1).map((id) => id.slice(0, 20)) }), expect: { kind: 'error', codes: ['too_large'] } };
  }

  unknownType(): FuzzCase {
    const type = this.pick(['subscribe', 'SEND', 'Send', 'send ', ' sync', 'deliver', 'ack', 'message', 'ready', 'error', 'toString', 'hasOwnProperty', 'valueOf', '', this.text(this.int(1, 40), [...ID_CHARS, ' ', '$'])]);
    return { category: 'unknown types', data: JSON.stringify({ type, messageId: this.id(), to: this.recipient, body: 'x' }), expect: { kind: 'error', codes: ['unknown_type'] } };
  }

  valid(): FuzzCase {
    if (this.chance(0.3)) return { category: 'valid frames', data: JSON.stringify({ type: 'sync', junk: [1, { a: null }] }), expect: { kind: 'ready' } };
    if (this.chance(0.2)) return { category: 'valid frames', data: JSON.stringify({ type: 'delivered', messageIds: [this.id()], from: 'admin' }), expect: { kind: 'silent' } };
    const send = this.validSend(this.text(this.int(1, 60), [...NASTY.filter((c) => c !== '\u0000'), 'a', 'b']));
    return { category: 'valid frames', data: send.text, expect: { kind: 'ack', messageId: send.messageId, to: this.recipient, body: send.body } };
  }

  /**
   * Protocol v1.1 frames: `read`, `typing`, `delivered` by watermark, `send` with conversationId.
   * Valid frames name a conversation the fuzzer is not in (not_found: existence does not leak) or its
   * own direct conversation (typing only: relayed to the peer, never answered, a repeat dropped).
   * Malformed ones (negative, fractional, string or operator seqs, operator or over-long conversation
   * ids, both forms of `delivered`, both `to` and `conversationId`) are bad_request.
   */
  v11(): FuzzCase {
    const stranger = this.pick([`g:${this.id()}`, `d:someone:${this.id()}`, 'g:AAAAAAAAAAAAAAAAAAAAAA', this.id()]);
    const seq = this.int(0, 1_000_000);
    const category = 'v1.1 frames';
    const notFound = (data: unknown): FuzzCase => ({ category, data: JSON.stringify(data), expect: { kind: 'error', codes: ['not_found'] } });
    const bad = (data: string): FuzzCase => ({ category, data, expect: { kind: 'error', codes: ['bad_request'] } });
    const badSeq = this.pick(['-1', '1.5', '"1"', 'null', 'true', '[]', '{}', '1e309', '9007199254740992', ...OPERATORS]);
    const badConversation = this.pick([...OPERATORS, '""', '1', 'null', '[]', `"${'c'.repeat(129)}"`, '"has space"', '"\\u0000"', '"$gt"', '"a/b"']);
    const variants: (() => FuzzCase)[] = [
      () => notFound({ type: 'read', conversationId: stranger, seq }),
      () => notFound({ type: 'typing', conversationId: stranger }),
      () => notFound({ type: 'delivered', conversationId: stranger, seq }),
      () => notFound({ type: 'send', messageId: this.id(), conversationId: stranger, body: 'x' }),
      () => ({ category, data: JSON.stringify({ type: 'typing', conversationId: this.conversationId, junk: { $gt: '' } }), expect: { kind: 'maybe', codes: ['not_found'] } }),
      () => bad(`{"type":"read","conversationId":"${stranger}","seq":${badSeq}}`),
      () => bad(`{"type":"delivered","conversationId":"${stranger}","seq":${badSeq}}`),
      () => bad(`{"type":"read","conversationId":${badConversation},"seq":1}`),
      () => bad(`{"type":"typing","conversationId":${badConversation}}`),
      () => bad(`{"type":"delivered","conversationId":${badConversation},"seq":1}`),
      () => bad(`{"type":"send","messageId":"${this.id()}","conversationId":${badConversation},"body":"x"}`),
      () => bad(`{"type":"read","conversationId":"${stranger}"}`),
      () => bad(`{"type":"read","seq":${seq}}`),
      () => bad(`{"type":"typing"}`),
      () => bad(`{"type":"delivered","seq":${seq}}`),
      () => bad(`{"type":"delivered","conversationId":"${stranger}"}`),
      () => bad(`{"type":"delivered","conversationId":"${stranger}","seq":1,"messageIds":["${this.id()}"]}`),
      () => bad(`{"type":"send","messageId":"${this.id()}","to":"${this.recipient}","conversationId":"${stranger}","body":"x"}`),
    ];
    return this.pick(variants)();
  }

  mutation(): FuzzCase {
    let text = this.pick([
      this.validSend().text, JSON.stringify({ type: 'delivered', messageIds: [this.id(), this.id()] }), '{"type":"sync"}',
      JSON.stringify({ type: 'read', conversationId: `g:${this.id()}`, seq: this.int(0, 99) }),
      JSON.stringify({ type: 'delivered', conversationId: `g:${this.id()}`, seq: this.int(0, 99) }),
      JSON.stringify({ type: 'typing', conversationId: `g:${this.id()}` }),
    ]);
    for (let n = this.int(1, 3); n > 0; n--) {
      const at = this.int(0, text.length);
      const op = this.int(0, 2);
      const char = this.pick(NASTY);
      if (op === 0) text = text.slice(0, at) + char + text.slice(at);
      else if (op === 1) text = text.slice(0, at) + text.slice(at + 1);
      else text = text.slice(0, at) + char + text.slice(at + 1);
    }
    return { category: 'random mutations', data: text, expect: { kind: 'any' } };
  }
}
