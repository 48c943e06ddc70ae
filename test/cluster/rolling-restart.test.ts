// Issue 15, fault 2: a rolling restart. Each of the three instances in turn gets SIGTERM with
// SHUTDOWN_DRAIN_DELAY_MS: /readyz answers 503 while it still serves, then it closes its listen socket
// (NGINX's next connection to it is refused and goes to another instance), acks what it accepted, and
// closes its sockets with 1001. No client sees any other close code or an error frame; nothing is lost.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { assertNothingLost, reportFigures } from '../reliability/accounting.js';
import { Cluster, clusterSkip, INSTANCES, waitFor } from './cluster.js';

const skip = clusterSkip();
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : randomInt(2 ** 31);

describe('cluster: rolling restart (SIGTERM with SHUTDOWN_DRAIN_DELAY_MS), through NGINX', { skip }, () => {
  it(`restarts all ${INSTANCES} instances one by one; clients see only 1001 closes`, { timeout: 120_000 }, async (t) => {
    const cluster = await Cluster.start('cl_roll', { SHUTDOWN_DRAIN_DELAY_MS: '1000', SHUTDOWN_GRACE_MS: '8000' });
    // No flaky recipients: every close a client sees is the server's doing.
    const load = await cluster.load({ senders: 6, recipients: 6, flakyRecipients: 0, window: 8, ratePerSec: 5, dropConfirmation: 0, seed: SEED });
    const started = Date.now();
    const drains: number[] = [];
    try {
      load.start();
      for (const [i, instance] of cluster.instances.entries()) {
        const acked = load.acked;
        await waitFor(() => load.acked >= acked + 30, 30_000, () => `no progress before restart ${i + 1}\n${cluster.output()}`);
        const stopping = Date.now();
        const exit = await instance.stop('SIGTERM');
        drains.push(Date.now() - stopping);
        assert.equal(exit.code, 0, `instance ${i + 1} exits 0 after SIGTERM: ${JSON.stringify(exit)}\n${instance.output()}`);
        await instance.start();
      }
      const acked = load.acked;
      await waitFor(() => load.acked >= acked + 30, 30_000, () => 'no progress after the last restart');
      const result = await cluster.finish(load);
      const closes = load.closeCodes();
      const otherCloses = Object.entries(closes).filter(([code]) => code !== '1001');
      reportFigures(t, 'cluster-rolling-restart', { seed: SEED, restarts: INSTANCES, drainMs: drains.join('/'), closes: JSON.stringify(closes), seconds: Math.round((Date.now() - started) / 1000) }, result);
      assertNothingLost(result.figures);
      assert.ok((closes[1001] ?? 0) >= INSTANCES, 'clients were told 1001 going away');
      assert.deepEqual(otherCloses, [], 'no close code but 1001');
      assert.equal(result.figures.unavailableAnswers, 0, 'no send refused (unavailable) during the drain');
      assert.equal(result.figures.resentAfterConfirmation, 0, 'sent again after the store marked it delivered');
    } catch (error) {
      console.log(`cluster-rolling-restart failed (RELIABILITY_SEED=${SEED}): ${String(error)}\n${cluster.output()}`);
      throw error;
    } finally {
      load.close();
      await cluster.stop();
    }
  });
});
