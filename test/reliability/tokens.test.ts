// Token attacks and impersonation beyond test/integration/auth.test.ts: algorithm confusion with the
// server's own secret, forged and spliced signatures, audience and issuer when configured, expiry
// against the verifier's cache, Bearer-versus-cookie precedence on both doors, hostile user ids, and
// cross-site WebSocket hijacking with look-alike origins.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { signToken } from '../../src/auth/jwt.js';
import { startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeStatus } from '../helpers/ws-client.js';

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const future = () => Math.floor(Date.now() / 1000) + 600;

/** A JWT with any header, signed with HMAC-SHA256 over the secret whatever `alg` says. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, secret = TEST_SECRET, hash = 'sha256'): string {
  const signingInput = `${b64(header)}.${b64(payload)}`;
  return `${signingInput}.${createHmac(hash, secret).update(signingInput).digest('base64url')}`;
}

async function postStatus(t: TestServer, headers: Record<string, string>, messageId: string): Promise<number> {
  const res = await fetch(`${t.httpUrl}/api/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messageId, to: 'victim', body: 'x' }),
  });
  return res.status;
}

describe('token attacks', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('refuses algorithm confusion and forged or spliced signatures, on both doors', async () => {
    const claims = { sub: 'mallory', exp: future() };
    const alice = await t.token('alice');
    const [aliceHeader, , aliceSignature] = alice.split('.');
    const cases: Record<string, string> = {
      'RS256 header, HMAC with the secret': forge({ alg: 'RS256', typ: 'JWT' }, claims),
      'ES256 header, HMAC with the secret': forge({ alg: 'ES256', typ: 'JWT' }, claims),
      'PS256 header, HMAC with the secret': forge({ alg: 'PS256', typ: 'JWT' }, claims),
      'HS384 with the secret': forge({ alg: 'HS384', typ: 'JWT' }, claims, TEST_SECRET, 'sha384'),
      'HS512 with the secret': forge({ alg: 'HS512', typ: 'JWT' }, claims, TEST_SECRET, 'sha512'),
      'alg "hs256" (case)': forge({ alg: 'hs256', typ: 'JWT' }, claims),
      'alg "None"': `${b64({ alg: 'None' })}.${b64(claims)}.`,
      'alg "NONE"': `${b64({ alg: 'NONE' })}.${b64(claims)}.`,
      'alg none with a signature': `${b64({ alg: 'none' })}.${b64(claims)}.${aliceSignature}`,
      'no alg': forge({ typ: 'JWT' }, claims),
      'HS256 with an empty signature': `${b64({ alg: 'HS256' })}.${b64(claims)}.`,
      "alice's signature on mallory's claims (splice)": `${aliceHeader}.${b64(claims)}.${aliceSignature}`,
      'unknown critical header': forge({ alg: 'HS256', crit: ['x-evil'], 'x-evil': true }, claims),
      'exp as a string': forge({ alg: 'HS256' }, { sub: 'mallory', exp: String(future()) }),
      'exp past year 9999 (no date holds it)': forge({ alg: 'HS256' }, { sub: 'mallory', exp: 1e308 }),
      'sub as an array': forge({ alg: 'HS256' }, { sub: ['alice'], exp: future() }),
      'sub with a NUL': forge({ alg: 'HS256' }, { sub: 'alice\u0000admin', exp: future() }),
      'token over 4 KiB': forge({ alg: 'HS256' }, { sub: 'mallory', exp: future(), pad: 'x'.repeat(5000) }),
      'two tokens joined': `${alice}.${alice}`,
    };
    for (const [name, token] of Object.entries(cases)) {
      assert.equal(await upgradeStatus(t.wsUrl, { token }), 401, `WebSocket: ${name}`);
      assert.equal(await postStatus(t, { authorization: `Bearer ${token}` }, 'forged'), 401, `HTTP: ${name}`);
      assert.equal(await upgradeStatus(t.wsUrl, { cookie: `${t.config.cookie.name}=${token}` }), 401, `cookie: ${name}`);
    }
    // The control: the same forge with the right algorithm is accepted, so the refusals above are about the algorithm.
    assert.equal(await upgradeStatus(t.wsUrl, { token: forge({ alg: 'HS256', typ: 'JWT' }, claims) }), 101);
    assert.equal(await t.store.getMessage('forged'), undefined);
  });

  it('refuses an iat more than a minute ahead (it would outlive every revocation), or not a number, on both doors', async () => {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'HS256', typ: 'JWT' };
    const withIat = (iat: unknown) => forge(header, { sub: 'early', exp: future(), iat });
    for (const [iat, expected] of [[now + 1000, 401], ['yesterday', 401], [now + 30, 201], [now + 0.5, 201]] as const) {
      const token = withIat(iat);
      assert.equal(await postStatus(t, { authorization: `Bearer ${token}` }, `iat-${String(iat).replace('.', '_')}`), expected, `iat ${iat}`);
      assert.equal(await upgradeStatus(t.wsUrl, { token }), expected === 201 ? 101 : 401, `iat ${iat} (upgrade)`);
    }
  });

  it('refuses a token in the query string (it would leak into logs): only the header or the cookie count', async () => {
    const token = await t.token('alice');
    assert.equal(await upgradeStatus(`${t.wsUrl}?token=${token}`), 401);
    assert.equal(await upgradeStatus(`${t.wsUrl}?access_token=${token}`), 401);
  });

  it('closes a socket with 4001 at expiry and refuses the same token afterwards, even from the verifier cache', async () => {
    const token = await t.token('brief', { ttlSec: 2 });
    assert.equal(await postStatus(t, { authorization: `Bearer ${token}` }, 'brief-1'), 201); // cached from here on
    const client = await TestClient.connect(t.wsUrl, { token });
    assert.equal((await client.closed).code, 4001);
    assert.equal(await upgradeStatus(t.wsUrl, { token }), 401);
    assert.equal(await postStatus(t, { authorization: `Bearer ${token}` }, 'brief-2'), 401);
    assert.equal(await t.store.getMessage('brief-2'), undefined);
  });

  it('Bearer header over cookie: the header decides when present, on both doors, and a bad header is never rescued by a good cookie', async () => {
    const alice = await t.token('alice');
    const bob = await t.token('bob');
    const cookie = `${t.config.cookie.name}=${bob}`;
    // Both valid and disagreeing: the header's user, on the WebSocket…
    const client = await TestClient.connect(t.wsUrl, { token: alice, cookie });
    await client.next((f) => f.type === 'ready');
    assert.equal((await client.sendMessage('who-ws', 'victim', 'x')).status, 'SENT');
    assert.equal((await t.store.getMessage('who-ws'))?.from, 'alice');
    await client.close();
    // …and on HTTP.
    assert.equal(await postStatus(t, { authorization: `Bearer ${alice}`, cookie }, 'who-http'), 201);
    assert.equal((await t.store.getMessage('who-http'))?.from, 'alice');
    // An invalid or malformed header is refused even with a valid cookie.
    for (const authorization of [`Bearer ${alice}x`, 'Bearer', 'Basic YWxpY2U6cHc=', `Token ${alice}`, `Bearer ${alice} ${alice}`]) {
      assert.equal(await postStatus(t, { authorization, cookie }, 'rescued'), 401, authorization.slice(0, 20));
      assert.equal(await upgradeStatus(t.wsUrl, { cookie, headers: { authorization } }), 401, authorization.slice(0, 20));
    }
    // The first cookie of the name decides: a bad one is not skipped for a good one behind it.
    assert.equal(await upgradeStatus(t.wsUrl, { cookie: `${t.config.cookie.name}=garbage; ${cookie}` }), 401);
    assert.equal(await t.store.getMessage('rescued'), undefined);
  });

  it('isolates users named like prototype properties (__proto__, constructor, hasOwnProperty)', async () => {
    const names = ['__proto__', 'constructor', 'hasOwnProperty', 'toString'];
    const { client: sender } = await TestClient.connectReady(t.wsUrl, await t.token('proto-sender'));
    for (const name of names) assert.equal((await sender.sendMessage(`to-${name}`, name, `for ${name}`)).status, 'SENT');
    for (const name of names) {
      const { client, replayed } = await TestClient.connectReady(t.wsUrl, await t.token(name));
      assert.deepEqual(replayed.map((f) => [f.messageId, f.to]), [[`to-${name}`, name]]);
      client.send({ type: 'delivered', messageIds: names.map((n) => `to-${n}`) });
      await sender.next((f) => f.status === 'DELIVERED' && f.messageId === `to-${name}`);
      await client.close();
    }
    for (const name of names) assert.equal((await t.store.deliveryState(`to-${name}`, name))?.marks, 1);
    await sender.close();
  });

  it('ignores identity fields in frames: sync, delivered and send act for the token’s user only', async () => {
    const { client: alice } = await TestClient.connectReady(t.wsUrl, await t.token('alice2'));
    await alice.sendMessage('secret-for-bob', 'bob2', 'bob only');
    const { client: mallory } = await TestClient.connectReady(t.wsUrl, await t.token('mallory2'));
    mallory.send({ type: 'sync', userId: 'bob2', user: 'bob2', to: 'bob2', sub: 'bob2' });
    assert.deepEqual(await mallory.next((f) => f.type === 'ready'), { type: 'ready', replayed: 0 });
    mallory.send({ type: 'delivered', messageIds: ['secret-for-bob'], userId: 'bob2', to: 'bob2', from: 'bob2' });
    mallory.send({ type: 'send', messageId: 'spoof', to: 'bob2', body: 'hi', from: 'alice2', sub: 'alice2', userId: 'alice2' });
    await mallory.next((f) => f.messageId === 'spoof');
    assert.equal((await t.store.deliveryState('secret-for-bob', 'bob2'))?.status, 'pending');
    assert.equal((await t.store.getMessage('spoof'))?.from, 'mallory2');
    assert.equal(mallory.frames.some((f) => f.type === 'message' || f.status === 'DELIVERED'), false);
    await Promise.all([alice.close(), mallory.close()]);
  });
});

describe('audience and issuer, when configured', () => {
  let t: TestServer;
  const sign = (claims: { aud?: string | string[]; iss?: string }) => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('carol').setExpirationTime(future());
    if (claims.aud !== undefined) jwt = jwt.setAudience(claims.aud);
    if (claims.iss !== undefined) jwt = jwt.setIssuer(claims.iss);
    return jwt.sign(new TextEncoder().encode(TEST_SECRET));
  };
  before(async () => {
    t = await startTestServer({ env: { JWT_AUDIENCE: 'chat-api', JWT_ISSUER: 'https://auth.example.com' } });
  });
  after(() => t.close());

  it('accepts only tokens for this audience from this issuer', async () => {
    const iss = 'https://auth.example.com';
    const refused: Record<string, string> = {
      'no aud': await sign({ iss }),
      'another audience': await sign({ aud: 'billing-api', iss }),
      'audience prefix': await sign({ aud: 'chat-api-admin', iss }),
      'no iss': await sign({ aud: 'chat-api' }),
      'another issuer': await sign({ aud: 'chat-api', iss: 'https://evil.example.com' }),
      'neither (a token of the unconfigured kind)': await t.token('carol'),
    };
    for (const [name, token] of Object.entries(refused)) {
      assert.equal(await upgradeStatus(t.wsUrl, { token }), 401, name);
      assert.equal(await postStatus(t, { authorization: `Bearer ${token}` }, 'aud'), 401, name);
    }
    assert.equal(await upgradeStatus(t.wsUrl, { token: await sign({ aud: 'chat-api', iss }) }), 101);
    assert.equal(await upgradeStatus(t.wsUrl, { token: await sign({ aud: ['billing-api', 'chat-api'], iss }) }), 101);
    const own = await signToken({ secret: TEST_SECRET, userId: 'carol', ttlSec: 60, audience: 'chat-api', issuer: iss });
    assert.equal(await postStatus(t, { authorization: `Bearer ${own}` }, 'aud-ok'), 201);
    assert.equal(await t.store.getMessage('aud'), undefined);
  });
});

describe('cross-site WebSocket hijacking (production)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      env: { NODE_ENV: 'production', DB_URI: 'mem', COOKIE_DOMAIN: '.example.com', CORS_ORIGIN: 'https://app.example.com', WS_PATH: '/ws', METRICS_SECRET: 'metrics-secret-for-tests' },
    });
  });
  after(() => t.close());

  it('refuses look-alike origins with 403, even with a valid cookie, and counts them', async () => {
    const cookie = `${t.config.cookie.name}=${await t.token('victim')}`;
    const foreign = [
      'https://evil.example.net', 'null', 'https://app.example.com.evil.net', 'https://evil-app.example.com', 'http://app.example.com',
      'https://app.example.com:8443', 'https://APP.EXAMPLE.COM', 'https://app.example.com/', 'https://app.example.com@evil.net',
    ];
    for (const origin of foreign) assert.equal(await upgradeStatus(t.wsUrl, { cookie, origin }), 403, origin);
    assert.equal(await upgradeStatus(t.wsUrl, { cookie, origin: 'https://app.example.com' }), 101);
    const rejected = (await t.server.metrics.upgradesRejected.get()).values.find((v) => v.labels.reason === 'origin');
    assert.equal(rejected?.value, foreign.length);
  });

  it('a write from a foreign origin is refused with 403 before anything happens, whatever its content type; one from no origin or an allowed one goes through', async () => {
    const cookie = `${t.config.cookie.name}=${await t.token('victim')}`;
    const post = (messageId: string, headers: Record<string, string>) =>
      fetch(`${t.httpUrl}/api/messages`, { method: 'POST', headers: { cookie, ...headers }, body: JSON.stringify({ messageId, to: 'mallory', body: 'x' }) });
    // text/plain: the only kind a browser sends cross-site without a preflight (a form post).
    for (const [messageId, contentType] of [['csrf-form', 'text/plain'], ['csrf-json', 'application/json']]) {
      const res = await post(messageId!, { origin: 'https://evil.example.net', 'content-type': contentType! });
      assert.equal(res.status, 403, contentType);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /Origin not allowed/);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.equal(await t.store.getMessage(messageId!), undefined);
    }
    const rename = await fetch(`${t.httpUrl}/api/conversations/d:mallory:victim`, { method: 'PATCH', headers: { cookie, origin: 'null', 'content-type': 'application/json' }, body: '{"title":"x"}' });
    assert.equal(rename.status, 403);
    assert.equal((await post('same-site', { origin: 'https://app.example.com', 'content-type': 'application/json' })).status, 201);
    assert.equal((await post('no-origin', { 'content-type': 'application/json' })).status, 201, 'a client that is not a browser sends no Origin');
  });
});
