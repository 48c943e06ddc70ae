// The SDK's duplicate filter (docs/client.md: "`message` fires once per `messageId` (a bounded
// memory of `dedupeSize` ids, default 10 000)"). src/client/seen.ts keeps the ids in insertion order
// and forgets the oldest once it holds more than its bound.
//
// The unit tests drive the real SeenIds; the end-to-end tests run the real client against the real
// server (memory store) with a small `dedupeSize`, losing its confirmations at the socket so that the
// server sends the same messages again on `sync`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { connect, type ChatClient, type ChatMessage, type ConnectOptions } from '../../src/client/index.js';
import { SeenIds } from '../../src/client/seen.js';
import { FaultyNetwork } from '../helpers/faulty-socket.js';
import { until } from '../helpers/sdk-events.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('SeenIds (unit)', () => {
  it('never holds more than its bound', () => {
    // Guards the bound: without the eviction in add() the size would reach 50 000.
    for (const max of [1, 3, 10_000]) {
      const seen = new SeenIds(max);
      for (let i = 0; i < 5 * max; i++) {
        seen.add(`id-${i}`, i % 2 === 0);
        assert.ok(seen.size <= max, `bound ${max}: size ${seen.size} after ${i + 1} ids`);
        assert.equal(seen.size, Math.min(i + 1, max));
      }
    }
  });

  it('evicts the oldest id first; recent ids are still recognised, evicted ones no longer', () => {
    // Guards the eviction order: evicting the newest (or a random) id instead would forget a message
    // just shown, and its repeat would be shown again.
    const seen = new SeenIds(3);
    for (const id of ['a', 'b', 'c']) seen.add(id, false);
    assert.ok(['a', 'b', 'c'].every((id) => seen.has(id)), 'up to the bound nothing is forgotten');
    seen.add('d', false);
    assert.equal(seen.has('a'), false, 'the oldest went first');
    assert.ok(['b', 'c', 'd'].every((id) => seen.has(id)), 'the newer ones stay');
    seen.add('e', false);
    assert.equal(seen.has('b'), false, 'then the next oldest');
    assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((id) => seen.has(id)), [false, false, true, true, true]);
    // An evicted id counts as new: added again, it goes in as the newest and pushes out the oldest.
    seen.add('a', false);
    assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((id) => seen.has(id)), [true, false, false, true, true]);
    assert.equal(seen.size, 3);
  });

  it('at the default size: the last 10 000 ids are recognised, every older one is forgotten', () => {
    // Guards the bound at scale (a FIFO cut off at the exact size, not approximately).
    const max = 10_000;
    const seen = new SeenIds(max);
    const total = 35_000;
    for (let i = 0; i < total; i++) seen.add(`m${i}`, true);
    assert.equal(seen.size, max);
    for (let i = 0; i < total; i++) assert.equal(seen.has(`m${i}`), i >= total - max, `m${i}`);
  });

  it('keeps the confirmed flag per id; confirming an unknown or evicted id does not grow it', () => {
    // Guards markConfirmed: it must not re-add an id (that would let memory grow past the bound and
    // resurrect a forgotten id) and a repeat is confirmed again only if the application had confirmed.
    const seen = new SeenIds(2);
    seen.add('x', false);
    assert.equal(seen.isConfirmed('x'), false);
    seen.markConfirmed('x');
    assert.equal(seen.isConfirmed('x'), true);
    seen.add('y', true);
    seen.add('z', false); // evicts x
    assert.equal(seen.has('x'), false);
    assert.equal(seen.isConfirmed('x'), false, 'an evicted id is forgotten with its flag');
    seen.markConfirmed('x');
    seen.markConfirmed('never-seen');
    assert.equal(seen.size, 2);
    assert.equal(seen.has('x'), false);
    assert.equal(seen.has('never-seen'), false);
    assert.deepEqual([seen.isConfirmed('y'), seen.isConfirmed('z')], [true, false]);
  });
});


