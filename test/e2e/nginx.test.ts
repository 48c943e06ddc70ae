// The deployment path: a real NGINX configured from deploy/nginx/chat.conf in front of the real server
// (production env, TRUST_PROXY=true), driven through NGINX only. Skips when nginx is not installed,
// except in CI (CI=true), where a missing nginx is a failure: .ci/run installs it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { signToken } from '../../src/auth/jwt.js';
import { startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.js';
import { skipReason } from '../helpers/skips.js';
import { productionEnv, spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { TestClient, UpgradeRefused, upgradeStatus, type Frame } from '../helpers/ws-client.js';
import { findBinary, freePort, startNginx, type Nginx } from './helpers/nginx.js';

const NGINX = findBinary('nginx');
const OPENSSL = findBinary('openssl');
const WS_PATH = '/chat/ws'; // not the default: proves the path is templated end to end
const ORIGIN = 'https://app.example.com';
const METRICS_SECRET = 'metrics-secret-for-the-nginx-test';
const skip = !NGINX && !process.env.CI ? skipReason('nginx') : false;
// A proxy that never completes an upgrade hangs a client instead of failing it: bound every test.
const timeout = 10_000;

describe('through NGINX (deploy/nginx/chat.conf)', { skip }, () => {
  let app: TestServer;
  let proxy: Nginx;
  let http: string;
  let ws: string;

  before(async () => {
    assert.ok(NGINX, 'nginx is not installed, and CI requires this test: install the Debian package nginx');
    assert.ok(OPENSSL || !process.env.CI, 'openssl is needed for the TLS block');
    app = await startTestServer({
      env: { NODE_ENV: 'production', DB_URI: 'mem', COOKIE_DOMAIN: '.example.com', CORS_ORIGIN: ORIGIN, WS_PATH, METRICS_SECRET, TRUST_PROXY: 'true' },
    });
    proxy = await startNginx(NGINX, { upstreamPort: app.server.port, wsPath: WS_PATH, tls: Boolean(OPENSSL) });
    http = `http://127.0.0.1:${proxy.port}`;
    ws = `ws://127.0.0.1:${proxy.port}${WS_PATH}`;
  });

  after(async () => {
    await proxy?.stop();
    await app?.close();
  });

  /** A browser-like client: JWT in the cookie, an allowed Origin; resolves after the replay's `ready`. */
  const connect = async (userId: string) => {
    const client = await TestClient.connect(ws, { cookie: `token=${await app.token(userId)}`, origin: ORIGIN });
    const ready = await client.next((f) => f.type === 'ready');
    const replayed = client.frames.slice(0, client.frames.indexOf(ready)).filter((f) => f.type === 'message');
    return { client, replayed, ready };
  };
  const ids = (frames: Frame[]) => frames.map((f) => f.messageId);

  it('renders a config whose WebSocket read timeout outlasts the server idle timeout', { timeout }, () => {
    const timeout = Number(/proxy_read_timeout (\d+)s;/.exec(proxy.chatConf)?.[1]);
    assert.ok(timeout > app.config.limits.idleTimeoutSec, proxy.chatConf);
    assert.match(proxy.chatConf, new RegExp(`location = ${WS_PATH} \\{`));
    assert.match(proxy.chatConf, new RegExp(`client_max_body_size ${app.config.limits.maxHttpBodyBytes};`));
  });

  it('with TLS, renders the plain listener as a redirect to https by default, and refuses a redirect without TLS', () => {
    // An operator probe found every route, logins included, served on port 80 beside the TLS block.
    const render = (env: Record<string, string>) => execFileSync('sh', ['deploy/nginx/render.sh'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CHAT_UPSTREAM: '127.0.0.1:3000', ...env }, encoding: 'utf8', stdio: 'pipe' });
    const tls = { TLS_CERT: '/etc/ssl/chat.pem', TLS_KEY: '/etc/ssl/chat.key' };
    const plainBlock = (conf: string) => conf.slice(conf.indexOf('listen 80;'));
    const redirected = plainBlock(render(tls));
    assert.match(redirected, /return 308 https:\/\/\$host\$request_uri;/);
    assert.doesNotMatch(redirected, /proxy_pass/);
    assert.match(plainBlock(render({ ...tls, NGINX_TLS_LISTEN: '8443' })), /return 308 https:\/\/\$host:8443\$request_uri;/);
    assert.match(plainBlock(render({ ...tls, PLAIN_HTTP: 'serve' })), /proxy_pass http:\/\/chat_backend;/);
    assert.doesNotMatch(plainBlock(render({})), /return 308/);
    assert.throws(() => render({ PLAIN_HTTP: 'redirect' }), /needs the TLS block/);
  });

  it('serves /healthz and /readyz', { timeout }, async () => {
    const health = await fetch(`${http}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    assert.equal((await fetch(`${http}/readyz`)).status, 200);
  });

  it('denies /metrics from outside, even with the right key (the app itself still serves it)', { timeout }, async () => {
    const key = { 'x-metrics-key': METRICS_SECRET };
    for (const path of ['/metrics', '/metrics?x=1', '//metrics', '/%6detrics', '/metrics/']) {
      assert.equal((await fetch(`${http}${path}`, { headers: key })).status, 403, path);
    }
    assert.equal((await fetch(`${app.httpUrl}/metrics`, { headers: key })).status, 200);
  });

  it('denies the server API from outside: backends call the instances directly', { timeout }, async () => {
    for (const path of ['/api/server/messages', '/api/server/users/bob/ban', '//api/server/messages', '/api/%73erver/messages', '/api/server/']) {
      assert.equal((await fetch(`${http}${path}`, { method: 'POST' })).status, 403, path);
    }
    assert.notEqual((await fetch(`${app.httpUrl}/api/server/messages`, { method: 'POST' })).status, 403, 'the app itself still answers it');
  });

  it('refuses upgrades without a token (401), from another origin (403), and outside WS_PATH (426)', { timeout }, async () => {
    assert.equal(await upgradeStatus(ws, { origin: ORIGIN }), 401);
    assert.equal(await upgradeStatus(ws, { cookie: `token=${await app.token('mallory')}`, origin: 'https://evil.example.com' }), 403);
    assert.equal(await upgradeStatus(ws, { cookie: `token=${await app.token('mallory')}`, origin: ORIGIN }), 101);
    // Anywhere but WS_PATH, NGINX refuses an upgrade (a server with another WS_PATH would otherwise
    // take it through `location /` and see it cut after 60 s of silence).
    assert.equal(await upgradeStatus(ws.replace(WS_PATH, '/ws'), { cookie: `token=${await app.token('mallory')}`, origin: ORIGIN }), 426);
  });

  it('connects with the JWT cookie, sends, acks, delivers live, and replays after a reconnect', { timeout }, async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const sent = await alice.client.sendMessage('live-1', 'bob', 'hello through nginx');
    assert.equal(sent.status, 'SENT');
    assert.equal(sent.duplicate, false);
    const live = await bob.client.next((f) => f.type === 'message');
    assert.deepEqual([live.messageId, live.from, live.body], ['live-1', 'alice', 'hello through nginx']);
    bob.client.send({ type: 'delivered', messageIds: ['live-1'] });
    await alice.client.next((f) => f.type === 'ack' && f.status === 'DELIVERED' && f.messageId === 'live-1');
    await bob.client.close();

    assert.equal((await alice.client.sendMessage('offline-1', 'bob', 'while you were away')).status, 'SENT');
    const back = await connect('bob');
    assert.deepEqual(ids(back.replayed), ['offline-1']);
    assert.equal(back.ready.replayed, 1);
    back.client.send({ type: 'delivered', messageIds: ['offline-1'] });
    await alice.client.next((f) => f.type === 'ack' && f.status === 'DELIVERED' && f.messageId === 'offline-1');
    await back.client.close();
    const again = await connect('bob');
    assert.deepEqual(again.replayed, []);
    await Promise.all([again.client.close(), alice.client.close()]);
  });

  it('keeps exactly-once through the ack-drop scenario', { timeout }, async () => {
    const messageId = 'ackdrop-nginx';
    const a1 = await connect('ack-a');
    const first = await a1.client.sendMessage(messageId, 'ack-b', 'probe');
    await a1.client.terminate(); // the SENT ack is "dropped": A never saw it
    const a2 = await connect('ack-a');
    const retry = await a2.client.sendMessage(messageId, 'ack-b', 'probe');
    assert.deepEqual([retry.status, retry.duplicate, retry.ts], ['SENT', true, first.ts]);

    const b1 = await connect('ack-b'); // receives it, drops its confirmation, goes away
    assert.deepEqual(ids(b1.replayed), [messageId]);
    await b1.client.terminate();
    const b2 = await connect('ack-b'); // unconfirmed: replayed again, then confirmed
    assert.deepEqual(ids(b2.replayed), [messageId]);
    b2.client.send({ type: 'delivered', messageIds: [messageId] });
    await a2.client.next((f) => f.type === 'ack' && f.status === 'DELIVERED' && f.messageId === messageId);
    await b2.client.close();
    const b3 = await connect('ack-b'); // confirmed: never again
    assert.deepEqual(b3.replayed, []);
    await Promise.all([b3.client.close(), a2.client.close()]);

    assert.equal((await app.store.deliveryState(messageId, 'ack-b'))?.marks, 1);
    assert.equal(a2.client.frames.filter((f) => f.type === 'ack' && f.status === 'DELIVERED').length, 1);
    assert.equal((await app.store.getMessage(messageId))?.body, 'probe');
  });

  it('carries the HTTP door and refuses a body over the server limit at NGINX', { timeout }, async () => {
    const authorization = `Bearer ${await app.token('http-a')}`;
    const post = (body: string) =>
      fetch(`${http}/api/messages`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body });
    const ok = await post(JSON.stringify({ messageId: 'http-1', to: 'http-b', body: 'via nginx' }));
    assert.equal(ok.status, 201);
    const huge = await post(JSON.stringify({ messageId: 'http-2', to: 'http-b', body: 'x'.repeat(app.config.limits.maxHttpBodyBytes) }));
    assert.equal(huge.status, 413);
    assert.match(await proxy.errorLog(), /client intended to send too large body/); // NGINX's 413, not the app's
    assert.equal(await app.store.getMessage('http-2'), undefined);
  });

  it('sends a POST /api/messages that one instance cut off on to the next: a send is idempotent by its messageId', { timeout: 20_000 }, async () => {
    // An "instance" that reads each request and drops its connection unanswered, as one does when it
    // stops while a request on a kept-alive connection is on its way (operator probe: NGINX's 502).
    const cut: string[] = [];
    const cutter = createServer((socket) => {
      socket.once('data', (chunk) => {
        cut.push(chunk.toString('latin1').split('\r\n')[0]!);
        socket.destroy();
      });
    });
    await new Promise<void>((resolve) => cutter.listen(0, '127.0.0.1', resolve));
    const pair = await startNginx(NGINX!, { upstreamPort: [(cutter.address() as AddressInfo).port, app.server.port], wsPath: WS_PATH });
    try {
      const authorization = `Bearer ${await app.token('resent-a')}`;
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const body = JSON.stringify({ messageId: `resent-${i}`, to: 'resent-b', body: 'cut, then resent' });
        statuses.push((await fetch(`http://127.0.0.1:${pair.port}/api/messages`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body })).status);
      }
      assert.ok(cut.some((line) => line.startsWith('POST /api/messages')), `the cutting instance was sent a send: ${JSON.stringify(cut)}`);
      assert.deepEqual(statuses, [201, 201, 201, 201]);
      for (let i = 0; i < 4; i++) assert.ok(await app.store.getMessage(`resent-${i}`), `resent-${i} stored`);
    } finally {
      await pair.stop();
      cutter.close();
    }
  });

  // F1 of the rolling-restart probe: NGINX answered 502 to everything for seconds while one instance was
  // healthy. An instance that failed once stays "failed" until a request to it *ends* well; a WebSocket
  // request does not end, so an instance restarted and given only upgrades since is skipped again for
  // fail_timeout after each one. Stop the other instance then and, without the template's backup lines,
  // NGINX has "no live upstreams". Two real processes (A killed with -9, B stopped with SIGTERM) and
  // render.sh's default fail_timeout (5 s) make this case take about 15 s.
  it('never answers 502 while one of two instances is stopped and the other is up', { timeout: 40_000 }, async () => {
    const env = productionEnv({ JWT_SECRET: TEST_SECRET, WS_PATH, TRUST_PROXY: 'true' });
    const metricsKey = { 'x-metrics-key': env.METRICS_SECRET! };
    // Fixed ports: a restart must bind the same one, and only a fixed port gets SO_REUSEADDR (listen.ts).
    const [portA, portB] = [await freePort(), await freePort()];
    const processes: ServerProcess[] = [spawnServer({ ...env, PORT: String(portA) }), spawnServer({ ...env, PORT: String(portB) })];
    await Promise.all(processes.map((p) => p.listening));
    const pair = await startNginx(NGINX!, { upstreamPort: [portA, portB], wsPath: WS_PATH });
    const token = await signToken({ secret: TEST_SECRET, userId: 'roller', ttlSec: 600 });
    const held: TestClient[] = [];
    const answers: { ms: number; what: string; status: number | string }[] = [];
    const started = Date.now();
    let sending = 'upgrades and GETs' as 'upgrades and GETs' | 'upgrades' | 'nothing';
    let running = true;
    let errorLog = '';
    // Clients as during a rolling restart: an upgrade (kept open) and a GET every 100 ms, all through NGINX.
    const traffic = (async () => {
      for (let i = 0; running; i++) {
        if (sending === 'nothing') {
          await sleep(20);
          continue;
        }
        const upgrade = TestClient.connect(`ws://127.0.0.1:${pair.port}${WS_PATH}?device=d${i}`, { token }).then(
          (client) => (held.push(client), 101),
          (error: unknown) => (error instanceof UpgradeRefused ? error.status : String(error)),
        );
        const get = sending === 'upgrades and GETs' ? fetch(`http://127.0.0.1:${pair.port}/healthz`).then((res) => res.status, String) : undefined;
        const [ws, http] = await Promise.all([upgrade, get]);
        answers.push({ ms: Date.now() - started, what: 'upgrade', status: ws });
        if (http !== undefined) answers.push({ ms: Date.now() - started, what: 'GET /healthz', status: http });
        await sleep(100);
      }
    })();
    const connectionsOn = async (port: number) => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: metricsKey }).then((res) => res.text(), () => '');
      return Number(/^chat_connections_open(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
    };
    try {
      await sleep(300);
      processes[0]!.kill('SIGKILL'); // A dies: NGINX marks it failed on the next request it sends there
      await processes[0]!.exited;
      while (!(await pair.errorLog()).includes(`upstream: "http://127.0.0.1:${portA}`)) await sleep(20);
      // Quiet until A's replacement listens: a request after fail_timeout would fail on A again and
      // restart its 5 s, which only makes the case slower.
      sending = 'nothing';
      processes[0] = spawnServer({ ...env, PORT: String(portA) }); // its replacement, on the same port
      await processes[0].listening;
      // Upgrades only now, as in a reconnect wave: a GET that ended well on A would clear its failure early.
      sending = 'upgrades';
      while ((await connectionsOn(portA)) === 0) {
        assert.ok(Date.now() - started < 25_000, 'NGINX never sent the replacement a WebSocket');
        await sleep(100);
      }
      sending = 'upgrades and GETs';
      processes[1]!.kill('SIGTERM'); // the next rolling-restart step, while A holds its first new socket
      await processes[1]!.exited;
      const stoppedAt = answers.length;
      while (answers.length - stoppedAt < 20) await sleep(100);
    } finally {
      running = false;
      await traffic;
      await Promise.all(held.map((client) => client.terminate()));
      for (const p of processes) p.kill('SIGKILL');
      await Promise.all(processes.map((p) => p.exited));
      errorLog = await pair.errorLog();
      await pair.stop();
    }
    const bad = answers.filter((a) => a.status !== 101 && a.status !== 200);
    assert.deepEqual(bad, [], [
      'answers other than 101/200 while an instance was up:',
      ...bad.map((a) => `${a.ms} ms ${a.what} ${a.status}`),
      ...errorLog.split('\n').filter((line) => /no live upstreams|temporarily disabled/.test(line)).slice(0, 5),
    ].join('\n'));
  });

  it('serves the same routes through the TLS server block', { timeout, skip: !OPENSSL && skipReason('openssl') }, async () => {
    const base = `https://localhost:${proxy.tlsPort}`;
    const get = (path: string) =>
      new Promise<number>((resolve, reject) =>
        request(`${base}${path}`, { ca: proxy.tlsCert }, (res) => resolve(res.resume().statusCode ?? 0)).on('error', reject).end(),
      );
    assert.equal(await get('/healthz'), 200);
    assert.equal(await get('/metrics'), 403);
    const socket = new WebSocket(`wss://localhost:${proxy.tlsPort}${WS_PATH}`, {
      ca: proxy.tlsCert,
      headers: { cookie: `token=${await app.token('tls-user')}`, origin: ORIGIN },
    });
    const first = await new Promise<Frame>((resolve, reject) => {
      socket.once('message', (data) => resolve(JSON.parse(String(data)) as Frame));
      socket.once('error', reject);
    });
    assert.deepEqual(first, { type: 'ready', replayed: 0 });
    socket.close();
  });
});
