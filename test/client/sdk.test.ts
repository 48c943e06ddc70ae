// The SDK against the real server (Node 20 with `ws`): send → SENT, live delivery and confirmation →
// DELIVERED, replay on connect, permanent refusals, retries of rate_limited and unavailable in order,
// token renewal before expiry, and giving up on refused credentials.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { signToken } from '../../src/auth/jwt.js';
import { ChatClientError, connect, type ChatClient, type ChatMessage, type ClientErrorEvent, type ClientState } from '../../src/client/index.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { NewMessage } from '../../src/store/store.js';
import { FaultyNetwork } from '../helpers/faulty-socket.js';
import { until } from '../helpers/sdk-events.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Records what the application sees. */
function observe(client: ChatClient) {
  const seen = { messages: [] as ChatMessage[], delivered: [] as string[], errors: [] as ClientErrorEvent[], states: [] as ClientState[], ready: [] as number[] };
  client.on('message', (m) => seen.messages.push(m));
  client.on('delivered', ({ messageId }) => seen.delivered.push(messageId));
  client.on('error', (e) => seen.errors.push(e));
  client.on('state', (s) => seen.states.push(s));
  client.on('ready', ({ replayed }) => seen.ready.push(replayed));
  return seen;
}


describe('client SDK', () => {
  let t: TestServer;
  const clients: ChatClient[] = [];
  const open = async (userId: string, options: Partial<Parameters<typeof connect>[0]> = {}) => {
    const client = connect({ url: t.wsUrl, token: await t.token(userId), WebSocket, ...options });
    clients.push(client);
    return client;
  };
  before(async () => {
    t = await startTestServer({ env: { ACK_DELAY_MAX_MS: '10000' } });
  });
  after(async () => {
    for (const client of clients) client.close();
    await t.close();
  });

  it('sends (resolved on SENT), delivers live exactly once, confirms, and reports DELIVERED to the sender', async () => {
    // Observed as soon as each is opened: alice may be ready while bob's token is being signed.
    const alice = await open('alice');
    const a = observe(alice);
    const bob = await open('bob');
    const b = observe(bob);
    await Promise.all([alice.whenReady(), bob.whenReady()]);
    const ack = await alice.send('bob', 'hello bob');
    assert.equal(ack.duplicate, false);
    assert.ok(ack.ts > 0);
    await until(alice, () => a.delivered.includes(ack.messageId));
    assert.deepEqual(b.messages, [{ messageId: ack.messageId, from: 'alice', to: 'bob', body: 'hello bob', ts: ack.ts, conversationId: ack.conversationId, seq: ack.seq }]);
    const state = await t.store.deliveryState(ack.messageId, 'bob');
    assert.equal(state?.status, 'delivered');
    assert.equal(state?.marks, 1);
    assert.deepEqual(a.states.slice(0, 2), ['open', 'ready'], 'from the initial connecting state');
    assert.equal(alice.pendingSends, 0);
  });

  it('with ackDelayMs (protocol v1.3), a DELIVERED comes with the next send instead of at once', async () => {
    const held = await open('hana', { ackDelayMs: 5000, device: 'held' }); // long: no stall of this machine lets it out early
    const h = observe(held);
    const prompt = await open('hana', { device: 'prompt' });
    const p = observe(prompt);
    const ivan = await open('ivan');
    await Promise.all([held.whenReady(), prompt.whenReady(), ivan.whenReady()]);
    const first = await held.send('ivan', 'one');
    await until(prompt, () => p.delivered.includes(first.messageId)); // ivan confirmed it
    assert.deepEqual(h.delivered, []);
    await held.send('ivan', 'two');
    await until(held, () => h.delivered.includes(first.messageId));
    assert.throws(() => connect({ url: t.wsUrl, token: 'x', WebSocket, ackDelayMs: 1.5 }), /ackDelayMs must be a whole number/);
  });

  it('with batch (protocol v1.4), reads the frames the server joined: a replay, and held ticks with the next SENT', async () => {
    const jill = await open('jill');
    const j = observe(jill);
    await jill.whenReady();
    const sent: string[] = [];
    for (let i = 0; i < 30; i++) sent.push((await jill.send('kurt', `while away ${i}`)).messageId);
    const kurt = await open('kurt', { batch: true, ackDelayMs: 5000 });
    const k = observe(kurt);
    await until(kurt, () => k.ready.length > 0); // (whenReady has no timeout)
    assert.deepEqual(k.ready, [30]);
    assert.deepEqual(k.messages.map((m) => m.messageId), sent);
    await until(jill, () => sent.every((id) => j.delivered.includes(id)));
    // kurt's DELIVERED is held, then joined with its next SENT ack in one text frame.
    const first = await kurt.send('jill', 'one');
    await until(jill, () => j.messages.some((m) => m.messageId === first.messageId));
    await new Promise((resolve) => setTimeout(resolve, 100)); // jill's confirmation is recorded (her SDK waits confirmDelayMs)
    assert.deepEqual(k.delivered, []);
    await kurt.send('jill', 'two');
    await until(kurt, () => k.delivered.includes(first.messageId));
  });

  it('close() writes the confirmations and read marks still queued: a message shown before close is not replayed', async () => {
    const lena = await open('lena');
    await lena.whenReady();
    const ack = await lena.send('mia', 'shown, then closed at once');
    const mia = await open('mia', { device: 'mia-laptop', confirmDelayMs: 60_000 }); // queued far longer than the test runs
    const m = observe(mia);
    await until(mia, () => m.messages.length === 1 && m.ready.length === 1);
    assert.equal(mia.markRead(ack.conversationId!, ack.seq!), true);
    mia.close();
    // No event tells when the server has it: ask the store until it does (2 s at most).
    for (let i = 0; i < 100 && (await t.store.deliveryState(ack.messageId, 'mia'))?.status !== 'delivered'; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await t.store.deliveryState(ack.messageId, 'mia'))?.status, 'delivered', 'the queued confirmation was written before the close');
    const again = await open('mia', { device: 'mia-laptop' });
    const a = observe(again);
    await until(again, () => a.ready.length === 1);
    assert.deepEqual(a.ready, [0], 'nothing replayed to the same device');
    assert.equal((await again.conversations.get(ack.conversationId!)).readSeq, ack.seq, 'the queued read mark was written too');
  });

  it('replays what arrived while offline, in order, then ready with the count', async () => {
    const sender = await open('carl');
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await sender.send('dora', `missed ${i}`));
    const dora = await open('dora');
    const d = observe(dora);
    await dora.whenReady();
    assert.deepEqual(d.ready, [5]);
    assert.deepEqual(d.messages.map((m) => m.body), ['missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4']);
    assert.deepEqual(d.messages.map((m) => m.messageId), sent.map((ack) => ack.messageId));
  });

  it('rejects for good what must not be retried: conflict, bad input, a full outbox, a closed client', async () => {
    const erin = await open('erin', { maxOutbox: 2 });
    await erin.whenReady();
    await erin.send('frank', 'first', { messageId: 'fixed-id-1' });
    const again = await erin.send('frank', 'first', { messageId: 'fixed-id-1' });
    assert.equal(again.duplicate, true, 'the same id and content again is a duplicate, not an error');
    await assert.rejects(erin.send('frank', 'other body', { messageId: 'fixed-id-1' }), (e: ChatClientError) => e.code === 'conflict');
    await assert.rejects(erin.send('not a user!', 'x'), (e: ChatClientError) => e.code === 'bad_request');
    await assert.rejects(erin.send('frank', ''), (e: ChatClientError) => e.code === 'bad_request');
    await assert.rejects(erin.send('frank', 'x'.repeat(20_000)), (e: ChatClientError) => e.code === 'too_large');
    const pending = [erin.send('frank', 'p1'), erin.send('frank', 'p2')];
    await assert.rejects(erin.send('frank', 'p3'), (e: ChatClientError) => e.code === 'outbox_full');
    await Promise.all(pending);
    erin.close();
    assert.equal(erin.state, 'closed');
    await assert.rejects(erin.send('frank', 'late'), (e: ChatClientError) => e.code === 'closed');
  });

  it('drops a repeat by messageId (the message was not confirmed yet) and the app sees it once', async () => {
    const gus = await open('gus', { autoConfirm: false });
    const g = observe(gus);
    await gus.whenReady();
    const sender = await open('hal');
    const h = observe(sender);
    const ack = await sender.send('gus', 'once only');
    await until(gus, () => g.messages.length === 1);
    gus.sync(); // not confirmed yet: the server replays it
    await until(gus, () => g.ready.length === 2);
    assert.deepEqual(g.ready, [0, 1], 'the sync replayed it');
    assert.equal(g.messages.length, 1, 'the replayed repeat is dropped');
    assert.equal((await t.store.deliveryState(ack.messageId, 'gus'))?.status, 'pending');
    gus.confirm(ack.messageId);
    await until(sender, () => h.delivered.includes(ack.messageId));
    assert.equal((await t.store.deliveryState(ack.messageId, 'gus'))?.marks, 1);
  });
});

