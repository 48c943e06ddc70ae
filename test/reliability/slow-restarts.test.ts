// Overload after slow restarts (the hardening issue, item 3). Senders keep writing while the server is
// down, as an app's outbox does, so each restart meets every client's backlog at once; recipients go
// on- and offline too. The server is SIGKILLed under that load and held down ≥ 10 s each time. The
// store must shed what it cannot serve in time (unavailable + retryAfter, honoured with jitter by the
// clients) instead of queueing it all to time out: no write waits out the timeout in a queue, and after
// the last restart everything acked is delivered and confirmed within SETTLE_BUDGET_MS (150 s): lost = 0,
// nothing pending.
// DB_OP_TIMEOUT_MS is 2 s here (5 s in production): the backlog that overloads it is CI-sized then
// (a v2 persist batch on FerretDB makes several round trips: ids, memberships, heads, insert, cursors).
//
//   TEST_MONGO_URI=mongodb://127.0.0.1:27017/ node --import tsx --test test/reliability/slow-restarts.test.ts
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { dropDatabases } from '../helpers/mongo.js';
import { account, assertNothingLost, reportFigures } from './accounting.js';
import { prng } from './fuzz-cases.js';
import { Load, scaled, waitFor, withTimeout } from './load-client.js';
import { faultMongoUri, freshDbUri, RestartableServer, signTokens } from './server-process.js';

const mongo = faultMongoUri();
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : randomInt(2 ** 31);
// Two by default: the second meets the first one's backlog still draining, the case a third would only
// repeat, for 30 s more of CI (SLOW_RESTARTS=3 runs three).
const RESTARTS = scaled(Number(process.env.SLOW_RESTARTS ?? '2'));
const HOLD_MS = Number(process.env.SLOW_RESTART_HOLD_MS ?? '10000');
// How long recovery may take after the last restart: a bound that tells "drains" from "livelocks", not
// a speed target (the shedding assertion below is the overload property). 12 s when this test was
// written; 32–78 s on 2026-12-07's machines, with the store busy throughout: FerretDB writes a send
// in ~6.5 ms there (docs/reliability.md, item 7; `storeBusy` in the figures tells).
const SETTLE_BUDGET_MS = Number(process.env.SLOW_RESTART_SETTLE_MS ?? '150000');
const DB_OP_TIMEOUT_MS = Number(process.env.SLOW_RESTART_DB_OP_TIMEOUT_MS ?? '2000');

