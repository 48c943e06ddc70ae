// The SDK's reconnect backoff (docs/client.md: "exponential backoff with jitter", initial 250 ms, max
// 15 000 ms, "reset on `ready`"). src/backoff.ts uses "equal jitter": attempt k waits
// ceiling/2 + random·ceiling/2 with ceiling = min(max, initial·2^k), so every delay lies in
// [ceiling/2, ceiling) and is never zero.
//
// The unit tests drive the real Backoff with injected randomness (fixed values and a seeded PRNG);
// one test checks the default Math.random statistically. Two end-to-end tests watch the real client:
// the times of its connection attempts against a port where nothing listens, and the reset after a
// successful connection (`ready` from the real server). Time is only ever bounded from below by the
// delay the client chose, and from above with slack far beyond any scheduling noise.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { Backoff } from '../../src/backoff.js';
import { connect, type ChatClient, type WebSocketConstructor } from '../../src/client/index.js';
import { freePort } from '../helpers/net.js';
import { prng } from '../helpers/prng.js';
import { startTestServer, type TestServer } from '../helpers/server.js';


/** The documented ceiling of attempt k (0-based). */
const ceilingOf = (initial: number, max: number, k: number) => Math.min(max, initial * 2 ** k);

function draws(backoff: Backoff, n: number): number[] {
  return Array.from({ length: n }, () => backoff.next());
}

describe('Backoff (unit, injected randomness)', () => {
  it('grows exponentially from the initial delay: with fixed randomness each delay doubles the last', () => {
    // Guards: the base (initial), the factor 2, and the equal-jitter split. A linear or constant
    // backoff, a factor other than 2, or a first delay not derived from initialDelayMs fails here.
    assert.deepEqual(draws(new Backoff(100, 1_000_000, () => 0), 6), [50, 100, 200, 400, 800, 1600], 'random 0: half the ceiling');
    assert.deepEqual(draws(new Backoff(100, 1_000_000, () => 0.5), 6), [75, 150, 300, 600, 1200, 2400], 'random 0.5: three quarters');
    const nearlyOne = draws(new Backoff(100, 1_000_000, () => 1 - 1e-9), 6);
    nearlyOne.forEach((d, k) => assert.ok(Math.abs(d - 100 * 2 ** k) < 1e-3, `random→1: the full ceiling (${d} at attempt ${k})`));
  });

  it('is capped at the maximum: the ceiling stops at maxDelayMs and stays there', () => {
    // Guards the cap: without Math.min(max, …) delays would pass 1000 from the 5th attempt on.
    assert.deepEqual(draws(new Backoff(100, 1000, () => 0), 8), [50, 100, 200, 400, 500, 500, 500, 500]);
    const high = draws(new Backoff(100, 1000, () => 1 - 1e-9), 8);
    assert.ok(high.every((d) => d < 1000), `never at or above the cap: ${high.join(', ')}`);
    assert.ok(high.slice(4).every((d) => d > 999.99), 'capped attempts reach up to the cap');
    // Long outages: thousands of attempts never overflow past the cap (nor to NaN/Infinity).
    const long = new Backoff(250, 15_000, prng(7));
    for (let i = 0; i < 5000; i++) {
      const d = long.next();
      const c = ceilingOf(250, 15_000, i); // 15 000 from attempt 6 on
      assert.ok(Number.isFinite(d) && d >= c / 2 && d < c, `attempt ${i}: ${d}`);
    }
  });

  it('carries jitter within [ceiling/2, ceiling) on every attempt, spread over that range', () => {
    // Guards the jitter bounds and its presence. Jitter above the ceiling (e.g. ceiling + random·x),
    // "full jitter" that may reach 0, or no jitter at all each break one of the checks below.
    const initial = 250;
    const max = 15_000;
    const attempts = 12; // 0..5 grow, 6.. are capped
    const perAttempt: number[][] = Array.from({ length: attempts }, () => []);
    for (let seed = 1; seed <= 400; seed++) {
      const backoff = new Backoff(initial, max, prng(seed));
      draws(backoff, attempts).forEach((d, k) => perAttempt[k]!.push(d));
    }
    perAttempt.forEach((values, k) => {
      const c = ceilingOf(initial, max, k);
      for (const d of values) assert.ok(d >= c / 2 && d < c, `attempt ${k}: ${d} outside [${c / 2}, ${c})`);
      // Spread: 400 uniform draws cover most of the range (the chance of missing either outer tenth
      // is 2·0.9^400 ≈ 1e-18; the PRNG is seeded, so this is reproducible anyway).
      assert.ok(Math.min(...values) < c / 2 + c / 20, `attempt ${k}: some delay near the floor`);
      assert.ok(Math.max(...values) > c - c / 20, `attempt ${k}: some delay near the ceiling`);
      assert.ok(new Set(values).size > 390, `attempt ${k}: clients of different seeds do not come back in lockstep`);
    });
    // Successive capped attempts of one client differ too (jitter per attempt, not once per client).
    const one = draws(new Backoff(initial, max, prng(99)), 40).slice(10);
    assert.ok(new Set(one).size > 25, `capped attempts of one client vary: ${one.slice(0, 5).join(', ')}…`);
  });

  it('with the default Math.random: within bounds, varied, centred at three quarters of the ceiling', () => {
    // Guards the default (the client constructs Backoff without a random source): a default that
    // is constant (e.g. () => 0.5) or missing fails the spread; a biased one fails the mean.
    // Mean of 2000 uniform draws over [50, 100): 75 ± 0.32 (1 σ); the bounds are ±15 σ.
    const firsts = Array.from({ length: 2000 }, () => new Backoff(100, 10_000).next());
    for (const d of firsts) assert.ok(d >= 50 && d < 100, `first delay ${d} outside [50, 100)`);
    assert.ok(new Set(firsts).size > 1900, 'not all equal');
    const mean = firsts.reduce((a, b) => a + b, 0) / firsts.length;
    assert.ok(mean > 70 && mean < 80, `mean ${mean}`);
    const capped = draws(new Backoff(100, 1000), 2000).slice(10);
    for (const d of capped) assert.ok(d >= 500 && d < 1000, `capped delay ${d} outside [500, 1000)`);
  });

  it('reset() starts over from the initial delay', () => {
    // Guards reset(): the client calls it on `ready`; if it did not zero the attempt count, the next
    // delay after it would still be the capped one.
    const backoff = new Backoff(100, 10_000, () => 0);
    assert.deepEqual(draws(backoff, 5), [50, 100, 200, 400, 800]);
    backoff.reset();
    assert.deepEqual(draws(backoff, 3), [50, 100, 200], 'the sequence repeats from the start');
    draws(backoff, 50); // deep into the capped range
    backoff.reset();
    assert.equal(backoff.next(), 50);
  });
});

