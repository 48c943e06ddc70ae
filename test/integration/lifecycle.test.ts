// Shutdown and process behaviour: SIGTERM under load, readiness while draining, metrics refusals in
// production, and logs that never carry a secret, a token or a message body.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { signToken } from '../../src/auth/jwt.js';
import { createLogger } from '../../src/log.js';
import { HeldAckStore } from '../helpers/held-ack-store.js';
import { freePort } from '../helpers/net.js';
import { productionEnv, spawnServer } from '../helpers/spawn.js';
import { startTestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

describe('graceful shutdown', () => {
  it('loses no acked message when closed during a burst of sends; sends arriving while draining get no answer but the 1001 close', async () => {
    const t = await startTestServer();
    const senders = await Promise.all(['s1', 's2', 's3', 's4'].map(async (user) => (await TestClient.connectReady(t.wsUrl, await t.token(user))).client));
    let n = 0;
    const pump = setInterval(() => {
      for (const client of senders) {
        if (client.ws.readyState !== client.ws.OPEN) continue;
        for (let i = 0; i < 20; i++) client.send({ type: 'send', messageId: `burst-${n++}`, to: 'sink', body: 'payload' });
      }
    }, 1);
    let seen = 0;
    while (seen < 100) {
      await senders[0]!.next((f) => f.status === 'SENT', 10_000);
      seen++;
    }
    const closing = t.server.close();
    assert.equal(t.server.shuttingDown, true);
    clearInterval(pump);
    await closing;
    await Promise.all(senders.map((client) => client.closed));
    const acked = senders.flatMap((client) => client.frames.filter((f) => f.type === 'ack' && f.status === 'SENT').map((f) => String(f.messageId)));
    assert.ok(acked.length > 200);
    for (const messageId of acked) assert.ok(await t.store.getMessage(messageId), `acked ${messageId} is stored`);
    // Sends that arrived while draining were not acked and not refused: the 1001 close is the answer
    // (the client sends them again after reconnecting); no error frame.
    for (const client of senders) assert.deepEqual(client.frames.filter((f) => f.type === 'error'), []);
    assert.deepEqual(
      senders.map((client) => client.frames.length > 0 && client.ws.readyState === client.ws.CLOSED),
      [true, true, true, true],
    );
  });

  it('answers /readyz 503 while draining (on a kept-alive connection), and the held send still gets its SENT ack', async () => {
    const store = new HeldAckStore();
    const t = await startTestServer({ store });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const readyz = () =>
      new Promise<number>((resolve, reject) => {
        http.get(`${t.httpUrl}/readyz`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject);
      });
    try {
      assert.equal(await readyz(), 200);
      const { client } = await TestClient.connectReady(t.wsUrl, await t.token('drainer'));
      store.hold();
      client.send({ type: 'send', messageId: 'drain-1', to: 'sink', body: 'accepted before the signal' });
      while (store.stored === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const closing = t.server.close(); // waits for the held send
      assert.equal(await readyz(), 503, 'a load balancer polling readiness sees the drain at once');
      store.release();
      await closing;
      assert.equal((await client.closed).code, 1001);
      assert.ok(client.frames.some((f) => f.type === 'ack' && f.status === 'SENT' && f.messageId === 'drain-1'), 'the accepted send was acked before the close');
    } finally {
      agent.destroy();
    }
  });

  it('with SHUTDOWN_DRAIN_DELAY_MS, answers /readyz 503 at once but keeps serving (new sockets, sends) until the delay is over', async () => {
    const t = await startTestServer({ env: { SHUTDOWN_DRAIN_DELAY_MS: '600' } });
    const { client } = await TestClient.connectReady(t.wsUrl, await t.token('lb-user'));
    const started = Date.now();
    const closing = t.server.close();
    assert.equal(t.server.shuttingDown, true);
    assert.equal((await fetch(`${t.httpUrl}/readyz`)).status, 503, 'out of rotation at once, on a new connection too');
    const ack = await client.sendMessage('lb-1', 'lb-peer', 'still served while draining');
    assert.equal(ack.status, 'SENT');
    const { client: late } = await TestClient.connectReady(t.wsUrl, await t.token('lb-late'));
    assert.ok(Date.now() - started < 600, 'all of that happened within the delay');
    await closing;
    assert.ok(Date.now() - started >= 590, 'the sockets were closed only after the delay');
    assert.equal((await client.closed).code, 1001);
    assert.equal((await late.closed).code, 1001);
    assert.ok(await t.store.getMessage('lb-1'));
  });

  it('closes sockets with 1001 going away', async () => {
    const t = await startTestServer();
    const { client } = await TestClient.connectReady(t.wsUrl, await t.token('leaver'));
    await t.close();
    assert.equal((await client.closed).code, 1001);
  });
});

describe('uWS binary', () => {
  it('refuses to start on the JS fallback unless UWS_ALLOW_FALLBACK=true, and says which one runs', async () => {
    await assert.rejects(startTestServer({ uwsNative: false }), /native binary did not load \(JS fallback in use\); refusing to start\. Set UWS_ALLOW_FALLBACK=true/);
    const lines: string[] = [];
    const log = createLogger({ level: 'info', pretty: false }, { write: (line: string) => lines.push(line) });
    const allowed = await startTestServer({ uwsNative: false, env: { UWS_ALLOW_FALLBACK: 'true' }, log });
    await allowed.close();
    assert.ok(lines.some((line) => line.includes('"uws":"fallback"') && line.includes('"msg":"listening"')), lines.join(''));
  });
});

describe('process', { concurrency: 3 }, () => {
  const running: ReturnType<typeof spawnServer>[] = [];
  after(() => running.forEach((server) => server.kill('SIGKILL')));

  for (const kind of ['exception', 'rejection']) {
    it(`logs an uncaught ${kind} as fatal and exits 1 (acked messages are already stored)`, async () => {
      const server = spawnServer({ ...productionEnv(), CRASH_KIND: kind }, { preload: [new URL('../fixtures/crash-after-listening.mjs', import.meta.url).href] });
      running.push(server);
      const { code, stdout } = await server.exited;
      assert.equal(code, 1);
      const fatal = stdout.split('\n').filter((line) => line.includes('"level":60'));
      assert.equal(fatal.length, 1, stdout);
      assert.match(fatal[0]!, kind === 'exception' ? /injected uncaught exception.*"msg":"uncaught exception"/ : /injected unhandled rejection.*"msg":"unhandled rejection"/);
    });
  }

  it('drains on SIGINT as on SIGTERM and exits 0', async () => {
    const server = spawnServer(productionEnv());
    running.push(server);
    await server.listening;
    server.kill('SIGINT');
    const { code, stdout } = await server.exited;
    assert.equal(code, 0);
    assert.match(stdout, /"signal":"SIGINT".*"msg":"shutting down"/);
    assert.match(stdout, /"msg":"shutdown complete"/);
    // In the order they happened: the lines are written as they are logged, not flushed at exit.
    const messages = stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => (JSON.parse(line) as { msg: string }).msg);
    assert.deepEqual(messages.slice(messages.indexOf('shutting down')), ['shutting down', 'server closed', 'shutdown complete']);
  });

  it('production + METRICS_MODE=secret without METRICS_SECRET: the contract line and exit 1', async () => {
    const env = productionEnv();
    delete env.METRICS_SECRET;
    const result = await spawnServer(env).exited;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Missing required environment variable for production: METRICS_SECRET$/m);
  });

  it('production refuses METRICS_MODE=open unless ALLOW_PUBLIC_METRICS_IN_PROD=true', async () => {
    const refused = await spawnServer(productionEnv({ METRICS_MODE: 'open' })).exited;
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /METRICS_MODE=open is refused in production/);
    const allowed = spawnServer(productionEnv({ METRICS_MODE: 'open', ALLOW_PUBLIC_METRICS_IN_PROD: 'true' }));
    running.push(allowed);
    const port = await allowed.listening;
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 200);
    allowed.kill('SIGTERM');
    assert.equal((await allowed.exited).code, 0);
  });

  it('logs start, auth rejections and shutdown without any secret, token, password or body', async () => {
    const jwtSecret = 'jwt-secret-that-must-never-be-logged-0123456789';
    const metricsSecret = 'metrics-secret-never-logged';
    const server = spawnServer(
      productionEnv({ JWT_SECRET: jwtSecret, METRICS_SECRET: metricsSecret, LOG_LEVEL: 'debug', DB_URI: 'mem' }),
    );
    running.push(server);
    const port = await server.listening;
    const token = await signToken({ secret: jwtSecret, userId: 'logger', ttlSec: 60 });
    const badToken = await signToken({ secret: 'wrong-secret', userId: 'x', ttlSec: 60 });
    const body = 'the-body-must-never-be-logged';
    await fetch(`http://127.0.0.1:${port}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messageId: 'log-1', to: 'bob', body }),
    });
    await fetch(`http://127.0.0.1:${port}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${badToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messageId: 'log-2', to: 'bob', body }),
    });
    await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { 'x-metrics-key': 'wrong' } });
    const ws = await TestClient.connect(`ws://127.0.0.1:${port}/ws`, { token }).catch(() => undefined);
    ws?.send({ type: 'send', messageId: 'log-3', to: 'bob', body });
    await ws?.next((f) => f.messageId === 'log-3');
    await ws?.close();
    server.kill('SIGTERM');
    const { code, stdout, stderr } = await server.exited;
    assert.equal(code, 0);
    const logs = stdout + stderr;
    assert.match(logs, /"msg":"listening"/);
    assert.match(logs, /"msg":"shutdown complete"/);
    for (const secret of [jwtSecret, metricsSecret, token, badToken, body]) assert.ok(!logs.includes(secret), `log leaks ${secret.slice(0, 12)}…`);
    for (const line of stdout.trim().split('\n')) JSON.parse(line); // one JSON object per line
    // Refusals are there for an operator, at debug, with their reason.
    assert.match(logs, /"route":"\/api\/messages","reason":"bad_token","msg":"request refused: 401"/);
    assert.match(logs, /"route":"\/metrics","reason":"wrong_key","msg":"request refused: 401"/);
  });

  it('never logs the password of a MongoDB URI, even while retrying an unreachable server', async () => {
    const password = 'mongo-password-never-logged';
    const server = spawnServer(
      productionEnv({ LOG_LEVEL: 'debug', DB_URI: `mongodb://chat:${password}@127.0.0.1:${await freePort()}/chat?authSource=admin`, DB_OP_TIMEOUT_MS: '200' }),
    );
    running.push(server);
    const deadline = Date.now() + 10_000;
    while (!server.stdout().includes('MongoDB unreachable at startup') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    server.kill('SIGTERM');
    const { stdout, stderr } = await server.exited;
    assert.match(stdout, /MongoDB unreachable at startup; not ready, retrying/);
    assert.match(stdout, /"target":"mongodb:\/\/127\.0\.0\.1:\d+\/chat"/, 'the target is logged without credentials');
    assert.ok(!(stdout + stderr).includes(password), 'log leaks the MongoDB password');
  });
});