describe('slow restarts under load (SIGKILL, Mongo store)', { skip: mongo.skip }, () => {
  it(`drains every backlog within ${SETTLE_BUDGET_MS / 1000} s after ${RESTARTS} restarts held ≥ ${HOLD_MS / 1000} s each`, { timeout: 600_000 }, async (t) => {
    const { dbName, dbUri } = freshDbUri(mongo.uri!, 'rel_slow_restart');
    const server = await RestartableServer.create(dbUri, { DB_OP_TIMEOUT_MS: String(DB_OP_TIMEOUT_MS) });
    const random = prng(SEED);
    // 20 senders at 20 msgs/s with up to 100 unsent each (the window: what an app's outbox holds while
    // offline, and all it sends after a restart): ~2000 sends at every restart at once, ~13 s of
    // FerretDB's writing here (~150 sends/s) against DB_OP_TIMEOUT_MS of 2 s, and 3.5 s at the fastest
    // it has been (~570/s): an overload either way. With 200 each (~4000) it proved nothing more, and
    // the store-bound drain took 32-51 s of CI alone instead of about half that.
    const plan = { senders: scaled(20), recipients: scaled(20), flakyRecipients: scaled(5), window: Number(process.env.SLOW_RESTART_WINDOW ?? '100'), ratePerSec: 20, dropConfirmation: 0.05, seed: SEED, queueWhileOffline: true };
    const users = [...Array.from({ length: plan.senders }, (_, i) => `sndr${i}`), ...Array.from({ length: plan.recipients }, (_, i) => `rcpt${i}`)];
    const tokens = await signTokens(users);
    const load = new Load(() => server.wsUrl, (userId) => tokens.get(userId)!, plan);
    console.log(`slow-restarts: RELIABILITY_SEED=${SEED} restarts=${RESTARTS} hold=${HOLD_MS} ms senders=${plan.senders} recipients=${plan.recipients} db=${dbName}`);
    const started = Date.now();
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name}@${((Date.now() - started) / 1000).toFixed(1)}s/acked=${load.acked}`);
    let lastStart = 0;
    try {
      await server.start();
      load.start();
      for (let restart = 0; restart < RESTARTS; restart++) {
        const ackedAtStart = load.acked;
        await waitFor(() => load.acked >= ackedAtStart + 100, 90_000, () => `no progress after restart ${restart}\n${server.output()}`);
        await new Promise((resolve) => setTimeout(resolve, random() * 1000));
        assert.equal((await server.stop('SIGKILL')).signal, 'SIGKILL');
        phase(`kill${restart + 1}`);
        await new Promise((resolve) => setTimeout(resolve, HOLD_MS + random() * 1000));
        await server.start();
        lastStart = Date.now();
        phase(`up${restart + 1}`);
      }
      // The backlog built up during the last hold is in flight now; stop creating new messages.
      await load.finishSending(SETTLE_BUDGET_MS);
      phase('all-acked');
      await load.drainRecipients(Math.max(1000, SETTLE_BUDGET_MS - (Date.now() - lastStart)));
      phase('drained');
      const settleMs = Date.now() - lastStart;
      console.log(`slow-restarts: phases ${phases.join(' ')}; settled ${(settleMs / 1000).toFixed(1)} s after the last restart`);
      const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
      const shed = metrics.split('\n').filter((line) => line.startsWith('chat_store_shed_total')).map((line) => line.replace('chat_store_shed_total', '')).join(' ');
      // How much of the drain the store spent writing sends (one persist batch in flight at a time, and
      // these metrics cover only the last run): near 1, the drain is the store's speed; far below, the
      // shedding kept the store idle while clients waited out their retry hints.
      const persistSeconds = Number(/^chat_store_batch_latency_seconds_sum\{op="persist"\} (\S+)$/m.exec(metrics)?.[1] ?? NaN);
      const storeBusy = (persistSeconds / (settleMs / 1000)).toFixed(2);
      const result = await account(load, dbUri);
      // A refusal is worth something only if it comes at once: one that comes after the whole timeout
      // means the write sat in a queue it could never leave in time.
      const { slow, refusals } = load.slowRefusals(DB_OP_TIMEOUT_MS);
      reportFigures(t, 'slow-restarts', { seed: SEED, restarts: RESTARTS, holdMs: HOLD_MS, settleSeconds: Math.round(settleMs / 1000), refusals, slowRefusals: slow, shedLastRun: shed || 'none', storeBusy }, result);
      assertNothingLost(result.figures);
      // (A write admitted just before the store slowed down may still wait it out: a few, not thousands.
      // Most likely, a batch that stalls until the driver's own timeout (also DB_OP_TIMEOUT_MS) fails
      // its items after their queue time plus that timeout. Measured on the v2 store here: 0-2.1 % of
      // 19,000-35,000 refusals from run to run (0, 11, 116, 554 in the last four); on 2026-12-08's
      // slower machine 0-1.4 % run alone (0, 4, 40, 56, 73 of 5,000-5,700) and 5.3 % (228 of 4,313)
      // once at the end of `.ci/run`, after 12 minutes of other tests on the same FerretDB, where a
      // stalling batch is likelier. The batcher before load shedding let 1341 of 1341 wait it out.
      // The bound tells those two apart with room.)
      assert.ok(slow <= 0.1 * refusals, `${slow} of ${refusals} refusals came only after the ${DB_OP_TIMEOUT_MS} ms timeout`);
      assert.ok(settleMs <= SETTLE_BUDGET_MS, `settled ${settleMs} ms after the last restart (budget ${SETTLE_BUDGET_MS})`);
    } catch (error) {
      console.log(`slow-restarts failed (RELIABILITY_SEED=${SEED}): ${String(error)}\nphases ${phases.join(' ')}\nserver output:\n${server.output()}`);
      throw error;
    } finally {
      load.close();
      await server.stop('SIGTERM');
      await withTimeout(dropDatabases(mongo.uri!, [dbName]), 15_000, 'dropping the test database').catch(() => {});
    }
  });
});
