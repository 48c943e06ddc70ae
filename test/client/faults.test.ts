// Exactly-once through the SDK with faults injected at the socket: the ack-drop scenario (a lost SENT
// ack, a lost confirmation), a connection that goes silent, a server restart under traffic, and a
// soak of random faults. Each time the application must see every message exactly once and in order
// per sender, and the store must hold each message once, delivered once. Runs on every configured
// store (memory; MongoDB when TEST_MONGO_URI is set).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connect, type ChatClient, type ChatMessage, type ConnectOptions, type SentAck } from '../../src/client/index.js';
import type { Store } from '../../src/store/store.js';
import { FaultyNetwork } from '../helpers/faulty-socket.js';
import { freePort } from '../helpers/net.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';

/** Fast reconnects so a test spends its time on faults, not on backoff. */
const QUICK: Partial<ConnectOptions> = { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, confirmDelayMs: 5 };

interface Peer {
  readonly client: ChatClient;
  readonly network: FaultyNetwork;
  readonly inbox: ChatMessage[];
  readonly delivered: string[];
  readyCounts: number[];
}

async function peer(t: TestServer | (() => TestServer), userId: string, options: Partial<ConnectOptions> = {}): Promise<Peer> {
  const server = typeof t === 'function' ? t() : t;
  const network = new FaultyNetwork();
  const token = await server.token(userId, { ttlSec: 3600 });
  const url = server.wsUrl;
  const client = connect({ url, token, WebSocket: network.WebSocket, ...QUICK, ...options });
  const p: Peer = { client, network, inbox: [], delivered: [], readyCounts: [] };
  client.on('message', (m) => p.inbox.push(m));
  client.on('delivered', ({ messageId }) => p.delivered.push(messageId));
  client.on('ready', ({ replayed }) => p.readyCounts.push(replayed));
  return p;
}

/** Resolves when `check` holds, re-checked on every event of the given clients. */
function until(clients: ChatClient[], check: () => boolean, timeoutMs = 20_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const done = (error?: Error) => {
      clearTimeout(timer);
      offs.forEach((off) => off());
      if (error) reject(error);
      else resolve();
    };
    for (const client of clients) {
      for (const event of ['message', 'delivered', 'error', 'state', 'ready'] as const) offs.push(client.on(event, () => check() && done()));
    }
    const timer = setTimeout(() => done(new Error('timed out waiting for a condition')), timeoutMs);
  });
}

/** Syncs until a replay brings nothing: every message to this client is confirmed in the store. */
async function settle(p: Peer): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const seen = p.readyCounts.length;
    await p.client.whenReady();
    p.client.sync();
    await until([p.client], () => p.readyCounts.length > seen);
    if (p.readyCounts[p.readyCounts.length - 1] === 0) return;
  }
  throw new Error('replays never came back empty');
}

function assertExactlyOnceInOrder(inbox: readonly ChatMessage[], from: string, sent: readonly { body: string; ack: SentAck }[]): void {
  const got = inbox.filter((m) => m.from === from);
  assert.equal(new Set(got.map((m) => m.messageId)).size, got.length, `no message from ${from} shown twice`);
  assert.deepEqual(got.map((m) => m.body), sent.map((s) => s.body), `every message from ${from}, in send order`);
  assert.deepEqual(got.map((m) => m.messageId), sent.map((s) => s.ack.messageId));
}

async function assertStoredOnceDeliveredOnce(store: Store, sent: readonly { body: string; ack: SentAck }[], to: string): Promise<void> {
  for (const { body, ack } of sent) {
    const message = await store.getMessage(ack.messageId);
    assert.equal(message?.body, body);
    assert.equal(message?.ts, ack.ts, 'the ack carries the stored ts (also for duplicates)');
    const state = await store.deliveryState(ack.messageId, to);
    assert.equal(state?.status, 'delivered');
    assert.equal(state?.marks, 1);
  }
}