describe('client SDK: server refusals', () => {
  it('surfaces rate_limited, waits Retry-After, and retries the same ids in order', async () => {
    const t = await startTestServer({ env: { SEND_RATE_PER_SEC: '4', SEND_BURST: '2' } });
    const alice = connect({ url: t.wsUrl, token: await t.token('alice'), WebSocket });
    const bob = connect({ url: t.wsUrl, token: await t.token('bob'), WebSocket });
    try {
      const a = observe(alice);
      const b = observe(bob);
      await Promise.all([alice.whenReady(), bob.whenReady()]);
      const bodies = Array.from({ length: 6 }, (_, i) => `rl ${i}`);
      const acks = await Promise.all(bodies.map((body) => alice.send('bob', body)));
      assert.ok(a.errors.some((e) => e.code === 'rate_limited' && e.willRetry && (e.retryAfter ?? 0) >= 1));
      await until(bob, () => b.messages.length === 6);
      assert.deepEqual(b.messages.map((m) => m.body), bodies, 'received in send order');
      assert.deepEqual(new Set(b.messages.map((m) => m.messageId)).size, 6);
      assert.equal((await t.store.counts()).messages, 6);
      assert.ok(acks.every((ack) => ack.ts > 0));
    } finally {
      alice.close();
      bob.close();
      await t.close();
    }
  });

  it('surfaces unavailable while the store fails and delivers once it is back', async () => {
    class FlakyStore extends MemoryStore {
      failures = 3;
      override async persist(message: NewMessage) {
        if (this.failures-- > 0) throw new Error('connection refused');
        return super.persist(message);
      }
    }
    const store = new FlakyStore();
    const t = await startTestServer({ store });
    const alice = connect({ url: t.wsUrl, token: await t.token('alice'), WebSocket });
    try {
      const a = observe(alice);
      const ack = await alice.send('bob', 'eventually');
      assert.equal(a.errors.filter((e) => e.code === 'unavailable' && e.willRetry).length, 3);
      assert.equal((await store.getMessage(ack.messageId))?.body, 'eventually');
    } finally {
      alice.close();
      await t.close();
    }
  });
});

