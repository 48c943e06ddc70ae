// Authentication at the WebSocket upgrade and on HTTP: every rejection, both credential sources, origins.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeStatus } from '../helpers/ws-client.js';

const key = new TextEncoder().encode(TEST_SECRET);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const future = () => Math.floor(Date.now() / 1000) + 600;

describe('authentication', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('refuses an upgrade without a token with 401', async () => {
    assert.equal(await upgradeStatus(t.wsUrl), 401);
  });

  it('refuses alg:none, other algorithms, a bad signature, expiry, future nbf, and bad sub claims', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const cases: Record<string, string> = {
      none: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'mallory', exp: future() })}.`,
      hs512: await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('mallory').setExpirationTime(future()).sign(key),
      rs256: await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('mallory').setExpirationTime(future()).sign(privateKey),
      badSignature: await t.token('mallory', { secret: 'another-secret' }),
      expired: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime(Math.floor(Date.now() / 1000) - 10).sign(key),
      futureNbf: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setNotBefore(future()).setExpirationTime(future()).sign(key),
      noExp: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').sign(key),
      noSub: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(future()).sign(key),
      badSub: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('not a valid id!').setExpirationTime(future()).sign(key),
      objectSub: await new SignJWT({ sub: { $ne: null } as unknown as string }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(future()).sign(key),
      garbage: 'not.a.jwt',
    };
    for (const [name, token] of Object.entries(cases)) {
      assert.equal(await upgradeStatus(t.wsUrl, { token }), 401, name);
      const res = await fetch(`${t.httpUrl}/api/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messageId: `auth-${name}`, to: 'bob', body: 'x' }),
      });
      assert.equal(res.status, 401, `HTTP ${name}`);
    }
    assert.equal((await t.store.counts()).messages, 0);
  });

  it('accepts the token from the cookie (browsers) and from a Bearer header (other clients)', async () => {
    const token = await t.token('carol');
    const viaCookie = await TestClient.connect(t.wsUrl, { cookie: `theme=dark; ${t.config.cookie.name}=${token}` });
    await viaCookie.next((f) => f.type === 'ready');
    const viaBearer = await TestClient.connect(t.wsUrl, { token });
    await viaBearer.next((f) => f.type === 'ready');
    await Promise.all([viaCookie.close(), viaBearer.close()]);
  });

  it('does not let a valid cookie override an invalid Authorization header', async () => {
    const good = await t.token('carol');
    const status = await upgradeStatus(t.wsUrl, { cookie: `${t.config.cookie.name}=${good}`, headers: { authorization: 'Bearer bad.token.here' } });
    assert.equal(status, 401);
    assert.equal(await upgradeStatus(t.wsUrl, { cookie: `${t.config.cookie.name}=${good}`, headers: { authorization: 'Basic Zm9vOmJhcg==' } }), 401);
  });

  it('closes an open socket with 4001 when its token expires', async () => {
    // 2 s: the expiry is a whole second (exp = floor(now) + ttl), so 1 s could be spent before the upgrade.
    const client = await TestClient.connect(t.wsUrl, { token: await t.token('shortlived', { ttlSec: 2 }) });
    const { code } = await client.closed;
    assert.equal(code, 4001);
  });

  it('only ever shows, confirms or replays a user’s own messages', async () => {
    const { client: alice } = await TestClient.connectReady(t.wsUrl, await t.token('alice'));
    await alice.sendMessage('private-1', 'bob', 'for bob only');
    // Mallory confirms Bob's message and syncs: nothing of Bob's reaches her or changes.
    const { client: mallory, replayed } = await TestClient.connectReady(t.wsUrl, await t.token('mallory'));
    assert.equal(replayed.length, 0);
    mallory.send({ type: 'delivered', messageIds: ['private-1'] });
    mallory.send({ type: 'sync' });
    assert.deepEqual(await mallory.next((f) => f.type === 'ready'), { type: 'ready', replayed: 0 });
    assert.equal((await t.store.deliveryState('private-1', 'bob'))?.status, 'pending');
    // A forged `from` is ignored: the sender is always the token's subject.
    mallory.send({ type: 'send', messageId: 'forged-1', from: 'alice', to: 'bob', body: 'hi' });
    await mallory.next((f) => f.messageId === 'forged-1');
    assert.equal((await t.store.getMessage('forged-1'))?.from, 'mallory');
    const { client: bob, replayed: bobGot } = await TestClient.connectReady(t.wsUrl, await t.token('bob'));
    assert.deepEqual(bobGot.map((f) => [f.messageId, f.from]), [['private-1', 'alice'], ['forged-1', 'mallory']]);
    await Promise.all([alice.close(), mallory.close(), bob.close()]);
  });
});

describe('origins (production)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      env: {
        NODE_ENV: 'production',
        DB_URI: 'mem',
        COOKIE_DOMAIN: '.localhost',
        CORS_ORIGIN: 'https://app.example.com,http://localhost:3000',
        WS_PATH: '/ws',
        METRICS_SECRET: 'metrics-secret-for-tests',
      },
    });
  });
  after(() => t.close());

  it('refuses a cross-site WebSocket upgrade with 403 and allows listed origins and non-browser clients', async () => {
    const token = await t.token('dave');
    assert.equal(await upgradeStatus(t.wsUrl, { token, origin: 'https://evil.example.net' }), 403);
    assert.equal(await upgradeStatus(t.wsUrl, { token, origin: 'https://app.example.com' }), 101);
    assert.equal(await upgradeStatus(t.wsUrl, { token, origin: 'http://localhost:3000' }), 101);
    assert.equal(await upgradeStatus(t.wsUrl, { token }), 101);
  });

  it('answers CORS preflights for allowed origins only, with credentials and Vary: Origin', async () => {
    const ok = await fetch(`${t.httpUrl}/api/messages`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ok.headers.get('vary') ?? '', /Origin/);
    const bad = await fetch(`${t.httpUrl}/api/messages`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.net' } });
    assert.equal(bad.status, 403);
    assert.equal(bad.headers.get('access-control-allow-origin'), null);
  });
});
