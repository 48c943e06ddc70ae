// The per-frame id checks (isMessageId, isUserId) are the protocol's regexes by character code: they
// must accept and refuse exactly what MESSAGE_ID_PATTERN and USER_ID_PATTERN do.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMessageId, isUserId, MESSAGE_ID_PATTERN, USER_ID_PATTERN } from '../../src/protocol/ids.js';
import { prng } from '../helpers/prng.js';

// Every ASCII character, some beyond (Latin-1, a lone surrogate, an emoji, a full-width letter).
const ALPHABET = [...Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)), 'é', 'ÿ', '\ud800', '😀', 'Ａ'];

/** Deterministic: the same strings every run (a failure names one). */
function* samples(): Generator<string> {
  const next = prng(12345);
  const random = (n: number) => Math.floor(next() * n);
  for (const c of ALPHABET) yield c;
  for (const n of [0, 1, 63, 64, 65, 128]) yield 'a'.repeat(n);
  for (let k = 0; k < 20_000; k++) {
    const length = random(70);
    let s = '';
    // Mostly valid characters, so long valid ids and a single bad one among good ones both occur.
    for (let i = 0; i < length; i++) s += random(10) === 0 ? ALPHABET[random(ALPHABET.length)] : 'aZ9_-.@'[random(7)];
    yield s;
  }
}

describe('id checks by character code', () => {
  it('isMessageId accepts exactly what MESSAGE_ID_PATTERN does', () => {
    for (const s of samples()) assert.equal(isMessageId(s), MESSAGE_ID_PATTERN.test(s), JSON.stringify(s));
  });
  it('isUserId accepts exactly what USER_ID_PATTERN does', () => {
    for (const s of samples()) assert.equal(isUserId(s), USER_ID_PATTERN.test(s), JSON.stringify(s));
  });
});