describe('client SDK: credentials', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('calls a token function at connect and again before expiry, moving to a new socket before the server would close it (4001)', async () => {
    let calls = 0;
    const token = () => (calls++, signToken({ secret: t.config.jwt.secret, userId: 'ivy', ttlSec: 3 }));
    const ivy = connect({ url: t.wsUrl, token, WebSocket, refreshBeforeExpiryMs: 1500 });
    try {
      const i = observe(ivy);
      await ivy.whenReady();
      await until(ivy, () => i.ready.length >= 3, 8000); // ~1.5 s per token: two renewals
      assert.ok(calls >= 3, `token function called ${calls} times`);
      assert.equal(i.errors.length, 0);
      assert.ok(!i.states.includes('closed'));
      assert.ok((await ivy.send('jack', 'still here')).ts > 0);
    } finally {
      ivy.close();
    }
  });

  it('renews a plain token through POST /api/auth/refresh', async () => {
    const short = await signToken({ secret: t.config.jwt.secret, userId: 'kate', ttlSec: 3 });
    const kate = connect({ url: t.wsUrl, token: short, WebSocket, refreshBeforeExpiryMs: 1500 });
    try {
      const k = observe(kate);
      await kate.whenReady();
      await until(kate, () => k.ready.length >= 2, 6000);
      // Past the first token's expiry the client still works: it holds the server-issued one (JWT_TTL).
      const firstExpiry = decodeJwt(short).exp! * 1000;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstExpiry + 200 - Date.now())));
      assert.ok((await kate.send('liam', 'renewed')).ts > 0);
      assert.equal(k.errors.length, 0);
    } finally {
      kate.close();
    }
  });

  it('gives up with an unauthorized error when the server refuses the token and it cannot be renewed', async () => {
    const before = (await t.store.counts()).messages;
    const forged = await signToken({ secret: 'not-the-server-secret', userId: 'mallory', ttlSec: 600 });
    const mallory = connect({ url: t.wsUrl, token: forged, WebSocket });
    const m = observe(mallory);
    const pending = mallory.send('bob', 'never');
    await assert.rejects(pending, (e: ChatClientError) => e.code === 'unauthorized');
    assert.equal(mallory.state, 'closed');
    assert.ok(m.errors.some((e) => e.code === 'unauthorized' && !e.willRetry));
    assert.equal((await t.store.counts()).messages, before);
  });

  it('on close code 4001 (token expired) gets a fresh token and reconnects', async () => {
    let calls = 0;
    const token = () => (calls++, signToken({ secret: t.config.jwt.secret, userId: 'nina', ttlSec: 600 }));
    const network = new FaultyNetwork();
    const nina = connect({ url: t.wsUrl, token, WebSocket: network.WebSocket });
    try {
      const n = observe(nina);
      await nina.whenReady();
      assert.equal(calls, 1);
      network.current!.closeWith(4001, 'token expired');
      await until(nina, () => n.ready.length === 2);
      assert.equal(calls, 2, 'renewed once, on the 4001');
      assert.equal(network.sockets.length, 2);
      assert.deepEqual(n.errors, []);
    } finally {
      nina.close();
    }
  });
});
