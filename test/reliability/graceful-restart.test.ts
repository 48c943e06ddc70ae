// Graceful restart under load on the Mongo store: SIGTERM while senders and recipients are busy, the
// process drains (accepted sends get their SENT ack, sockets close with 1001) and exits 0, a new one
// starts on the same DB_URI. Zero acked messages lost; everything delivered and marked once.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { dropDatabases } from '../helpers/mongo.js';
import { account, assertNothingLost, reportFigures } from './accounting.js';
import { Load, scaled, waitFor, withTimeout } from './load-client.js';
import { faultMongoUri, freshDbUri, RestartableServer, signTokens } from './server-process.js';

const mongo = faultMongoUri();
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : randomInt(2 ** 31);
const RESTARTS = scaled(3);

describe('graceful restart under load (SIGTERM, Mongo store)', { skip: mongo.skip }, () => {
  it(`loses no acked message across ${RESTARTS} SIGTERM restarts`, { timeout: 600_000 }, async (t) => {
    const { dbName, dbUri } = freshDbUri(mongo.uri!, 'rel_sigterm');
    const server = await RestartableServer.create(dbUri, { SHUTDOWN_GRACE_MS: '10000' });
    const plan = { senders: scaled(10), recipients: scaled(10), flakyRecipients: scaled(4), window: 8, ratePerSec: 5, dropConfirmation: 0.05, seed: SEED };
    const users = [...Array.from({ length: plan.senders }, (_, i) => `sndr${i}`), ...Array.from({ length: plan.recipients }, (_, i) => `rcpt${i}`)];
    const tokens = await signTokens(users);
    const load = new Load(() => server.wsUrl, (userId) => tokens.get(userId)!, plan);
    console.log(`graceful-restart: RELIABILITY_SEED=${SEED} restarts=${RESTARTS} db=${dbName}`);
    const started = Date.now();
    const drains: number[] = [];
    try {
      await server.start();
      load.start();
      for (let i = 0; i < RESTARTS; i++) {
        const acked = load.acked;
        await waitFor(() => load.acked >= acked + 30, 60_000, () => `no progress before restart ${i + 1}\n${server.output()}`);
        const stopping = Date.now();
        const exit = await server.stop('SIGTERM');
        drains.push(Date.now() - stopping);
        assert.equal(exit.code, 0, `graceful exit ${i + 1}: ${JSON.stringify(exit)}\n${server.output()}`);
        await server.start();
      }
      const acked = load.acked;
      await waitFor(() => load.acked >= acked + 30, 60_000, () => 'no progress after the last restart');
      await load.finishSending(120_000);
      await load.drainRecipients(120_000);
      const result = await account(load, dbUri);
      const closes = load.closeCodes();
      reportFigures(t, 'graceful-restart', { seed: SEED, restarts: RESTARTS, drainMs: drains.join('/'), closes1001: closes[1001] ?? 0, closes1006: closes[1006] ?? 0, seconds: Math.round((Date.now() - started) / 1000) }, result);
      assert.ok((closes[1001] ?? 0) >= RESTARTS, 'clients were told 1001 going away');
      assertNothingLost(result.figures);
    } catch (error) {
      console.log(`graceful-restart failed (RELIABILITY_SEED=${SEED}): ${String(error)}\nserver output:\n${server.output()}`);
      throw error;
    } finally {
      load.close();
      await server.stop('SIGTERM');
      await withTimeout(dropDatabases(mongo.uri!, [dbName]), 15_000, 'dropping the test database').catch(() => {});
    }
  });
});
