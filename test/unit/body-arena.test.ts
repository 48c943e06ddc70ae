// The memory store's off-heap bodies (src/store/memory/body-arena.ts): every body reads back exactly
// as written, whatever its characters and size, across chunk boundaries, and with big bodies in
// chunks of their own between small ones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyArena, SPAN_INTS } from '../../src/store/memory/body-arena.js';
import { prng } from '../helpers/prng.js';

/** A span at offset 1 of its array, its neighbours set to catch a write outside its three numbers. */
const span = (): Int32Array => Int32Array.of(-7, -1, -1, -1, -7);
const AT = 1;
const chunkOf = (where: Int32Array) => where[AT]!;
const firstByte = (where: Int32Array) => where[AT + 1]!;
const bytesOf = (where: Int32Array) => where[AT + 2]!;
const untouched = (where: Int32Array) => where[0] === -7 && where[AT + SPAN_INTS] === -7;
// One- to four-byte UTF-8: ASCII, Latin-1, CJK, an emoji (a surrogate pair), and JSON's awkward ones.
const ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '\n', 'é', 'ß', '中', '文', '😀', '👍🏽', '\u2028'];

describe('body arena', () => {
  it('reads back random bodies of 0 to 300 characters, across many small chunks', () => {
    const random = prng(7);
    // 4 KB chunks: every body here shares a chunk (a quarter of one fits 341 characters), and a new
    // chunk starts every dozen bodies or so.
    const arena = new BodyArena(4096);
    const written: [string, Int32Array][] = [];
    for (let i = 0; i < 3000; i++) {
      const length = Math.floor(random() * 300);
      let body = '';
      while (body.length < length) body += ALPHABET[Math.floor(random() * ALPHABET.length)];
      const where = span();
      arena.write(body, where, AT);
      assert.equal(bytesOf(where), Buffer.byteLength(body), `body ${i}: bytes`);
      assert.ok(untouched(where), `body ${i}: only its span written`);
      written.push([body, where]);
    }
    for (const [i, [body, where]] of written.entries()) assert.equal(arena.read(where, AT), body, `body ${i}`);
  });

  it('keeps a big body in a chunk of its own without breaking the chunk being filled', () => {
    const arena = new BodyArena(1024);
    const before = span();
    arena.write('before', before, AT);
    const big = span();
    const bigBody = '中'.repeat(100_000);
    arena.write(bigBody, big, AT);
    const after = span();
    arena.write('after', after, AT);
    assert.equal(chunkOf(after), chunkOf(before), 'small bodies keep filling the same chunk');
    assert.equal(firstByte(after), firstByte(before) + bytesOf(before));
    assert.notEqual(chunkOf(big), chunkOf(before));
    assert.deepEqual([arena.read(before, AT), arena.read(big, AT), arena.read(after, AT)], ['before', bigBody, 'after']);
  });

  it('reads an empty body back as an empty string', () => {
    const arena = new BodyArena();
    const where = span();
    arena.write('', where, AT);
    assert.equal(bytesOf(where), 0);
    assert.ok(untouched(where));
    assert.equal(arena.read(where, AT), '');
  });
});
