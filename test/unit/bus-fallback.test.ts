// The store fallback while the live bus is down (src/chat/bus-fallback.ts). What was stored during an
// outage is never published to this instance, so the passes after the bus is back must read the store
// after the outage's last message: a pass already running when the bus comes back may have read a
// connection before that message was stored, and must not stand in for the pass the reconnect asks for.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { BusFallback, PEER_COALESCE_MS } from '../../src/chat/bus-fallback.js';
import type { DeliverySession } from '../../src/chat/delivery-session.js';
import { silentLogger } from '../../src/log.js';

const POLL_MS = 40;
const openSession = () => ({ connection: { open: true } }) as unknown as DeliverySession;

async function until(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 3000; !condition(); await sleep(5)) if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
}

describe('BusFallback', () => {
  it('catches up after the bus is back even when a pass was running then, and once more a poll interval later', async () => {
    let stored = 0;
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const reads: { stored: number }[] = [];
    // One connection, as the router gives it each round: its catch-up running at the reconnect must be
    // followed by another of the same connection.
    const session = openSession();
    const fallback = new BusFallback(POLL_MS, () => [session], async () => {
      reads.push({ stored });
      if (reads.length === 1) await firstHeld; // the poll catch-up is still running when the bus comes back
    }, silentLogger());
    try {
      fallback.health(false);
      await until(() => reads.length === 1, 'the first poll catch-up');
      stored = 1; // the outage's last message: stored after that read, and never published here
      fallback.health(true);
      // Started in the turn the fallback set its timer for the last catch-up (a poll interval): this
      // half-interval timer fires first on the same clock (Date.now() against a timer's time is off by
      // the loop's lag, which a loaded machine made larger than a few ms).
      const readsAtHalfInterval = sleep(POLL_MS / 2).then(() => reads.length);
      releaseFirst();
      await until(() => reads.length >= 2, 'a catch-up after the reconnect');
      assert.equal(reads[1]!.stored, 1, 'the catch-up after the reconnect read the outage\'s last message');
      assert.ok((await readsAtHalfInterval) <= 2, 'the last catch-up waits a poll interval');
      await until(() => reads.length >= 3, 'a catch-up a poll interval after the reconnect');
      const settled = reads.length;
      await sleep(POLL_MS * 5);
      assert.equal(reads.length, settled, 'then no more polling: the bus delivers');
      assert.ok(settled <= 3, `passes after the reconnect: ${settled - 1}`);
    } finally {
      fallback.close();
    }
  });

  it('keeps polling every other connection while one connection\'s catch-up is stuck, and catches that one up once more after', async () => {
    const stuck = openSession();
    const other = openSession();
    let releaseStuck!: () => void;
    const stuckHeld = new Promise<void>((resolve) => (releaseStuck = resolve));
    const reads = new Map([[stuck, 0], [other, 0]]);
    const fallback = new BusFallback(10, () => [stuck, other], async (session) => {
      reads.set(session, reads.get(session)! + 1);
      if (session === stuck && reads.get(stuck) === 1) await stuckHeld; // a store read behind a busy database
    }, silentLogger());
    try {
      fallback.health(false);
      await until(() => reads.get(other)! >= 5, 'the other connection caught up every interval');
      assert.equal(reads.get(stuck), 1, 'the stuck connection is not caught up twice at once');
      releaseStuck();
      await until(() => reads.get(stuck)! >= 2, 'the stuck connection caught up again after its slow catch-up');
    } finally {
      fallback.close();
    }
  });

  it('catches every connection up once for any number of other instances\' links coming back at once', async () => {
    const sessions = [openSession(), openSession()];
    let passes = 0;
    const fallback = new BusFallback(1000, () => sessions, async () => void passes++, silentLogger());
    try {
      fallback.health(true); // this instance's own link is fine: no polling
      for (let i = 0; i < 50; i++) fallback.peerBack(Date.now() - 6000); // a thawed NATS: every instance says so
      await until(() => passes >= 2, 'a catch-up of each connection');
      await sleep(PEER_COALESCE_MS * 3);
      assert.equal(passes, 2, 'one round for all of them');
      fallback.peerBack(Date.now());
      await until(() => passes >= 4, 'a later link coming back: another round');
    } finally {
      fallback.close();
    }
  });

  it('polls every interval while the bus is down, one catch-up per connection at a time', async () => {
    let inFlight = 0;
    let most = 0;
    let passes = 0;
    const session = openSession();
    const fallback = new BusFallback(10, () => [session], async () => {
      passes++;
      most = Math.max(most, ++inFlight);
      await sleep(35); // slower than the interval
      inFlight--;
    }, silentLogger());
    try {
      fallback.health(false);
      await until(() => passes >= 3, 'three passes while the bus is down');
      assert.equal(most, 1, 'one catch-up of a connection at a time');
    } finally {
      fallback.close();
    }
  });
});
