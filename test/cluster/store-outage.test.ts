// Issue 15, fault 5: the store (FerretDB here) unreachable for 5 s while three instances behind NGINX
// serve load. Every instance reaches it through a TCP proxy that drops every connection and refuses new
// ones (test/helpers/mongo.ts, MongoOutageProxy).
// Must hold: every acked message stored, once (no false SENT); every instance recovers by itself
// (/readyz 200 and a send made directly to it acked, no restart; an instance once stayed unready for
// good: the driver's hung monitor, src/store/mongo/heartbeat-watchdog.ts); then everything is delivered
// and marked once, and nothing is sent again after its mark unless the recipient was told that
// confirmation failed (the store went away between the mark and the cursor: allowed by the protocol,
// reported as resentAfterUnfinishedConfirmation).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { TestClient } from '../helpers/ws-client.js';
import { account, assertNothingLost, reportFigures, type Figures } from '../reliability/accounting.js';
import type { Load } from '../reliability/load-client.js';
import { MongoClient } from 'mongodb';
import { faultMongoUri, signTokens } from '../reliability/server-process.js';
import { Cluster, clusterSkip, hold, waitFor } from './cluster.js';

const skip = clusterSkip();
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : randomInt(2 ** 31);
const OUTAGE_MS = 5000;

/** The probes (one per recovered instance) are in the registry, so that the accounting knows them, but no sender acked them. */
let probes = 0;
function withoutProbes<T extends { figures: Figures }>(result: T): T {
  return { ...result, figures: { ...result.figures, sent: result.figures.sent - probes } };
}

async function pingDirect(uri: string): Promise<string> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 2000, socketTimeoutMS: 2000, directConnection: true });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return 'yes';
  } catch (error) {
    return `no (${String(error)})`;
  } finally {
    await client.close().catch(() => {});
  }
}

describe(`cluster: the store unreachable for ${OUTAGE_MS / 1000} s under three instances`, { skip }, () => {
  let cluster: Cluster | undefined;
  let load: Load | undefined;
  const started = Date.now();
  after(async () => {
    load?.close();
    await cluster?.stop();
  });

  let outageFigures = '';
  it('acks nothing it did not store while the store was away', { timeout: 90_000 }, async (t) => {
    cluster = await Cluster.start('cl_store', {}, { storeProxy: true });
    const running = cluster;
    load = await running.load({ senders: 6, recipients: 6, flakyRecipients: 2, window: 8, ratePerSec: 5, dropConfirmation: 0.05, seed: SEED });
    try {
      load.start();
      await waitFor(() => load!.acked >= 40, 30_000, () => `no progress\n${running.output()}`);
      await running.storeProxy!.down();
      const ackedAtOutage = load.acked;
      await hold(OUTAGE_MS);
      const ackedDuringOutage = load.acked - ackedAtOutage;
      await running.storeProxy!.up();
      await hold(2000);
      // Whatever the senders hold as acked now (the load still runs) is in the store, once.
      const { figures, details } = await account(load, running.dbUri);
      outageFigures = `ackedDuringOutage=${ackedDuringOutage}`;
      reportFigures(t, 'cluster-store-outage', { seed: SEED, outageMs: OUTAGE_MS, ackedDuringOutage, seconds: Math.round((Date.now() - started) / 1000) }, { figures, details: details.filter((d) => !d.startsWith('acked but never received') && !d.startsWith('not confirmed once')) });
      assert.ok(figures.acked > 0, 'messages were acked');
      assert.equal(figures.lostInStore, 0, 'false SENT: acked, not stored');
      assert.equal(figures.duplicatedInStore, 0, 'duplicated in store');
      assert.equal(figures.violations, 0, 'frames a client should never see');
    } catch (error) {
      console.log(`cluster-store-outage failed (RELIABILITY_SEED=${SEED}): ${String(error)}\n${running.output()}`);
      throw error;
    }
  });

  it('every instance recovers by itself: /readyz 200 and a send made directly to it acked', { timeout: 60_000 }, async (t) => {
    assert.ok(cluster && load, 'the outage run did not complete');
    const running = cluster;
    const probeToken = (await signTokens(['probe'])).get('probe')!;
    const back = Date.now();
    const recovery: (number | string)[] = [];
    await Promise.all(
      running.instances.map(async (instance, i) => {
        const deadline = Date.now() + 30_000;
        while ((await fetch(`${instance.httpUrl}/readyz`).then((r) => r.status, () => 0)) !== 200) {
          if (Date.now() > deadline) {
            recovery[i] = 'never';
            // FerretDB itself (not through the proxy) answering tells a stuck instance from a stuck FerretDB.
            const direct = await pingDirect(faultMongoUri().uri!);
            throw new Error(`instance ${i + 1} not ready 30 s after the store came back (FerretDB answers a new client directly: ${direct})\n${instance.output()}`);
          }
          await hold(100);
        }
        const { client } = await TestClient.connectReady(instance.wsUrl, probeToken);
        const messageId = `probe-${i}`;
        load!.registry.set(messageId, { from: 'probe', to: 'rcpt0', body: `probe ${i}` });
        probes++;
        let ack = await client.sendMessage(messageId, 'rcpt0', `probe ${i}`);
        // A batch still failing just after the outage answers `unavailable`: retry the same id, as clients do.
        while (ack.type === 'error' && ack.code === 'unavailable' && Date.now() < deadline) {
          await hold(200);
          ack = await client.sendMessage(messageId, 'rcpt0', `probe ${i}`);
        }
        assert.equal(ack.status, 'SENT', `instance ${i + 1} acks a send after the outage: ${JSON.stringify(ack)}`);
        recovery[i] = Date.now() - back;
        await client.close();
      }),
    ).finally(() => {
      const line = `cluster-store-outage-recovery: ${outageFigures} recoveryMs=${recovery.join('/')}`;
      console.log(line);
      t.diagnostic(line);
    });
  });

  it('delivers and marks everything once afterwards (confirmations recover on every instance)', { timeout: 90_000 }, async (t) => {
    assert.ok(cluster && load, 'the outage run did not complete');
    await load.finishSending(30_000);
    await load.drainRecipients(45_000);
    const result = withoutProbes(await account(load, cluster.dbUri));
    reportFigures(t, 'cluster-store-outage-drained', { seed: SEED, seconds: Math.round((Date.now() - started) / 1000) }, result);
    assertNothingLost(result.figures);
    assert.equal(result.figures.resentAfterConfirmation, 0, 'sent again after the store marked it delivered');
  });
});
