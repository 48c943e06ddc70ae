// SERVER_API_KEY comparison (src/auth/server-key.ts): constant time whatever the presented length.
// Structural: the comparison is node:crypto's timingSafeEqual, always over two 32-byte HMAC digests
// (so a length mismatch never short-circuits). Behavioural: only the exact key matches.
import assert from 'node:assert/strict';
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { presentedServerKey, ServerKey } from '../../src/auth/server-key.js';

const KEY = 'a'.repeat(16) + 'B'.repeat(16) + '-0123456789';

describe('ServerKey', () => {
  it('compares with timingSafeEqual over equal-length digests, whatever the presented length', () => {
    const seen: [number, number][] = [];
    const key = new ServerKey(KEY, (a, b) => {
      seen.push([a.length, b.length]);
      return timingSafeEqual(a, b);
    });
    const presented = ['', 'x', KEY.slice(0, -1), KEY, `${KEY}x`, 'z'.repeat(10_000), 'é😀'];
    for (const candidate of presented) key.matches(candidate);
    assert.equal(seen.length, presented.length, 'every candidate is compared, the empty one too');
    assert.ok(seen.every(([a, b]) => a === 32 && b === 32), JSON.stringify(seen));
  });

  it('uses node:crypto timingSafeEqual and HMAC-SHA256 by default, and never === on the key', () => {
    const source = readFileSync(new URL('../../src/auth/server-key.ts', import.meta.url), 'utf8');
    assert.match(source, /import \{[^}]*\btimingSafeEqual\b[^}]*\} from 'node:crypto'/);
    assert.match(source, /equal: DigestEqual = timingSafeEqual/);
    assert.match(source, /createHmac\('sha256'/);
    assert.doesNotMatch(source, /presented\s*===|===\s*presented|key\s*===/);
  });

  it('matches the exact key only', () => {
    const key = new ServerKey(KEY);
    assert.equal(key.matches(KEY), true);
    for (const wrong of ['', KEY.slice(0, -1), `${KEY} `, KEY.toUpperCase(), `${KEY.slice(0, -1)}Y`]) assert.equal(key.matches(wrong), false, wrong);
  });

  it('reads the key from a Bearer Authorization header only', () => {
    assert.equal(presentedServerKey(`Bearer ${KEY}`), KEY);
    assert.equal(presentedServerKey(`bearer  ${KEY} `), KEY);
    assert.equal(presentedServerKey(KEY), '');
    assert.equal(presentedServerKey(`Basic ${KEY}`), '');
    assert.equal(presentedServerKey(''), '');
  });
});
