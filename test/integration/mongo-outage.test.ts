// Mongo down and back, without touching the shared test server: stores and servers reach it through a
// TCP proxy that a test can drop. Sends get `unavailable` (never a false SENT), /readyz turns 503, and
// everything recovers by itself; a server started while Mongo is unreachable waits, logs, and only
// listens once connected. Mongo only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { MongoStore } from '../../src/store/mongo/mongo-store.js';
import { StoreUnavailableError } from '../../src/store/store.js';
import { MongoOutageProxy, mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { startTestServer, TEST_SECRET } from '../helpers/server.js';
import { skipReason } from '../helpers/skips.js';
import { spawnServer } from '../helpers/spawn.js';
import { readyzSettles } from '../helpers/readyz.js';
import { TestClient } from '../helpers/ws-client.js';

const baseUri = mongoTestUri();
const OP_TIMEOUT_MS = 1000;

describe('Mongo outage', { skip: baseUri ? false : skipReason('mongo') }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'outage');
  const cleanups: (() => Promise<unknown>)[] = [];
  let seq = Date.now() * 1024;
  const message = (to: string, messageId: string) => ({ messageId, from: 'alice', to, body: 'hi', ts: Date.now(), seq: ++seq });

  const storeBehind = (proxy: MongoOutageProxy, dbUri: string) => {
    const store = new MongoStore({
      uri: proxy.uri(new URL(dbUri).pathname.slice(1)),
      opTimeoutMs: OP_TIMEOUT_MS,
      batch: { maxWaitMs: 2, maxOps: 512 },
      cursorCacheMax: 1000,
      startRetry: { attempts: 3, initialDelayMs: 100 },
      log: silentLogger(),
      metrics: createMetrics({ collectDefault: false }),
    });
    cleanups.push(() => store.close());
    return store;
  };

  before(() => {});
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await databases.drop();
  });

  it('store: persist, confirm and ping reject while Mongo is gone, within the op timeout, and work again once it is back', async () => {
    const proxy = await MongoOutageProxy.start(baseUri!);
    cleanups.push(() => proxy.down());
    const store = storeBehind(proxy, databases.fresh());
    await store.start();
    const stored = message('bob', 'before-outage');
    assert.equal((await store.persist(stored)).kind, 'created');

    await proxy.down();
    const started = Date.now();
    await assert.rejects(store.persist(message('bob', 'during-outage')), StoreUnavailableError);
    await assert.rejects(store.confirmIds('bob', 'default', ['before-outage']), StoreUnavailableError);
    await assert.rejects(store.ping());
    assert.ok(Date.now() - started < 4 * OP_TIMEOUT_MS + 1000, `failed in ${Date.now() - started} ms`);

    await proxy.up();
    await store.ping(); // the driver re-checks the server on demand: no restart, no wait for a heartbeat
    assert.equal((await store.persist(message('bob', 'after-outage'))).kind, 'created');
    const [target] = await store.replayTargets('bob', 'default');
    assert.deepEqual((await store.messagesIn([{ conversationId: target!.conversationId, afterSeq: target!.cursor.upTo, toSeq: target!.cursor.upTo + 10 }]))[0]!.map((m) => m.messageId), ['before-outage', 'after-outage']);
    assert.equal((await store.confirmIds('bob', 'default', ['before-outage'])).marks.length, 1);
  });

  it('server: sends get `unavailable` and /readyz 503 while Mongo is gone; both recover by themselves', async () => {
    const proxy = await MongoOutageProxy.start(baseUri!);
    cleanups.push(() => proxy.down());
    const store = storeBehind(proxy, databases.fresh());
    const t = await startTestServer({ store, env: { DB_OP_TIMEOUT_MS: String(OP_TIMEOUT_MS) } });
    cleanups.push(() => t.close());
    const { client: alice } = await TestClient.connectReady(t.wsUrl, await t.token('alice'));
    assert.equal((await alice.sendMessage('m-up', 'bob', 'one')).status, 'SENT');
    assert.equal((await fetch(`${t.httpUrl}/readyz`)).status, 200);

    await proxy.down();
    const refused = await alice.sendMessage('m-down', 'bob', 'two');
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'unavailable');
    assert.equal(await readyzSettles(t.httpUrl, 503), 503);

    await proxy.up();
    assert.equal(await readyzSettles(t.httpUrl, 200), 200);
    // The client retries the refused send with the same id: stored once, acked now.
    const retried = await alice.sendMessage('m-down', 'bob', 'two');
    assert.equal(retried.status, 'SENT');
    assert.equal(retried.duplicate, false);
    const { client: bob, replayed } = await TestClient.connectReady(t.wsUrl, await t.token('bob'));
    assert.deepEqual(replayed.map((f) => f.messageId), ['m-up', 'm-down']);
    await Promise.all([alice.close(), bob.close()]);
  });

  it('process: starting with Mongo unreachable logs and retries without listening, then listens once Mongo is there', async () => {
    const proxy = await MongoOutageProxy.start(baseUri!, { listening: false });
    cleanups.push(() => proxy.down());
    const dbName = new URL(databases.fresh()).pathname.slice(1);
    const server = spawnServer({
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      JWT_SECRET: TEST_SECRET,
      DB_URI: proxy.uri(dbName),
      DB_OP_TIMEOUT_MS: String(OP_TIMEOUT_MS),
    });
    cleanups.push(async () => {
      server.kill('SIGKILL');
      await server.exited;
    });
    const retrying = await waitForLine(server.child.stdout!, (line) => line.msg === 'MongoDB unreachable at startup; not ready, retrying');
    assert.equal(retrying.level, 40);
    assert.equal(typeof retrying.retryInMs, 'number');
    assert.match(String(retrying.target), /^mongodb:\/\/127\.0\.0\.1:\d+\//);
    assert.ok(!server.stdout().includes('"msg":"listening"'), 'not listening while Mongo is unreachable');

    await proxy.up();
    const port = await server.listening;
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
  });
});

type LogLine = Record<string, unknown>;

/** The next JSON log line on `stream` matching `match` (an event, not a sleep). */
function waitForLine(stream: NodeJS.ReadableStream, match: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      stream.off('data', onData);
      reject(new Error('timed out waiting for a log line'));
    }, timeoutMs);
    const onData = (chunk: string | Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const text of lines) {
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          continue;
        }
        if (!match(line)) continue;
        clearTimeout(timer);
        stream.off('data', onData);
        resolve(line);
        return;
      }
    };
    stream.on('data', onData);
  });
}
