// Slow and stuck consumers on the Mongo store: recipients that read nothing are closed at the
// backpressure limit (1013) instead of being buffered for, a recipient that reads in short bursts
// keeps up or is closed and catches up by replay, and the server's memory stays bounded (RSS printed
// before, at the peak, and after). Every message is then replayed to its recipient, in order.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { dropDatabases } from '../helpers/mongo.js';
import { TestClient } from '../helpers/ws-client.js';
import { scaled, withTimeout } from './load-client.js';
import { faultMongoUri, freshDbUri, RestartableServer, signTokens } from './server-process.js';

const mongo = faultMongoUri();
const BODY_BYTES = 60_000;
const STUCK = scaled(5);
/** Most messages sent to one stuck reader (~24 MiB): the server must have closed it long before. */
const MAX_PER_READER = 400;
const SLOW_MESSAGES = 40;
const WARM_UP = 200;
const BACKPRESSURE = 256 * 1024;

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) / 1024;
}

const socketOf = (client: TestClient) => (client.ws as unknown as { _socket: Socket })._socket;

/** Sends and waits for the SENT ack (or an error), with room for a slow shared store. */
async function send(client: TestClient, messageId: string, to: string, body: string) {
  client.send({ type: 'send', messageId, to, body });
  return client.next((f) => f.messageId === messageId && (f.type === 'error' || f.status === 'SENT'), 30_000);
}

describe('slow and stuck consumers (Mongo store)', { skip: mongo.skip }, () => {
  it(`closes ${STUCK} stuck readers at the backpressure limit with bounded memory, and replays everything to them`, { timeout: 600_000 }, async (t) => {
    const { dbName, dbUri } = freshDbUri(mongo.uri!, 'rel_slow');
    const server = await RestartableServer.create(dbUri, {
      MAX_MESSAGE_BYTES: '65536',
      WS_MAX_BACKPRESSURE_BYTES: String(BACKPRESSURE),
    });
    const stuckIds = Array.from({ length: STUCK }, (_, i) => `stuck${i}`);
    const tokens = await signTokens([...stuckIds, 'slow0', 'reader', 'sender0', 'sender1', 'sender2', 'sender3']);
    const clients: TestClient[] = [];
    const timers: NodeJS.Timeout[] = [];
    try {
      await server.start();
      const pid = server.process!.child.pid!;
      const senders = await Promise.all([0, 1, 2, 3].map(async (i) => (await TestClient.connectReady(server.wsUrl, tokens.get(`sender${i}`)!)).client));
      clients.push(...senders);
      // Warm up: the same traffic to a reader that keeps up, so the baseline is the server's working
      // size (heap grown, driver pools full), not a cold start.
      const { client: reader } = await TestClient.connectReady(server.wsUrl, tokens.get('reader')!);
      clients.push(reader);
      for (let i = 0; i < WARM_UP; i += senders.length) {
        await Promise.all(senders.map((sender, k) => send(sender, `warm-${i + k}`, 'reader', 'x'.repeat(BODY_BYTES))));
      }
      await reader.next((f) => f.messageId === `warm-${WARM_UP - 1}`, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const rssBefore = rssMiB(pid);

      const stuck = await Promise.all(stuckIds.map(async (id) => (await TestClient.connectReady(server.wsUrl, tokens.get(id)!)).client));
      clients.push(...stuck);
      for (const client of stuck) socketOf(client).pause(); // reads nothing from now on
      const { client: slow } = await TestClient.connectReady(server.wsUrl, tokens.get('slow0')!);
      clients.push(slow);
      const burst = setInterval(() => {
        // Reads for 5 ms every 250 ms: far slower than the messages arrive.
        socketOf(slow).resume();
        setTimeout(() => socketOf(slow).pause(), 5);
      }, 250);
      timers.push(burst);

      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
      timers.push(sampler);
      const expected = new Map<string, string[]>([...stuckIds, 'slow0'].map((id) => [id, []]));
      const body = (id: string) => `${id} ${'y'.repeat(BODY_BYTES - id.length - 1)}`;
      const slowConsumerCloses = async () => {
        const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
        return Number(/^chat_ws_closes_total\{reason="slow_consumer"\} (\d+)/m.exec(text)?.[1] ?? 0);
      };
      // Kernel socket buffers take several MiB before the server sees any backpressure: keep sending
      // to the stuck readers until the server has closed them all (bounded by MAX_PER_READER each).
      let n = 0;
      let closed = 0;
      for (let round = 0; closed < STUCK && round < MAX_PER_READER; round++) {
        const targets = round < SLOW_MESSAGES ? [...stuckIds, 'slow0'] : stuckIds;
        await Promise.all(
          targets.map((to) => {
            const sender = senders[n % senders.length]!;
            const messageId = `bp-${n++}`;
            expected.get(to)!.push(messageId);
            return send(sender, messageId, to, body(messageId)).then((frame) => assert.equal(frame.status, 'SENT', JSON.stringify(frame)));
          }),
        );
        if (round % 10 === 9) closed = await slowConsumerCloses();
      }
      closed = await slowConsumerCloses();
      const sentMiB = (n * BODY_BYTES) / 1024 / 1024;
      assert.ok(closed >= STUCK, `${closed} slow-consumer closes for ${STUCK} stuck readers after ${sentMiB.toFixed(0)} MiB`);
      clearInterval(sampler);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const rssAfter = rssMiB(pid);

      // Reconnect every reader: the replay brings every message, in send order.
      clearInterval(burst);
      for (const client of [...stuck, slow]) {
        socketOf(client).resume();
        await withTimeout(client.terminate(), 5000, 'closing a stuck client');
      }
      for (const [id, ids] of expected) {
        const { client, replayed } = await TestClient.connectReady(server.wsUrl, tokens.get(id)!);
        clients.push(client);
        const seen = new Set(slow.frames.filter((f) => f.type === 'message').map((f) => String(f.messageId)));
        if (id === 'slow0') {
          // What it read live plus what is replayed: everything; the replay keeps the order.
          const all = new Set([...seen, ...replayed.map((f) => String(f.messageId))]);
          assert.deepEqual([...ids].filter((m) => !all.has(m)), [], 'slow0 got every message');
        } else {
          assert.deepEqual(replayed.map((f) => f.messageId), ids, `${id} replay`);
        }
        assert.ok(replayed.every((f) => f.body === body(String(f.messageId))));
      }

      const line = `slow-consumers: ${STUCK} stuck + 1 slow reader, ${n} messages of ${BODY_BYTES} B (${sentMiB.toFixed(0)} MiB) to them; backpressure limit ${BACKPRESSURE / 1024} KiB; server RSS before ${rssBefore.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB (+${(peak - rssBefore).toFixed(0)}), after ${rssAfter.toFixed(0)} MiB (+${(rssAfter - rssBefore).toFixed(0)})`;
      console.log(line);
      t.diagnostic(line);
      // Bounded: the server never held the stuck readers' messages (it closed them at 256 KiB each).
      assert.ok(peak - rssBefore < sentMiB, `peak RSS growth ${(peak - rssBefore).toFixed(0)} MiB for ${sentMiB.toFixed(0)} MiB sent`);
    } catch (error) {
      console.log(`slow-consumers failed: ${String(error)}\nserver output:\n${server.output()}`);
      throw error;
    } finally {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(clients.map((client) => withTimeout(client.terminate(), 5000, 'terminate').catch(() => {})));
      await server.stop('SIGTERM');
      await withTimeout(dropDatabases(mongo.uri!, [dbName]), 15_000, 'dropping the test database').catch(() => {});
    }
  });
});
