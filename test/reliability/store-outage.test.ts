// Store outage under load: the MongoDB-wire server is stopped for several seconds while senders and
// recipients keep going, then started again. During the outage no SENT ack is written (nothing can be
// stored), sends are answered `unavailable`, /readyz is 503; after it /readyz is 200 and every retried
// message is stored once, delivered and marked once.
//
// It stops and starts a FerretDB of its own (on a free port, or OUTAGE_MONGO_PORT), never the shared one.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { dropDatabases, mongoUriFor } from '../helpers/mongo.js';
import { account, assertNothingLost, reportFigures } from './accounting.js';
import { Load, scaled, waitFor, withTimeout } from './load-client.js';
import { faultMongoUri, OwnFerretDb, RestartableServer, signTokens } from './server-process.js';

const mongo = faultMongoUri();
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : randomInt(2 ** 31);
const OUTAGE_MS = scaled(4000);

async function readyStatus(httpUrl: string): Promise<number> {
  try {
    return (await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(3000) })).status;
  } catch {
    return 0;
  }
}

async function pingDirectly(uri: string): Promise<string> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.db('admin').command({ ping: 1 });
    return 'answers';
  } catch (error) {
    return `fails (${String(error).slice(0, 200)})`;
  } finally {
    await client.close().catch(() => {});
  }
}

/** 503×120 200×1 style: runs of equal values. */
function summarize(values: readonly number[]): string {
  const runs: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j < values.length && values[j] === values[i]) j++;
    runs.push(`${values[i]}×${j - i}`);
    i = j;
  }
  return runs.join(' ');
}

describe('store outage under load (Mongo store)', { skip: mongo.skip }, () => {
  it(`refuses honestly during a ${OUTAGE_MS} ms outage and stores every retry once after it`, { timeout: 600_000 }, async (t) => {
    const ferret = await OwnFerretDb.create();
    await ferret.start();
    const dbName = `rel_outage_${randomInt(2 ** 40).toString(36)}`;
    const dbUri = mongoUriFor(ferret.uri, dbName);
    // A short op timeout: an outage is noticed (and answered `unavailable`) within two seconds.
    const server = await RestartableServer.create(dbUri, { DB_OP_TIMEOUT_MS: '2000' });
    const plan = { senders: scaled(10), recipients: scaled(10), flakyRecipients: scaled(4), window: 8, ratePerSec: 5, dropConfirmation: 0.05, seed: SEED };
    const users = [...Array.from({ length: plan.senders }, (_, i) => `sndr${i}`), ...Array.from({ length: plan.recipients }, (_, i) => `rcpt${i}`)];
    const tokens = await signTokens(users);
    const load = new Load(() => server.wsUrl, (userId) => tokens.get(userId)!, plan);
    console.log(`store-outage: RELIABILITY_SEED=${SEED} outage=${OUTAGE_MS}ms ferretdb=${ferret.uri} db=${dbName}`);
    const started = Date.now();
    try {
      await server.start();
      load.start();
      await waitFor(() => load.acked >= 100, 60_000, () => 'no progress before the outage');
      assert.equal(await readyStatus(server.httpUrl), 200);
      const unavailableBefore = load.senders.reduce((sum, s) => sum + s.unavailable, 0);

      await ferret.stop();
      const downAt = Date.now();
      const readyDuring: number[] = [];
      while (Date.now() - downAt < OUTAGE_MS) {
        // /readyz reuses a store check's answer for a second: from then on it must say 503.
        const status = await readyStatus(server.httpUrl);
        if (Date.now() - downAt > 1100) readyDuring.push(status);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const ackedDuringOutage = load.senders.reduce((sum, s) => sum + s.ackTimes.filter((at) => at > downAt + 200).length, 0);
      const unavailableDuring = load.senders.reduce((sum, s) => sum + s.unavailable, 0) - unavailableBefore;
      const upAt = Date.now();
      await ferret.start();

      let readyAfterMs = -1;
      const readyAfter: number[] = [];
      while (readyAfterMs < 0 && Date.now() - upAt < 60_000) {
        const status = await readyStatus(server.httpUrl);
        readyAfter.push(status);
        if (status === 200) readyAfterMs = Date.now() - upAt;
        else await new Promise((resolve) => setTimeout(resolve, 200));
      }
      if (readyAfterMs < 0) {
        // Tell a server that did not recover from a test server that did not come back.
        const direct = await pingDirectly(ferret.uri);
        assert.fail(`/readyz is not 200 again 60 s after the outage: statuses ${summarize(readyAfter)} (0 = no HTTP answer); a direct ping of the restarted FerretDB: ${direct}`);
      }
      const ackedAtRecovery = load.acked;

      await waitFor(() => load.acked >= ackedAtRecovery + 50, 60_000, () => 'no progress after the outage');
      const phases = [`recovered@${((Date.now() - started) / 1000).toFixed(1)}s`];
      await load.finishSending(120_000);
      phases.push(`all-acked@${((Date.now() - started) / 1000).toFixed(1)}s`);
      await load.drainRecipients(120_000);
      phases.push(`drained@${((Date.now() - started) / 1000).toFixed(1)}s`);
      console.log(`store-outage: phases ${phases.join(' ')}`);
      const result = await account(load, dbUri);
      reportFigures(t, 'store-outage', { seed: SEED, outageMs: OUTAGE_MS, ackedDuringOutage, unavailableDuringOutage: unavailableDuring, readyzDuring: [...new Set(readyDuring)].join('/'), readyzBackMs: readyAfterMs, seconds: Math.round((Date.now() - started) / 1000) }, result);

      assert.equal(ackedDuringOutage, 0, 'no SENT ack while the store was down');
      assert.ok(unavailableDuring > 0, 'sends during the outage were answered unavailable');
      assert.ok(readyDuring.includes(503) && !readyDuring.includes(200), `/readyz during the outage: ${readyDuring.join(',')}`);
      assertNothingLost(result.figures);
    } catch (error) {
      console.log(`store-outage failed (RELIABILITY_SEED=${SEED}): ${String(error)}\nserver output:\n${server.output()}`);
      throw error;
    } finally {
      load.close();
      await server.stop('SIGTERM');
      await ferret.start().catch(() => {});
      await withTimeout(dropDatabases(ferret.uri, [dbName]), 15_000, 'dropping the test database').catch(() => {});
      await ferret.stop().catch(() => {});
    }
  });
});
