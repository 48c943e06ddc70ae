// Crash under load on the Mongo store: 20 senders and 20 recipients (half always online, half going
// on- and offline at random and "losing" some confirmations) while the server process is killed with
// SIGKILL at random points and restarted on the same DB_URI. Clients retry unacked sends with the same
// messageId and reconnect with backoff. Then: every acked message is stored once, received, confirmed
// and marked exactly once; nobody saw what they should not have.
//
//   TEST_MONGO_URI=mongodb://127.0.0.1:27017/ RELIABILITY_SCALE=3 node --import tsx --test test/reliability/crash-under-load.test.ts
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { dropDatabases } from '../helpers/mongo.js';
import { account, assertNothingLost, reportFigures } from './accounting.js';
import { Load, scaled, waitFor, withTimeout } from './load-client.js';
import { faultMongoUri, freshDbUri, RestartableServer, signTokens } from './server-process.js';
import { prng } from './fuzz-cases.js';

const mongo = faultMongoUri();
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : randomInt(2 ** 31);
const CRASHES = scaled(Number(process.env.CRASHES ?? '6'));

describe('crash under load (SIGKILL, Mongo store)', { skip: mongo.skip }, () => {
  it(`loses nothing acked and marks nothing twice across ${CRASHES} SIGKILLs`, { timeout: 600_000 }, async (t) => {
    const { dbName, dbUri } = freshDbUri(mongo.uri!, 'rel_crash');
    const server = await RestartableServer.create(dbUri);
    const random = prng(SEED);
    const plan = { senders: scaled(20), recipients: scaled(20), flakyRecipients: scaled(10), window: 8, ratePerSec: 3, dropConfirmation: 0.1, seed: SEED };
    const users = [...Array.from({ length: plan.senders }, (_, i) => `sndr${i}`), ...Array.from({ length: plan.recipients }, (_, i) => `rcpt${i}`)];
    const tokens = await signTokens(users);
    const load = new Load(() => server.wsUrl, (userId) => tokens.get(userId)!, plan);
    console.log(`crash-under-load: RELIABILITY_SEED=${SEED} crashes=${CRASHES} senders=${plan.senders} recipients=${plan.recipients} (flaky ${plan.flakyRecipients}) db=${dbName}`);
    const started = Date.now();
    let crashes = 0;
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name}@${((Date.now() - started) / 1000).toFixed(1)}s/acked=${load.acked}`);
    try {
      await server.start();
      load.start();
      for (; crashes < CRASHES; crashes++) {
        // A random point under load: after some acks on this run, plus 0-700 ms.
        const ackedAtStart = load.acked;
        await waitFor(() => load.acked >= ackedAtStart + 20, 60_000, () => `no progress after restart ${crashes}\n${server.output()}`);
        await new Promise((resolve) => setTimeout(resolve, random() * 700));
        const exit = await server.stop('SIGKILL');
        assert.equal(exit.signal, 'SIGKILL');
        phase(`kill${crashes + 1}`);
        await new Promise((resolve) => setTimeout(resolve, random() * 300));
        await server.start();
      }
      const ackedBeforeStop = load.acked;
      await waitFor(() => load.acked >= ackedBeforeStop + 20, 60_000, () => 'no progress after the last restart');
      phase('stop-generating');
      await load.finishSending(120_000);
      phase('all-acked');
      await load.drainRecipients(120_000);
      phase('drained');
      console.log(`crash-under-load: phases ${phases.join(' ')}`);
      const result = await account(load, dbUri);
      reportFigures(t, 'crash-under-load', { seed: SEED, crashes, seconds: Math.round((Date.now() - started) / 1000) }, result);
      assertNothingLost(result.figures);
    } catch (error) {
      console.log(`crash-under-load failed (RELIABILITY_SEED=${SEED}): ${String(error)}\nserver output:\n${server.output()}`);
      throw error;
    } finally {
      load.close();
      await server.stop('SIGTERM');
      await withTimeout(dropDatabases(mongo.uri!, [dbName]), 15_000, 'dropping the test database').catch(() => {});
    }
  });
});