describe('dedupeSize through the real server (memory store)', { timeout: 60_000 }, () => {
  let t: TestServer;
  const clients: ChatClient[] = [];
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    for (const client of clients) client.close();
    await t.close();
  });

  /**
   * A sender and a recipient (with `dedupeSize`) whose confirmations are lost while `losing` is set:
   * the recipient gets `count` messages live, then a `sync` makes the server send them all again.
   */
  async function repeatAfterLostConfirmations(tag: string, dedupeSize: number, count: number) {
    const network = new FaultyNetwork();
    const state = { losing: true };
    network.drop('out', (f) => f.type === 'delivered' && state.losing, { count: Number.MAX_SAFE_INTEGER });
    const options: Partial<ConnectOptions> = { confirmDelayMs: 5, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } };
    const recipient = connect({ url: t.wsUrl, token: await t.token(`${tag}-to`), WebSocket: network.WebSocket, dedupeSize, ...options });
    const sender = connect({ url: t.wsUrl, token: await t.token(`${tag}-from`), WebSocket, ...options });
    clients.push(recipient, sender);
    const inbox: ChatMessage[] = [];
    const readies: number[] = [];
    recipient.on('message', (m) => inbox.push(m));
    recipient.on('ready', ({ replayed }) => readies.push(replayed));
    await Promise.all([recipient.whenReady(), sender.whenReady()]);

    const sent: string[] = [];
    for (let i = 0; i < count; i++) sent.push((await sender.send(`${tag}-to`, `${tag} #${i}`)).messageId);
    await until(recipient, () => inbox.length >= count);
    const readiesBefore = readies.length;
    recipient.sync(); // the confirmations were lost: the server sends every message again
    await until(recipient, () => readies.length > readiesBefore);
    assert.equal(readies[readies.length - 1], count, 'the server replayed every message (their confirmations were lost)');
    const frames = network.received.filter((f) => f.type === 'message').map((f) => f.messageId as string);
    assert.deepEqual(frames, [...sent, ...sent], 'each message reached the client twice');
    return { recipient, network, inbox, readies, sent, state };
  }

  it('repeats within the bound reach the client and the application sees each message once', async () => {
    // Guards the client's use of its memory: a client that did not consult it (or whose bound were
    // smaller than the number of repeats in flight) would show the repeats again.
    const { recipient, inbox, readies, sent, state } = await repeatAfterLostConfirmations('within', 5, 5);
    assert.deepEqual(inbox.map((m) => m.messageId), sent, 'shown once each, in order');

    // With confirmations flowing again, the next repeat is confirmed (the app had confirmed each) and
    // the server stops sending them; still nothing is shown twice.
    state.losing = false;
    let seenReadies = readies.length;
    recipient.sync();
    await until(recipient, () => readies.length > seenReadies);
    assert.equal(readies[readies.length - 1], 5);
    for (let round = 0; round < 20 && readies[readies.length - 1] !== 0; round++) {
      seenReadies = readies.length;
      recipient.sync();
      await until(recipient, () => readies.length > seenReadies);
    }
    assert.equal(readies[readies.length - 1], 0, 'the repeats were confirmed again: nothing left to replay');
    assert.deepEqual(inbox.map((m) => m.messageId), sent);
  });

  it('past the id bound, seq order still recognises a repeat (v1.1): an id pushed out by newer ones is not shown again', async () => {
    // v1 had a documented limit: "a message left unconfirmed through `dedupeSize` newer ones could be
    // shown again". With v1.1's seq, a repeat at or below a conversation's delivered seq is known as one
    // without its id: 3 unconfirmed messages and an id bound of 2 still show each once.
    const { inbox, sent } = await repeatAfterLostConfirmations('past', 2, 3);
    assert.deepEqual(inbox.map((m) => m.messageId), sent, 'each message once, in order, although the first id was forgotten');
  });
});
