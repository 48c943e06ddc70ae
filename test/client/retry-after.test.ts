// The SDK honours the server's `retryAfter`, with jitter (docs/client.md, "refusals"): after a
// rate_limited or unavailable refusal it writes nothing of the refused kind again before retryAfter
// seconds have passed, and a crowd of clients refused at the same moment does not come back in step.
// The wait is drawn in [retryAfter, 2·retryAfter): at least what the server asked, spread over one
// more such window.
//
// The unit test drives the delay function with injected randomness. The end-to-end tests run real
// clients against the real server and read the times at the socket (FaultyNetwork's timeline, nothing
// dropped): when the refusal arrived, and when the client wrote again. Time is bounded from below by
// retryAfter and from above with generous slack; the spread across clients is what jitter adds (without
// it every client comes back within a few ms of the others).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { jitterAbove } from '../../src/backoff.js';
import { connect, type ChatClient } from '../../src/client/index.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { FaultyNetwork, type Frame } from '../helpers/faulty-socket.js';
import { prng } from '../helpers/prng.js';
import { until } from '../helpers/sdk-events.js';
import { startTestServer } from '../helpers/server.js';

/** Node timers may fire up to ~1 ms before performance.now() says the delay passed. */
const TIMER_EARLY_MS = 2;
/** Scheduling noise allowed above the longest wait (2·retryAfter): far beyond what a loaded machine adds. */
const SLACK_MS = 1000;
/** Clients per scenario; with waits uniform over one second, the chance that all ten land within 200 ms is 10·0.2⁹ ≈ 5·10⁻⁶. */
const CLIENTS = 10;
const MIN_SPREAD_MS = 200;

const at = (network: FaultyNetwork, direction: 'in' | 'out', match: (frame: Frame) => boolean, after = -Infinity): number | undefined =>
  network.timeline.find((entry) => entry.direction === direction && entry.at >= after && match(entry.frame))?.at;

const spread = (values: readonly number[]) => Math.max(...values) - Math.min(...values);

describe('jitterAbove (unit, injected randomness)', () => {
  it('waits at least the floor and less than twice it, spread over that window', () => {
    assert.equal(jitterAbove(1000, () => 0), 1000, 'never less than what the server asked');
    assert.equal(jitterAbove(1000, () => 0.5), 1500);
    assert.ok(jitterAbove(1000, () => 1 - 1e-9) < 2000);
    const random = prng(11);
    const waits = Array.from({ length: 1000 }, () => jitterAbove(3000, random));
    assert.ok(waits.every((w) => w >= 3000 && w < 6000), 'within [floor, 2·floor)');
    assert.ok(Math.min(...waits) < 3100 && Math.max(...waits) > 5900, 'covering the window');
  });
});

