// Issue 15, fault 1: one of three instances behind NGINX is killed (SIGKILL) under load, several
// times, and restarted. Its clients reconnect through NGINX (which skips the dead instance) to the
// others; senders retry unacked messages with the same messageId. Then the crash-under-load accounting:
// nothing lost, stored twice, marked twice, or sent again after its confirmation.
//   TEST_MONGO_URI=mongodb://127.0.0.1:27017/ node --import tsx --test test/cluster/kill-instance.test.ts
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { assertNothingLost, reportFigures } from '../reliability/accounting.js';
import { prng } from '../reliability/fuzz-cases.js';
import { Cluster, clusterSkip, hold, waitFor } from './cluster.js';

const skip = clusterSkip();
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : randomInt(2 ** 31);
const KILLS = Number(process.env.CLUSTER_KILLS ?? '3');

describe('cluster: SIGKILL one of three instances under load, through NGINX', { skip }, () => {
  let resentAfterConfirmation: number | undefined;
  it(`loses nothing across ${KILLS} kills`, { timeout: 120_000 }, async (t) => {
    const cluster = await Cluster.start('cl_kill');
    const random = prng(SEED);
    const load = await cluster.load({ senders: 6, recipients: 6, flakyRecipients: 2, window: 8, ratePerSec: 5, dropConfirmation: 0.1, seed: SEED });
    const started = Date.now();
    const killed: number[] = [];
    try {
      load.start();
      for (let i = 0; i < KILLS; i++) {
        const acked = load.acked;
        await waitFor(() => load.acked >= acked + 30, 30_000, () => `no progress before kill ${i + 1}\n${cluster.output()}`);
        // The instance holding the most connections at that moment, so that clients have to move.
        const connections = await cluster.connectionsPerInstance();
        const victim = connections.indexOf(Math.max(...connections));
        killed.push(victim + 1);
        const exit = await cluster.instances[victim]!.stop('SIGKILL');
        assert.equal(exit.signal, 'SIGKILL');
        await hold(500 + random() * 1000);
        await cluster.instances[victim]!.start();
      }
      const acked = load.acked;
      await waitFor(() => load.acked >= acked + 30, 30_000, () => 'no progress after the last restart');
      const result = await cluster.finish(load);
      const closes = load.closeCodes();
      reportFigures(t, 'cluster-kill', { seed: SEED, kills: KILLS, killed: killed.join('/'), closes1006: closes[1006] ?? 0, seconds: Math.round((Date.now() - started) / 1000) }, result);
      resentAfterConfirmation = result.figures.resentAfterConfirmation;
      assertNothingLost(result.figures);
    } catch (error) {
      console.log(`cluster-kill failed (RELIABILITY_SEED=${SEED}): ${String(error)}\n${cluster.output()}`);
      throw error;
    } finally {
      load.close();
      await cluster.stop();
    }
  });
  // Nothing is sent again after its mark, except where the SIGKILL cut the confirmation between its
  // receipt and its cursor (the recipient saw its server vanish right after the mark): reported as
  // resentAfterUnfinishedConfirmation (test/reliability/accounting.ts).
  it('sends nothing again after its confirmation', () => {
    assert.equal(resentAfterConfirmation, 0, 'message frames received > 1 s after the store marked them delivered');
  });
});