for (const variant of storeVariants()) {
  // A stuck store must fail a test, not hang the suite.
  describe(`SDK under faults (${variant.name} store)`, { timeout: variant.name === 'memory' ? 60_000 : 180_000 }, () => {
    after(() => variant.cleanup());

    it('ack-drop: a lost SENT ack and a lost confirmation cost retries, never a second message or a second showing', async () => {
      const store = await variant.create();
      const t = await startTestServer({ store });
      const a = await peer(t, 'A'); // B is offline
      try {
        await a.client.whenReady();
        // A's SENT ack is lost together with its connection: the SDK reconnects and retries the same id.
        a.network.drop('in', (f) => f.type === 'ack' && f.status === 'SENT', { then: 'kill' });
        const ack = await a.client.send('B', 'Tier-0 ack-drop probe ✓');
        assert.equal(ack.duplicate, true, 'the retry found the stored message');
        const sends = a.network.sent.filter((f) => f.type === 'send');
        assert.deepEqual(sends.map((f) => f.messageId), [ack.messageId, ack.messageId], 'the same messageId, twice');
        assert.equal(a.network.sockets.length, 2);

        // B connects and gets the message; its confirmation is lost with its connection.
        const bob = await peer(t, 'B');
        bob.network.drop('out', (f) => f.type === 'delivered', { then: 'kill' });
        await until([a.client, bob.client], () => a.delivered.includes(ack.messageId));
        assert.equal(bob.inbox.length, 1, 'shown once although delivered twice');
        assert.equal(bob.network.received.filter((f) => f.type === 'message').length, 2, 'the server sent it again after the lost confirmation');
        assert.deepEqual(bob.inbox[0], { messageId: ack.messageId, from: 'A', to: 'B', body: 'Tier-0 ack-drop probe ✓', ts: ack.ts, conversationId: ack.conversationId, seq: 1 });

        // B reconnects once more: nothing is replayed and the store does not change.
        const counts = await store.counts();
        assert.equal(counts.messages, 1);
        assert.equal(counts.persists, 1);
        assert.equal(counts.deliveryMarks, 1);
        const readies = bob.readyCounts.length;
        bob.client.reconnect();
        await until([bob.client], () => bob.readyCounts.length > readies);
        assert.equal(bob.readyCounts.at(-1), 0);
        assert.deepEqual(await store.counts(), counts);
        assert.equal((await store.deliveryState(ack.messageId, 'B'))?.marks, 1);
        bob.client.close();
      } finally {
        a.client.close();
        await t.close();
      }
    });

    it('a connection that goes silent is detected (ack timeout, heartbeat) and replaced; nothing is lost or doubled', async () => {
      const store = await variant.create();
      const t = await startTestServer({ store });
      const a = await peer(t, 'sender', { ackTimeoutMs: 300 });
      const b = await peer(t, 'receiver', { ackTimeoutMs: 300, heartbeatMs: 200 });
      try {
        await Promise.all([a.client.whenReady(), b.client.whenReady()]);
        // The send frame is lost and the connection goes silent both ways.
        a.network.drop('out', (f) => f.type === 'send', { then: 'blackhole' });
        const first = await a.client.send('receiver', 'through the silence');
        assert.equal(first.duplicate, false, 'the first attempt never reached the server');
        assert.equal(a.network.sockets.length, 2);
        // The receiver's connection goes silent while idle: only the heartbeat can notice.
        await until([b.client], () => b.inbox.length === 1);
        b.network.blackholeCurrent();
        const second = await a.client.send('receiver', 'after the receiver went silent');
        await until([b.client], () => b.inbox.length === 2);
        assert.equal(b.network.sockets.length, 2, 'the receiver moved to a new socket');
        assertExactlyOnceInOrder(b.inbox, 'sender', [
          { body: 'through the silence', ack: first },
          { body: 'after the receiver went silent', ack: second },
        ]);
        await settle(b);
        await assertStoredOnceDeliveredOnce(store, [{ body: 'through the silence', ack: first }], 'receiver');
      } finally {
        a.client.close();
        b.client.close();
        await t.close();
      }
    });

    it('a server restart under traffic: every message once, in order per sender, all delivered once', async () => {
      const store = await variant.create();
      const keptOpen = keepOpen(store); // the second server uses the same data (the first would close it)
      // A fixed port, as deployed: a port got from port 0 stays taken while its closing sockets linger.
      const port = await freePort();
      let t = await startTestServer({ store: keptOpen, env: { PORT: String(port) } });
      const current = () => t;
      const senders = await Promise.all(['s1', 's2'].map((user) => peer(current, user)));
      const receiver = await peer(current, 'r');
      const PER_SENDER = 150;
      try {
        await Promise.all([...senders, receiver].map((p) => p.client.whenReady()));
        const sent = new Map<string, { body: string; ack: SentAck }[]>();
        const sending = senders.map(async (s, index) => {
          const list: { body: string; ack: SentAck }[] = [];
          sent.set(`s${index + 1}`, list);
          const pending: Promise<void>[] = [];
          for (let i = 0; i < PER_SENDER; i++) {
            const body = `s${index + 1} #${i}`;
            const slot = { body, ack: undefined as unknown as SentAck };
            list.push(slot);
            pending.push(s.client.send('r', body).then((ack) => void (slot.ack = ack)));
            if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5)); // spread the traffic over the restart
          }
          await Promise.all(pending);
        });
        await until([receiver.client], () => receiver.inbox.length >= PER_SENDER / 2);
        await t.close(); // sockets closed with 1001; sends in flight finish or are refused as unavailable
        t = await startTestServer({ store: keptOpen, env: { PORT: String(port) } });
        await Promise.all(sending);
        await until([receiver.client], () => receiver.inbox.length >= 2 * PER_SENDER);
        for (const [from, list] of sent) assertExactlyOnceInOrder(receiver.inbox, from, list);
        assert.equal(receiver.inbox.length, 2 * PER_SENDER);
        await settle(receiver);
        for (const list of sent.values()) await assertStoredOnceDeliveredOnce(store, list, 'r');
        assert.equal((await store.counts()).messages, 2 * PER_SENDER);
        assert.ok(senders.every((s) => s.network.sockets.length >= 2) && receiver.network.sockets.length >= 2, 'everyone reconnected');
      } finally {
        for (const p of [...senders, receiver]) p.client.close();
        await t.close();
        await store.close();
      }
    });

    it('random faults (cuts, silent connections, lost acks and confirmations) never lose, double or reorder a message', async (ctx) => {
      const store = await variant.create();
      const t = await startTestServer({ store });
      // Short timeouts find silent connections fast, but must stay above the store's write latency, or a
      // slow ack reads as a dead socket (FerretDB's is far above the memory store's).
      const memory = variant.name === 'memory';
      const tight = memory ? { ackTimeoutMs: 400, heartbeatMs: 300 } : { ackTimeoutMs: 8000, heartbeatMs: 2000 };
      const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((user) => peer(t, user, tight)));
      const peers = [a!, b!, c!];
      const PER_SENDER = memory ? 120 : 40;
      const routes: [Peer, string, string][] = [
        [a!, 'A', 'C'],
        [b!, 'B', 'C'],
        [c!, 'C', 'A'],
      ];
      let seed = 42;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const faults = { cut: 0, silent: 0, lostAck: 0, lostConfirm: 0, lostSend: 0 };
      // Faults come while the traffic flows, then the network heals and everything must converge. Their
      // pace follows the store: a fault every few store round trips, or no connection ever gets work done.
      const chaos = setInterval(
        () => {
          const target = peers[Math.floor(random() * peers.length)]!.network;
          const roll = random();
          if (roll < 0.25) (faults.cut++, target.killCurrent());
          else if (roll < 0.35) (faults.silent++, target.blackholeCurrent());
          else if (roll < 0.6) (faults.lostAck++, target.drop('in', (f) => f.type === 'ack' && f.status === 'SENT'));
          else if (roll < 0.85) (faults.lostConfirm++, target.drop('out', (f) => f.type === 'delivered'));
          else (faults.lostSend++, target.drop('out', (f) => f.type === 'send', { then: 'blackhole' }));
        },
        memory ? 40 : 150,
      );
      try {
        const sent = new Map<string, { body: string; ack: SentAck }[]>();
        const pending: Promise<void>[] = [];
        await Promise.all(
          routes.map(async ([p, from, to]) => {
            const list: { body: string; ack: SentAck }[] = [];
            sent.set(from, list);
            for (let i = 0; i < PER_SENDER; i++) {
              const slot = { body: `${from}→${to} #${i}`, ack: undefined as unknown as SentAck };
              list.push(slot);
              pending.push(p.client.send(to, slot.body).then((ack) => void (slot.ack = ack)));
              await new Promise((resolve) => setTimeout(resolve, memory ? 20 : 60)); // ~2.5 s of traffic under faults
            }
          }),
        );
        clearInterval(chaos); // the network heals
        await Promise.all(pending);
        await until([a!.client, c!.client], () => c!.inbox.length >= 2 * PER_SENDER && a!.inbox.length >= PER_SENDER, 60_000);
        for (const [, from, to] of routes) assertExactlyOnceInOrder((to === 'C' ? c! : a!).inbox, from, sent.get(from)!);
        await Promise.all([settle(a!), settle(c!)]);
        for (const [, from, to] of routes) await assertStoredOnceDeliveredOnce(store, sent.get(from)!, to);
        const counts = await store.counts();
        assert.equal(counts.messages, 3 * PER_SENDER);
        assert.equal(counts.deliveryMarks, 3 * PER_SENDER);
        const sockets = peers.reduce((n, p) => n + p.network.sockets.length, 0);
        ctx.diagnostic(`faults injected: ${JSON.stringify(faults)}; sockets opened: ${sockets}`);
        assert.ok(faults.cut + faults.silent + faults.lostSend > (memory ? 10 : 3), 'the soak did break connections');
      } finally {
        clearInterval(chaos);
        for (const p of peers) p.client.close();
        await t.close();
      }
    });
  });
}

/** The same store object with close() turned into a no-op, so a second server can use its data. */
function keepOpen(store: Store): Store {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'close') return async () => {};
      if (key === 'start') return async () => {};
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