describe('retryAfter with jitter, end to end', { timeout: 60_000 }, () => {
  it('a rate_limited send is written again no earlier than retryAfter, and the clients come back spread out', async (test) => {
    // One send per second per user, no burst: each client's second send is refused with retryAfter 1.
    const t = await startTestServer({ env: { SEND_RATE_PER_SEC: '1', SEND_BURST: '1' } });
    const peers = Array.from({ length: CLIENTS }, () => ({ network: new FaultyNetwork(), client: undefined as unknown as ChatClient }));
    try {
      for (const [i, p] of peers.entries()) p.client = connect({ url: t.wsUrl, token: await t.token(`rl-${i}`), WebSocket: p.network.WebSocket });
      await Promise.all(peers.map((p) => p.client.whenReady()));
      const acks = await Promise.all(peers.map((p) => Promise.all([p.client.send('sink', 'first'), p.client.send('sink', 'second')])));

      const waits: number[] = [];
      const resentAt: number[] = [];
      for (const [i, p] of peers.entries()) {
        const second = acks[i]![1].messageId;
        const refusal = p.network.timeline.find((e) => e.direction === 'in' && e.frame.type === 'error' && e.frame.messageId === second);
        assert.ok(refusal, `client ${i}: the second send was refused`);
        assert.equal(refusal.frame.code, 'rate_limited');
        const retryAfterMs = Number(refusal.frame.retryAfter) * 1000;
        assert.equal(retryAfterMs, 1000, 'the server asked for one second');
        const again = at(p.network, 'out', (f) => f.type === 'send' && f.messageId === second, refusal.at);
        assert.ok(again !== undefined, `client ${i}: written again`);
        const wait = again - refusal.at;
        assert.ok(wait >= retryAfterMs - TIMER_EARLY_MS, `client ${i} wrote again after ${wait.toFixed(1)} ms, before retryAfter ${retryAfterMs} ms`);
        assert.ok(wait < 2 * retryAfterMs + SLACK_MS, `client ${i} waited ${wait.toFixed(1)} ms: within [retryAfter, 2·retryAfter) plus slack`);
        assert.equal(p.network.sent.filter((f) => f.type === 'send' && f.messageId === second).length, 2, 'refused once, accepted the second time');
        waits.push(wait);
        resentAt.push(again);
      }
      const shown = waits.map((w) => w.toFixed(0)).join(', ');
      test.diagnostic(`waits after the refusal: ${shown} ms`);
      assert.ok(spread(waits) >= MIN_SPREAD_MS, `the waits are jittered, not all retryAfter: ${shown} ms`);
      assert.ok(spread(resentAt) >= MIN_SPREAD_MS, `the clients did not come back in one instant (waits ${shown} ms)`);
    } finally {
      for (const p of peers) p.client?.close();
      await t.close();
    }
  });

  it('after a confirmation the store could not record (unavailable), the client asks again no earlier than the wait, spread out', async (test) => {
    // The first confirmation of each recipient fails in the store; the server answers `unavailable`
    // without a messageId (a `delivered` frame carries none), and without retryAfter the SDK waits at
    // least 1 s. Then it syncs: the replay brings the message back and it is confirmed again.
    // By id or (v1.1) by watermark, whichever form the SDK uses: the first one fails.
    class FirstConfirmFails extends MemoryStore {
      readonly failed = new Set<string>();
      private firstFails(userId: string): void {
        if (this.failed.has(userId)) return;
        this.failed.add(userId);
        throw new Error('store overloaded');
      }
      override async confirmIds(userId: string, deviceId: string, messageIds: readonly string[]) {
        this.firstFails(userId);
        return super.confirmIds(userId, deviceId, messageIds);
      }
      override async confirmUpTo(userId: string, deviceId: string, conversationId: string, seq: number) {
        this.firstFails(userId);
        return super.confirmUpTo(userId, deviceId, conversationId, seq);
      }
    }
    const store = new FirstConfirmFails();
    const t = await startTestServer({ store });
    const sender = connect({ url: t.wsUrl, token: await t.token('confirm-sender'), WebSocket });
    const peers = Array.from({ length: CLIENTS }, () => ({ network: new FaultyNetwork(), client: undefined as unknown as ChatClient }));
    try {
      for (const [i, p] of peers.entries()) p.client = connect({ url: t.wsUrl, token: await t.token(`rcpt-${i}`), WebSocket: p.network.WebSocket, confirmDelayMs: 5 });
      await Promise.all([sender.whenReady(), ...peers.map((p) => p.client.whenReady())]);
      const delivered = new Set<string>();
      sender.on('delivered', ({ messageId }) => delivered.add(messageId));
      const acks = await Promise.all(peers.map((_, i) => sender.send(`rcpt-${i}`, `to ${i}`)));
      await until(sender, () => acks.every((ack) => delivered.has(ack.messageId)), 20_000);

      const waits: number[] = [];
      const againAt: number[] = [];
      for (const [i, p] of peers.entries()) {
        const refusal = p.network.timeline.find((e) => e.direction === 'in' && e.frame.type === 'error');
        assert.ok(refusal, `recipient ${i}: its confirmation was refused`);
        assert.equal(refusal.frame.code, 'unavailable');
        assert.equal(refusal.frame.messageId, undefined);
        const floorMs = (typeof refusal.frame.retryAfter === 'number' ? refusal.frame.retryAfter : 1) * 1000;
        const again = at(p.network, 'out', () => true, refusal.at);
        assert.ok(again !== undefined, `recipient ${i}: wrote again`);
        const wait = again - refusal.at;
        assert.ok(wait >= floorMs - TIMER_EARLY_MS, `recipient ${i} wrote again after ${wait.toFixed(1)} ms, before the ${floorMs} ms wait`);
        assert.ok(wait < 2 * floorMs + SLACK_MS, `recipient ${i} waited ${wait.toFixed(1)} ms`);
        waits.push(wait);
        againAt.push(again);
        assert.equal((await store.deliveryState(acks[i]!.messageId, `rcpt-${i}`))?.marks, 1, 'marked once, by the second confirmation');
      }
      const shown = waits.map((w) => w.toFixed(0)).join(', ');
      test.diagnostic(`waits after the refusal: ${shown} ms`);
      assert.ok(spread(waits) >= MIN_SPREAD_MS, `the waits are jittered: ${shown} ms`);
      assert.ok(spread(againAt) >= MIN_SPREAD_MS, `the recipients did not come back in one instant (waits ${shown} ms)`);
    } finally {
      sender.close();
      for (const p of peers) p.client?.close();
      await t.close();
    }
  });
});
