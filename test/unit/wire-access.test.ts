// The bus's `access` event (bans, revocations) on the wire: encoded and parsed back unchanged, and a
// malformed one (an object where a string or a number belongs) refused like every other kind.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BusEvent } from '../../src/bus/live-bus.js';
import { encodeWireEvent, messagePrefixFor, parseWireEvent } from '../../src/bus/wire.js';

describe('wire: access events', () => {
  it('round-trips bans and revocations', () => {
    const events: BusEvent[] = [
      { kind: 'access', userId: 'mal', bannedAt: 1_700_000_000_000, tokensValidAfter: 0, updatedAt: 1_700_000_000_000 },
      { kind: 'access', userId: 'rev', bannedAt: null, tokensValidAfter: 1_700_000_000_400, updatedAt: 1_700_000_000_400 },
    ];
    for (const event of events) assert.deepEqual(parseWireEvent(encodeWireEvent('o1', messagePrefixFor('o1'), event)), { ...event, origin: 'o1' });
  });

  it('refuses malformed access events', () => {
    const base = { kind: 'access', origin: 'o1', userId: 'u', bannedAt: null, tokensValidAfter: 1, updatedAt: 1 };
    for (const bad of [{ userId: { $ne: null } }, { bannedAt: 'yesterday' }, { tokensValidAfter: '1' }, { updatedAt: null }, { bannedAt: undefined }]) {
      assert.equal(parseWireEvent(JSON.stringify({ ...base, ...bad })), undefined, JSON.stringify(bad));
    }
  });
});
