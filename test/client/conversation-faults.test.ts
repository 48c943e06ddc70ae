// Seq order and once-each in a group under the SDK's fault injection: lost SENT acks, lost
// confirmations, cut connections and a server restart while two members post into a group and two
// devices of the third receive. Each device must show every message once, in seq order, with no gap,
// and end with nothing left to replay. Every configured store.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { SentAck } from '../../src/client/index.js';
import type { Store } from '../../src/store/store.js';
import { freePort } from '../helpers/net.js';
import { peer, range, seqsIn, settle, until, type Peer } from '../helpers/sdk-peer.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storeVariants } from '../helpers/stores.js';

for (const variant of storeVariants()) {
  describe(`SDK conversations under faults (${variant.name} store)`, { timeout: variant.name === 'memory' ? 60_000 : 180_000 }, () => {
    after(() => variant.cleanup());

    it('lost acks, lost confirmations, cuts and a server restart: every message once, in seq order, on every device', async () => {
      const store = await variant.create();
      const kept = keepOpen(store);
      const port = await freePort();
      let t: TestServer = await startTestServer({ store: kept, env: { PORT: String(port) } });
      const memory = variant.name === 'memory';
      const timing = memory ? { ackTimeoutMs: 1000 } : { ackTimeoutMs: 8000 };
      const ann = await peer(t, 'ann', timing);
      const bob = await peer(t, 'bob', timing);
      const carlPhone = await peer(t, 'carl', { ...timing, device: 'phone' });
      const carlLaptop = await peer(t, 'carl', { ...timing, device: 'laptop' });
      const all: Peer[] = [ann, bob, carlPhone, carlLaptop];
      const PER_SENDER = memory ? 60 : 20;
      try {
        await Promise.all(all.map((p) => p.client.whenReady()));
        const { conversationId } = await ann.client.conversations.create({ title: 'Faults', members: ['bob', 'carl'] });
        const sends: Promise<SentAck>[] = [];
        const post = async (p: Peer, from: string) => {
          for (const i of range(1, PER_SENDER)) {
            sends.push(p.client.send({ conversationId }, `${from} ${i}`));
            if (i === 10) p.network.drop('in', (f) => f.type === 'ack' && f.status === 'SENT', { then: 'kill' }); // a lost ack, with its connection
            if (i === 20) p.network.drop('in', (f) => f.type === 'ack' && f.status === 'SENT', { count: 2 }); // lost acks on a live connection
            await new Promise((resolve) => setTimeout(resolve, memory ? 5 : 30));
          }
        };
        carlPhone.network.drop('out', (f) => f.type === 'delivered', { count: 3 }); // lost confirmations
        carlLaptop.network.drop('out', (f) => f.type === 'delivered', { then: 'kill' }); // a lost confirmation and its connection
        const posting = Promise.all([post(ann, 'ann'), post(bob, 'bob')]);
        await until([carlPhone.client], () => carlPhone.inbox.length >= PER_SENDER / 2, 30_000);
        await t.close(); // a server restart under traffic
        t = await startTestServer({ store: kept, env: { PORT: String(port) } });
        await posting;
        const acks = await Promise.all(sends);
        const total = 2 * PER_SENDER;
        assert.deepEqual(acks.map((a) => a.seq!).sort((x, y) => x - y), range(1, total), 'seqs 1..N, each once');
        for (const device of [carlPhone, carlLaptop]) {
          await until([device.client], () => device.inbox.length >= total, 60_000);
          assert.deepEqual(seqsIn(device.inbox, conversationId), range(1, total), 'every message once, in seq order');
          assert.deepEqual(device.gaps, [], 'no gap: the replay filled every hole');
        }
        for (const [p, other] of [[ann, 'bob'], [bob, 'ann']] as const) {
          await until([p.client], () => p.inbox.length >= PER_SENDER, 60_000);
          const seqs = seqsIn(p.inbox, conversationId);
          assert.equal(new Set(seqs).size, seqs.length, 'once each');
          assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'in seq order');
          assert.ok(p.inbox.every((m) => m.from === other));
        }
        await Promise.all(all.map((p) => settle(p)));
        assert.equal((await store.counts()).messages, total);
        assert.ok(carlPhone.network.sent.some((f) => f.type === 'delivered' && f.conversationId === conversationId), 'watermarks were used');
        assert.ok(all.every((p) => p.network.sockets.length >= 2), 'everyone reconnected');
      } finally {
        for (const p of all) p.client.close();
        await t.close();
        await store.close();
      }
    });
  });
}

/** The same store object with close() turned into a no-op, so a second server can use its data. */
function keepOpen(store: Store): Store {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'close' || key === 'start') return async () => {};
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
