// A burst of sends against the server's default send limits (SEND_RATE_PER_SEC 50, SEND_BURST 100)
// must not trip its abuse close: RATE_LIMITED_CLOSE_AFTER (20) rate_limited answers within 10 s close
// the socket with 1008, and the user's upgrades get 429 for RATE_LIMITED_COOLDOWN_SEC. The SDK bounds
// the sends in flight (`maxInFlight`) and, once refused, paces itself (docs/client.md, "sends").
// Each scenario counts sockets: one per connection the test made, so no 1008 and no refused upgrade.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, type ChatClient, type ClientState, type SentAck } from '../../src/client/index.js';
import { FaultyNetwork } from '../helpers/faulty-socket.js';
import { until } from '../helpers/sdk-events.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The server's defaults (the test server raises them for other tests). */
const DEFAULT_LIMITS = { SEND_RATE_PER_SEC: '50', SEND_BURST: '100' };
const BURST = 300;

function burst(client: ChatClient, tag: string): Promise<SentAck>[] {
  return Array.from({ length: BURST }, (_, i) => client.send('sink', `${tag} ${i}`));
}

async function open(t: TestServer, userId: string) {
  const network = new FaultyNetwork();
  const client = connect({ url: t.wsUrl, token: await t.token(userId), WebSocket: network.WebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
  const states: ClientState[] = [];
  client.on('state', (state) => states.push(state));
  const refusals = () => network.received.filter((f) => f.type === 'error' && f.code === 'rate_limited').length;
  return { client, network, states, refusals };
}

function assertAllStored(acks: readonly SentAck[]): void {
  assert.equal(new Set(acks.map((a) => a.messageId)).size, BURST);
  assert.deepEqual(acks.map((a) => a.seq!).sort((x, y) => x - y), Array.from({ length: BURST }, (_, i) => i + 1), 'each stored once');
}

describe('SDK bursts against the default send limits', { timeout: 90_000 }, () => {
  it(`${BURST} concurrent sends: all SENT on the one socket (no 1008 close, no upgrade refused)`, async (test) => {
    const t = await startTestServer({ env: DEFAULT_LIMITS });
    const p = await open(t, 'burst-live');
    try {
      await p.client.whenReady();
      const started = performance.now();
      const acks = await Promise.all(burst(p.client, 'live'));
      const seconds = (performance.now() - started) / 1000;
      test.diagnostic(`${BURST} sends acked in ${seconds.toFixed(2)} s; ${p.refusals()} rate_limited answers`);
      assertAllStored(acks);
      assert.equal(p.network.sockets.length, 1, `one socket throughout: ${p.states.join(' → ')}`);
      assert.ok(p.refusals() < 20, `${p.refusals()} refusals: under RATE_LIMITED_CLOSE_AFTER`);
      // The server lets 100 through at once and 50/s after: ~4 s is the floor; the SDK paces under it.
      assert.ok(seconds < 15, `took ${seconds.toFixed(2)} s`);
    } finally {
      p.client.close();
      await t.close();
    }
  });

  it('an outbox written again on a new socket behaves the same: made before the first socket, cut half-way', async (test) => {
    const t = await startTestServer({ env: DEFAULT_LIMITS });
    const p = await open(t, 'burst-replayed');
    try {
      const started = performance.now();
      const sends = burst(p.client, 'queued'); // before the first socket opens: the outbox goes out on open
      let acked = 0;
      for (const send of sends) void send.then(() => acked++);
      await until(p.client, () => acked >= BURST / 2, 30_000);
      p.network.killCurrent(); // the unacked rest is written again, in order, on the next socket
      const acks = await Promise.all(sends);
      const seconds = (performance.now() - started) / 1000;
      test.diagnostic(`${BURST} sends acked in ${seconds.toFixed(2)} s over ${p.network.sockets.length} sockets; ${p.refusals()} rate_limited answers`);
      assertAllStored(acks);
      assert.equal(p.network.sockets.length, 2, `the cut one and its replacement: ${p.states.join(' → ')}`);
    } finally {
      p.client.close();
      await t.close();
    }
  });
});
