// The memory store's off-heap bodies (src/store/memory/body-arena.ts): every body reads back exactly
// as written, whatever its characters and size, across chunk boundaries, and with big bodies in
// chunks of their own between small ones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyArena, type BodySpan } from '../../src/store/memory/body-arena.js';
import { prng } from '../helpers/prng.js';

const span = (): BodySpan => ({ bodyChunk: -1, bodyAt: -1, bodyBytes: -1 });
// One- to four-byte UTF-8: ASCII, Latin-1, CJK, an emoji (a surrogate pair), and JSON's awkward ones.
const ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '\n', 'é', 'ß', '中', '文', '😀', '👍🏽', '\u2028'];

describe('body arena', () => {
  it('reads back random bodies of 0 to 300 characters, across many small chunks', () => {
    const random = prng(7);
    // 4 KB chunks: every body here shares a chunk (a quarter of one fits 341 characters), and a new
    // chunk starts every dozen bodies or so.
    const arena = new BodyArena(4096);
    const written: [string, BodySpan][] = [];
    for (let i = 0; i < 3000; i++) {
      const length = Math.floor(random() * 300);
      let body = '';
      while (body.length < length) body += ALPHABET[Math.floor(random() * ALPHABET.length)];
      const where = span();
      arena.write(body, where);
      assert.equal(where.bodyBytes, Buffer.byteLength(body), `body ${i}: bytes`);
      written.push([body, where]);
    }
    for (const [i, [body, where]] of written.entries()) assert.equal(arena.read(where), body, `body ${i}`);
  });

  it('keeps a big body in a chunk of its own without breaking the chunk being filled', () => {
    const arena = new BodyArena(1024);
    const before = span();
    arena.write('before', before);
    const big = span();
    const bigBody = '中'.repeat(100_000);
    arena.write(bigBody, big);
    const after = span();
    arena.write('after', after);
    assert.equal(after.bodyChunk, before.bodyChunk, 'small bodies keep filling the same chunk');
    assert.equal(after.bodyAt, before.bodyAt + before.bodyBytes);
    assert.notEqual(big.bodyChunk, before.bodyChunk);
    assert.deepEqual([arena.read(before), arena.read(big), arena.read(after)], ['before', bigBody, 'after']);
  });

  it('reads an empty body back as an empty string', () => {
    const arena = new BodyArena();
    const where = span();
    arena.write('', where);
    assert.equal(where.bodyBytes, 0);
    assert.equal(arena.read(where), '');
  });
});