/**
 * A `ws` WebSocket class for connect() that records when the client opens each socket. `target`
 * may send an attempt elsewhere (e.g. to a port where nothing listens) by its 1-based number.
 */
function recordingWebSocket(target: (attempt: number, url: string) => string = (_n, url) => url) {
  const attempts: number[] = [];
  const sockets: WebSocket[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const WebSocketClass = class extends WebSocket {
    constructor(url: string, protocols?: string | string[], options?: { headers?: Record<string, string> }) {
      attempts.push(performance.now());
      super(target(attempts.length, url), protocols, options);
      sockets.push(this);
      for (const w of waiters.filter((w) => attempts.length >= w.count)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
    }
  };
  return {
    WebSocket: WebSocketClass as WebSocketConstructor,
    attempts,
    sockets,
    /** Resolves once `count` sockets were opened (fails after timeoutMs). */
    reached(count: number, timeoutMs = 20_000): Promise<void> {
      if (attempts.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${attempts.length} of ${count} connection attempts`)), timeoutMs);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}

const gapsOf = (times: readonly number[]) => times.slice(1).map((t, i) => t - times[i]!);

/** Node timers may fire up to ~1 ms before performance.now() says the delay passed. */
const TIMER_EARLY_MS = 2;

describe('Backoff in the client (end to end)', { timeout: 60_000 }, () => {
  const clients: ChatClient[] = [];
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    for (const client of clients) client.close();
    await t.close();
  });

  it('against a port where nothing listens, the gaps between attempts grow exponentially and stay under the cap', async () => {
    // Guards the wiring of `reconnect: {initialDelayMs, maxDelayMs}` into the client and the use of
    // the backoff on refused connections. Each gap is at least the delay the backoff may choose for
    // that attempt (a client reconnecting at a fixed or linear pace, or at once, fails the lower
    // bounds), and at most the cap plus a second of slack (without the cap the 8th gap would be
    // ≥ 2560 ms).
    const initialDelayMs = 40;
    const maxDelayMs = 320;
    const SLACK_MS = 1000;
    const port = await freePort();
    const rec = recordingWebSocket();
    const client = connect({ url: `ws://127.0.0.1:${port}/ws`, token: 'not-used', WebSocket: rec.WebSocket, reconnect: { initialDelayMs, maxDelayMs } });
    clients.push(client);
    await rec.reached(9);
    client.close();
    const gaps = gapsOf(rec.attempts.slice(0, 9));
    assert.equal(client.state, 'closed');
    gaps.forEach((gap, k) => {
      const c = ceilingOf(initialDelayMs, maxDelayMs, k);
      assert.ok(gap >= c / 2 - TIMER_EARLY_MS, `gap ${k} (${gap.toFixed(1)} ms) is at least half its ceiling ${c} ms; gaps: ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
      assert.ok(gap <= maxDelayMs + SLACK_MS, `gap ${k} (${gap.toFixed(1)} ms) stays under the cap ${maxDelayMs} ms (+${SLACK_MS} ms slack)`);
    });
    // The capped attempts wait at least half the cap: far longer than the first attempt's ceiling.
    for (const gap of gaps.slice(3)) assert.ok(gap >= maxDelayMs / 2 - TIMER_EARLY_MS && gap > initialDelayMs * 3);
  });

  it('after a successful connection (ready, then up resetAfterMs) the next reconnect starts again from the initial delay', async () => {
    // Guards the reset (reconnecting-socket.ts resets the backoff when a socket that stayed up
    // resetAfterMs after its `ready` closes; hostile-server.test.ts checks one that did not). The first 7
    // attempts go to a port where nothing listens, pushing the backoff to its 8th step (ceiling
    // 2560 ms, so ≥ 1280 ms); the 8th reaches the real server. When that connection is cut, a client
    // that reset waits < 20 ms; one that did not waits ≥ 1280 ms. The bound, 1000 ms, is 50 times the
    // expected delay.
    const initialDelayMs = 20;
    const FAILURES = 7;
    const deadPort = await freePort();
    const rec = recordingWebSocket((n, url) => (n <= FAILURES ? `ws://127.0.0.1:${deadPort}/ws` : url));
    const resetAfterMs = 100;
    const client = connect({ url: t.wsUrl, token: await t.token('reset-user'), WebSocket: rec.WebSocket, reconnect: { initialDelayMs, maxDelayMs: 60_000, resetAfterMs } });
    clients.push(client);
    await rec.reached(FAILURES + 1);
    await client.whenReady();
    await new Promise((resolve) => setTimeout(resolve, resetAfterMs + 50)); // up long enough to count as a success
    const before = gapsOf(rec.attempts);
    assert.ok(before[FAILURES - 1]! >= ceilingOf(initialDelayMs, 60_000, FAILURES - 1) / 2 - TIMER_EARLY_MS, `the backoff had grown before the success: ${before.map((g) => g.toFixed(0)).join(', ')}`);

    const cutAt = performance.now();
    rec.sockets[FAILURES]!.terminate();
    await rec.reached(FAILURES + 2, 10_000);
    const wait = rec.attempts[FAILURES + 1]! - cutAt;
    assert.ok(wait >= initialDelayMs / 2 - TIMER_EARLY_MS, `waited ${wait.toFixed(1)} ms: a backoff delay, not at once`);
    assert.ok(wait < 1000, `waited ${wait.toFixed(1)} ms after the cut: the backoff was reset`);
    await client.whenReady();
    client.close();
  });
});
