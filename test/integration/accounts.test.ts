// Accounts over HTTP against the real server: register, login, refresh, logout, me; the session
// cookie's attributes; signup rules; input validation; identical answers for a wrong user and a wrong
// password; rate limits; CORS with credentials.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { signToken } from '../../src/auth/jwt.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

const PASSWORD = 'correct horse battery';
const GENEROUS = { AUTH_RATE_PER_IP_PER_MIN: '100000', AUTH_RATE_PER_USER_PER_MIN: '100000' };

function post(t: TestServer, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${t.httpUrl}${path}`, {
    method: 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

/**
 * The Set-Cookie line of cookie `name` (the session cookie by default) split into its name=value and
 * attributes (attribute names lower-cased). Register and login also set the known-device cookie.
 */
function parseSetCookie(res: Response, name = 'token'): { name: string; value: string; attributes: Map<string, string> } {
  const cookies = res.headers.getSetCookie().filter((line) => line.startsWith(`${name}=`));
  assert.equal(cookies.length, 1, `exactly one Set-Cookie of ${name}`);
  const [pair, ...rest] = cookies[0]!.split(';').map((part) => part.trim());
  const eq = pair!.indexOf('=');
  const attributes = new Map(rest.map((part) => [part.split('=')[0]!.toLowerCase(), part.includes('=') ? part.slice(part.indexOf('=') + 1) : '']));
  return { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), attributes };
}

describe('accounts', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: GENEROUS });
  });
  after(() => t.close());

  it('register answers 201 {userId, expiresAt} and sets an HttpOnly, SameSite=Lax, Path=/ cookie holding an HS256 JWT', async () => {
    const before = Date.now();
    const res = await post(t, '/api/auth/register', { username: 'alice', password: PASSWORD });
    assert.equal(res.status, 201);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['expiresAt', 'userId']);
    assert.equal(body.userId, 'alice');
    const cookie = parseSetCookie(res);
    assert.equal(cookie.name, 'token');
    for (const attribute of ['httponly', 'path', 'samesite', 'max-age']) assert.ok(cookie.attributes.has(attribute), attribute);
    assert.equal(cookie.attributes.get('path'), '/');
    assert.equal(cookie.attributes.get('samesite'), 'Lax');
    assert.equal(cookie.attributes.get('max-age'), '86400');
    assert.equal(cookie.attributes.has('secure'), false, 'no Secure outside production');
    assert.equal(cookie.attributes.has('domain'), false, 'host-only without COOKIE_DOMAIN');
    assert.equal(decodeProtectedHeader(cookie.value).alg, 'HS256');
    const claims = decodeJwt(cookie.value);
    assert.equal(claims.sub, 'alice');
    assert.equal(body.expiresAt, claims.exp! * 1000);
    assert.ok(claims.exp! * 1000 >= before + 86_400_000 - 2000 && claims.exp! * 1000 <= Date.now() + 86_400_000 + 1000, 'exp = JWT_TTL from now');
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  it('the cookie authenticates GET /api/me and the WebSocket; logout clears it with the same attributes', async () => {
    const login = await post(t, '/api/auth/login', { username: 'alice', password: PASSWORD });
    assert.equal(login.status, 200);
    const { value } = parseSetCookie(login);
    const me = await fetch(`${t.httpUrl}/api/me`, { headers: { cookie: `token=${value}` } });
    assert.equal(me.status, 200);
    assert.deepEqual(await me.json(), { userId: 'alice', expiresAt: decodeJwt(value).exp! * 1000 });
    const socket = await TestClient.connect(t.wsUrl, { cookie: `token=${value}` });
    await socket.next((f) => f.type === 'ready');
    await socket.close();

    const logout = await post(t, '/api/auth/logout', undefined, { cookie: `token=${value}` });
    assert.equal(logout.status, 204);
    const cleared = parseSetCookie(logout);
    assert.equal(cleared.name, 'token');
    assert.equal(cleared.value, '');
    assert.equal(cleared.attributes.get('max-age'), '0');
    assert.equal(cleared.attributes.get('path'), '/');
    assert.equal(cleared.attributes.get('samesite'), 'Lax');
    assert.ok(cleared.attributes.has('httponly'));
    assert.equal((await fetch(`${t.httpUrl}/api/me`)).status, 401);
  });

  it('returns the token in the body only when asked ("bearer": true); it works as a Bearer token', async () => {
    const plain = await post(t, '/api/auth/login', { username: 'alice', password: PASSWORD });
    assert.equal(((await plain.json()) as Record<string, unknown>).token, undefined);
    const res = await post(t, '/api/auth/login', { username: 'ALICE', password: PASSWORD, bearer: true });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { userId: string; token: string };
    assert.equal(body.userId, 'alice', 'login ignores case; the user id is the name as registered');
    const me = await fetch(`${t.httpUrl}/api/me`, { headers: { authorization: `Bearer ${body.token}` } });
    assert.equal(((await me.json()) as Record<string, unknown>).userId, 'alice');
    const { client } = await TestClient.connectReady(t.wsUrl, body.token);
    await client.close();
  });

  it('refresh re-issues a still-valid token: a new cookie for cookie callers, the token in the body for Bearer callers', async () => {
    const { value } = parseSetCookie(await post(t, '/api/auth/login', { username: 'alice', password: PASSWORD }));
    const viaCookie = await post(t, '/api/auth/refresh', undefined, { cookie: `token=${value}` });
    assert.equal(viaCookie.status, 200);
    const renewed = parseSetCookie(viaCookie);
    assert.equal(decodeJwt(renewed.value).sub, 'alice');
    assert.equal(((await viaCookie.json()) as Record<string, unknown>).token, undefined);

    const viaBearer = await post(t, '/api/auth/refresh', undefined, { authorization: `Bearer ${value}` });
    assert.equal(viaBearer.status, 200);
    assert.deepEqual(viaBearer.headers.getSetCookie(), []);
    const body = (await viaBearer.json()) as { userId: string; expiresAt: number; token: string };
    assert.equal(decodeJwt(body.token).sub, 'alice');
    assert.equal(body.expiresAt, decodeJwt(body.token).exp! * 1000);

    assert.equal((await post(t, '/api/auth/refresh')).status, 401);
    const expired = await signToken({ secret: t.config.jwt.secret, userId: 'alice', ttlSec: -10 });
    assert.equal((await post(t, '/api/auth/refresh', undefined, { authorization: `Bearer ${expired}` })).status, 401);
    const forged = await signToken({ secret: 'another-secret', userId: 'alice', ttlSec: 600 });
    assert.equal((await post(t, '/api/auth/refresh', undefined, { cookie: `token=${forged}` })).status, 401);
  });

  it('renews a session for JWT_SESSION_MAX at most, from its login, or a token minted elsewhere from its iat', async () => {
    const maxSec = t.config.jwt.sessionMaxSec;
    const now = Math.floor(Date.now() / 1000);
    const refresh = async (token: string) => post(t, '/api/auth/refresh', undefined, { authorization: `Bearer ${token}` });
    // A login starts a session: its token carries sst, and refreshing keeps it.
    const login = (await (await post(t, '/api/auth/login', { username: 'alice', password: PASSWORD, bearer: true })).json()) as { token: string };
    const started = decodeJwt(login.token).sst as number;
    assert.ok(Math.abs(started - now) <= 2);
    const again = (await (await refresh(login.token)).json()) as { token: string };
    assert.equal(decodeJwt(again.token).sst, started, 'refresh keeps when the session began');
    // Near its end the new token lives only until then; past it, log in again.
    const late = await signToken({ secret: t.config.jwt.secret, userId: 'alice', ttlSec: 600, sessionStart: now - maxSec + 100 });
    const capped = (await (await refresh(late)).json()) as { token: string };
    assert.ok(decodeJwt(capped.token).exp! <= now - maxSec + 100 + maxSec + 2, 'exp at most sst + JWT_SESSION_MAX');
    const over = await signToken({ secret: t.config.jwt.secret, userId: 'alice', ttlSec: 600, sessionStart: now - maxSec - 1 });
    const refused = await refresh(over);
    assert.equal(refused.status, 401);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /JWT_SESSION_MAX/);
    // A token minted elsewhere (no sst) counts from its iat: an old one is not renewed for ever.
    const external = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('sso-old').setIssuedAt(now - maxSec - 10).setExpirationTime(now + 60);
    assert.equal((await refresh(await external.sign(new TextEncoder().encode(t.config.jwt.secret)))).status, 401);
    // Nor one without iat, whose session would begin again at every refresh.
    const noIat = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('sso-no-iat').setExpirationTime(now + 60);
    assert.equal((await refresh(await noIat.sign(new TextEncoder().encode(t.config.jwt.secret)))).status, 401);
  });

  it('accepts tokens minted elsewhere with the same secret (an external identity service): me and refresh work', async () => {
    const external = await signToken({ secret: t.config.jwt.secret, userId: 'sso-user@corp', ttlSec: 600 });
    const me = await fetch(`${t.httpUrl}/api/me`, { headers: { authorization: `Bearer ${external}` } });
    assert.equal(((await me.json()) as Record<string, unknown>).userId, 'sso-user@corp');
    const refreshed = await post(t, '/api/auth/refresh', undefined, { authorization: `Bearer ${external}` });
    assert.equal(refreshed.status, 200);
  });

  it('answers 409 for a taken username (any case) and leaves the account unchanged', async () => {
    const taken = await post(t, '/api/auth/register', { username: 'Alice', password: 'another password' });
    assert.equal(taken.status, 409);
    assert.equal(((await taken.json()) as { error: { code: string } }).error.code, 'conflict');
    assert.deepEqual(taken.headers.getSetCookie(), []);
    assert.equal((await post(t, '/api/auth/login', { username: 'alice', password: 'another password' })).status, 401);
    assert.equal((await post(t, '/api/auth/login', { username: 'alice', password: PASSWORD })).status, 200);
  });

  it('refuses bad input with 400 (objects where strings belong, bad names, short or long passwords), 415 and 413', async () => {
    const bad: unknown[] = [
      {},
      [],
      'null',
      '"alice"',
      '{"username":"alice",',
      { username: 'alice' },
      { password: PASSWORD },
      { username: { $ne: null }, password: PASSWORD },
      { username: 'alice', password: { $gt: '' } },
      { username: ['alice'], password: PASSWORD },
      { username: 'alice', password: 12345678 },
      { username: 'not valid!', password: PASSWORD },
      { username: '', password: PASSWORD },
      { username: 'x'.repeat(65), password: PASSWORD },
      // Dot segments: a URL parser turns /members/.. into another path, so nobody could remove them.
      { username: '.', password: PASSWORD },
      { username: '..', password: PASSWORD },
      { username: 'dave', password: 'short' },
      { username: 'dave', password: 'x'.repeat(1025) },
      { username: 'dave', password: `${'x'.repeat(8)}\ud800` },
      { username: 'dave', password: PASSWORD, bearer: 'yes' },
    ];
    for (const body of bad) {
      for (const path of ['/api/auth/register', '/api/auth/login']) {
        const res = await post(t, path, body);
        assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'bad_request');
      }
    }
    // 1024 characters (emoji count once) is the longest accepted password.
    assert.equal((await post(t, '/api/auth/register', { username: '...', password: PASSWORD })).status, 201, 'three dots are no dot segment');
    assert.equal((await post(t, '/api/auth/register', { username: 'emoji', password: '🔑'.repeat(1024) })).status, 201);
    assert.equal((await post(t, '/api/auth/login', { username: 'emoji', password: '🔑'.repeat(1024) })).status, 200);
    assert.equal((await post(t, '/api/auth/login', JSON.stringify({ username: 'alice', password: PASSWORD }), { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post(t, '/api/auth/login', JSON.stringify({ username: 'alice', password: PASSWORD }), { 'content-encoding': 'br' })).status, 415);
    assert.equal((await post(t, '/api/auth/login', { username: 'alice', password: PASSWORD, pad: 'x'.repeat(10_000) })).status, 413);
  });

  it('answers a wrong username and a wrong password identically, in the same time', async (ctx) => {
    const attempt = async (username: string) => {
      const started = performance.now();
      const res = await post(t, '/api/auth/login', { username, password: 'wrong password' });
      const ms = performance.now() - started;
      return { status: res.status, body: await res.text(), cookies: res.headers.getSetCookie(), ms };
    };
    const wrongPassword = [];
    const noSuchUser = [];
    for (let i = 0; i < 7; i++) {
      wrongPassword.push(await attempt('alice'));
      noSuchUser.push(await attempt(`nobody${i}`));
    }
    for (const result of [...wrongPassword, ...noSuchUser]) {
      assert.equal(result.status, 401);
      assert.equal(result.body, wrongPassword[0]!.body);
      assert.deepEqual(result.cookies, []);
    }
    assert.deepEqual(JSON.parse(wrongPassword[0]!.body), { error: { code: 'unauthorized', message: 'Wrong username or password' } });
    const median = (results: { ms: number }[]) => results.map((r) => r.ms).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
    const [a, b] = [median(wrongPassword), median(noSuchUser)];
    ctx.diagnostic(`login medians: wrong password ${a.toFixed(1)} ms, no such user ${b.toFixed(1)} ms`);
    // Both do one scrypt (tens of ms); a fast path for unknown users would be ~1 ms.
    assert.ok(Math.abs(a - b) <= Math.max(0.35 * Math.max(a, b), 15), `medians ${a.toFixed(1)} ms (wrong password) vs ${b.toFixed(1)} ms (no such user)`);
    assert.ok(b >= 10, `an unknown user still costs a hash (${b.toFixed(1)} ms)`);
  });
});

describe('signup rules and production cookies', () => {
  const production = (extra: Record<string, string> = {}) => ({
    NODE_ENV: 'production',
    DB_URI: 'mem',
    WS_PATH: '/ws',
    COOKIE_DOMAIN: '.example.test',
    CORS_ORIGIN: 'https://app.example.test',
    METRICS_SECRET: 'metrics-secret-for-tests',
    ...GENEROUS,
    ...extra,
  });

  it('closes signup in production unless ALLOW_SIGNUP=true, and serves no demo page there', async () => {
    const t = await startTestServer({ env: production() });
    try {
      const res = await post(t, '/api/auth/register', { username: 'eve', password: PASSWORD });
      assert.equal(res.status, 403);
      assert.equal(((await res.json()) as { error: { message: string } }).error.message, 'Signup is closed');
      assert.equal((await fetch(`${t.httpUrl}/`)).status, 404);
    } finally {
      await t.close();
    }
  });

  it('with ALLOW_SIGNUP=true in production the cookie is Secure and carries Domain=COOKIE_DOMAIN', async () => {
    const t = await startTestServer({ env: production({ ALLOW_SIGNUP: 'true' }) });
    try {
      const res = await post(t, '/api/auth/register', { username: 'frank', password: PASSWORD });
      assert.equal(res.status, 201);
      const cookie = parseSetCookie(res);
      assert.ok(cookie.attributes.has('secure'));
      assert.equal(cookie.attributes.get('domain'), '.example.test');
      assert.ok(cookie.attributes.has('httponly'));
      assert.equal(cookie.attributes.get('samesite'), 'Lax');
      const logout = parseSetCookie(await post(t, '/api/auth/logout'));
      assert.ok(logout.attributes.has('secure'));
      assert.equal(logout.attributes.get('domain'), '.example.test', 'the clearing cookie must name the same domain');
    } finally {
      await t.close();
    }
  });

  it('ALLOW_SIGNUP=false closes signup outside production too; login keeps working', async () => {
    const t = await startTestServer({ env: { ...GENEROUS, ALLOW_SIGNUP: 'false' } });
    try {
      assert.equal((await post(t, '/api/auth/register', { username: 'gina', password: PASSWORD })).status, 403);
      assert.equal((await post(t, '/api/auth/login', { username: 'gina', password: PASSWORD })).status, 401);
    } finally {
      await t.close();
    }
  });
});

describe('login rate limits', () => {
  it('limits attempts per username: 429 with Retry-After, even with the right password; other names are unaffected', async () => {
    const t = await startTestServer({ env: { AUTH_RATE_PER_IP_PER_MIN: '1000', AUTH_RATE_PER_USER_PER_MIN: '3' } });
    try {
      assert.equal((await post(t, '/api/auth/register', { username: 'victim', password: PASSWORD })).status, 201);
      assert.equal((await post(t, '/api/auth/register', { username: 'bystander', password: PASSWORD })).status, 201);
      for (let i = 0; i < 3; i++) assert.equal((await post(t, '/api/auth/login', { username: 'victim', password: `guess ${i} xx` })).status, 401);
      const limited = await post(t, '/api/auth/login', { username: 'VICTIM', password: PASSWORD });
      assert.equal(limited.status, 429);
      assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'rate_limited');
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.headers.get('retry-after')}`);
      assert.deepEqual(limited.headers.getSetCookie(), []);
      assert.equal((await post(t, '/api/auth/login', { username: 'bystander', password: PASSWORD })).status, 200);
    } finally {
      await t.close();
    }
  });

  it('a device that logged in before keeps logging in after others emptied the username bucket; its proof is bound to the user and has its own bucket', async () => {
    const t = await startTestServer({ env: { AUTH_RATE_PER_IP_PER_MIN: '1000', AUTH_RATE_PER_USER_PER_MIN: '3' } });
    try {
      const registered = await post(t, '/api/auth/register', { username: 'victim', password: PASSWORD });
      const cookie = parseSetCookie(registered, 'token_device');
      assert.equal(cookie.attributes.get('path'), '/api/auth', 'sent to the auth routes only');
      assert.ok(cookie.attributes.has('httponly'));
      assert.equal(cookie.attributes.get('max-age'), String(365 * 86_400));
      const browser = { cookie: `token_device=${cookie.value}` };
      const phone = ((await (await post(t, '/api/auth/login', { username: 'victim', password: PASSWORD, bearer: true })).json()) as { knownDevice: string }).knownDevice;
      assert.match(phone, /^[A-Za-z0-9_-]{22}\.\d+\.[A-Za-z0-9_-]{43}$/, 'a Bearer login gets its proof in the body');
      const other = await post(t, '/api/auth/register', { username: 'bystander', password: PASSWORD });
      const foreign = { cookie: `token_device=${parseSetCookie(other, 'token_device').value}` };

      // An attacker empties victim's bucket (one attempt already went to the phone's login).
      for (let i = 0; i < 2; i++) assert.equal((await post(t, '/api/auth/login', { username: 'victim', password: `guess ${i} xx` })).status, 401);
      assert.equal((await post(t, '/api/auth/login', { username: 'victim', password: PASSWORD })).status, 429, 'an unknown device is locked out');
      const tampered = { cookie: `token_device=${cookie.value.slice(0, -2)}AA` };
      for (const headers of [foreign, tampered, { cookie: 'token_device={"$gt":""}' }]) {
        assert.equal((await post(t, '/api/auth/login', { username: 'victim', password: PASSWORD }, headers)).status, 429, JSON.stringify(headers));
      }
      // The user's own devices are not.
      const viaCookie = await post(t, '/api/auth/login', { username: 'victim', password: PASSWORD }, browser);
      assert.equal(viaCookie.status, 200);
      assert.equal(parseSetCookie(viaCookie, 'token_device').attributes.get('path'), '/api/auth', 'a fresh proof on every login');
      assert.equal((await post(t, '/api/auth/login', { username: 'VICTIM', password: PASSWORD }, { 'x-known-device': phone })).status, 200);
      // A proof is its own bucket of AUTH_RATE_PER_USER_PER_MIN: one who stole it guesses no faster than before.
      for (let i = 0; i < 2; i++) assert.equal((await post(t, '/api/auth/login', { username: 'victim', password: `wrong ${i} xx` }, browser)).status, 401);
      const limited = await post(t, '/api/auth/login', { username: 'victim', password: PASSWORD }, browser);
      assert.equal(limited.status, 429);
      assert.match(await (await fetch(`${t.httpUrl}/metrics`)).text(), /chat_rate_limited_total\{limit="auth_device"\} 1\b/);
      // Logout ends the session, not the device.
      const logout = await post(t, '/api/auth/logout', undefined, browser);
      assert.deepEqual(logout.headers.getSetCookie().filter((line) => line.startsWith('token_device=')), []);
    } finally {
      await t.close();
    }
  });

  it('AUTH_KNOWN_DEVICE_DAYS=0 issues no proof and honours none', async () => {
    const on = await startTestServer({ env: { AUTH_RATE_PER_IP_PER_MIN: '1000', AUTH_RATE_PER_USER_PER_MIN: '1' } });
    const proof = parseSetCookie(await post(on, '/api/auth/register', { username: 'olga', password: PASSWORD }), 'token_device').value;
    await on.close();
    const t = await startTestServer({ env: { AUTH_RATE_PER_IP_PER_MIN: '1000', AUTH_RATE_PER_USER_PER_MIN: '1', AUTH_KNOWN_DEVICE_DAYS: '0' } });
    try {
      const res = await post(t, '/api/auth/register', { username: 'olga', password: PASSWORD, bearer: true });
      assert.deepEqual(res.headers.getSetCookie().filter((line) => line.startsWith('token_device=')), []);
      assert.equal('knownDevice' in ((await res.json()) as object), false);
      assert.equal((await post(t, '/api/auth/login', { username: 'olga', password: 'wrong one xx' })).status, 401);
      assert.equal((await post(t, '/api/auth/login', { username: 'olga', password: PASSWORD }, { cookie: `token_device=${proof}` })).status, 429);
    } finally {
      await t.close();
    }
  });

  it('limits attempts per client address (login and register share the bucket); behind a trusted proxy per forwarded address', async () => {
    const t = await startTestServer({ env: { AUTH_RATE_PER_IP_PER_MIN: '4', AUTH_RATE_PER_USER_PER_MIN: '1000', TRUST_PROXY: 'true' } });
    try {
      const from = (ip: string) => ({ 'x-forwarded-for': ip });
      for (let i = 0; i < 3; i++) assert.equal((await post(t, '/api/auth/login', { username: `u${i}`, password: PASSWORD }, from('203.0.113.7'))).status, 401);
      assert.equal((await post(t, '/api/auth/register', { username: 'newbie', password: PASSWORD }, from('203.0.113.7'))).status, 201);
      const limited = await post(t, '/api/auth/login', { username: 'newbie', password: PASSWORD }, from('203.0.113.7'));
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      assert.equal((await post(t, '/api/auth/register', { username: 'other', password: PASSWORD }, from('203.0.113.7'))).status, 429);
      assert.equal((await post(t, '/api/auth/login', { username: 'newbie', password: PASSWORD }, from('198.51.100.9'))).status, 200);
    } finally {
      await t.close();
    }
  });
});

describe('TRUST_PROXY as a list of proxies', () => {
  it('believes X-Forwarded-For only from a listed peer: from any other, each new header value is the same client', async () => {
    for (const [trust, believed] of [['127.0.0.1', true], ['::1,127.0.0.0/8', true], ['10.9.9.9,192.168.0.0/16', false]] as const) {
      const t = await startTestServer({ env: { AUTH_RATE_PER_IP_PER_MIN: '2', AUTH_RATE_PER_USER_PER_MIN: '1000', TRUST_PROXY: trust } });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) statuses.push((await post(t, '/api/auth/login', { username: `p${i}`, password: PASSWORD }, { 'x-forwarded-for': `198.51.100.${i}` })).status);
        assert.deepEqual(statuses, believed ? [401, 401, 401, 401] : [401, 401, 429, 429], `TRUST_PROXY=${trust}`);
      } finally {
        await t.close();
      }
    }
  });
});

describe('CORS on the auth routes', () => {
  const allowed = 'https://app.example.test';
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { ...GENEROUS, CORS_ORIGIN: allowed } });
    await post(t, '/api/auth/register', { username: 'hana', password: PASSWORD });
  });
  after(() => t.close());

  it('answers the allowed origin with credentials (never *), and Vary: Origin', async () => {
    const res = await post(t, '/api/auth/login', { username: 'hana', password: PASSWORD }, { origin: allowed });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), allowed);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('vary') ?? '', /Origin/);
    const me = await fetch(`${t.httpUrl}/api/me`, { headers: { origin: allowed, cookie: `token=${parseSetCookie(res).value}` } });
    assert.equal(me.headers.get('access-control-allow-origin'), allowed);
    const preflight = await fetch(`${t.httpUrl}/api/auth/login`, {
      method: 'OPTIONS',
      headers: { origin: allowed, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /content-type/);
  });

  it('refuses another origin with 403 before doing anything: no CORS grant, no cookie set or cleared', async () => {
    const evil = 'https://evil.example';
    for (const path of ['/api/auth/login', '/api/auth/register', '/api/auth/logout', '/api/auth/refresh']) {
      const res = await post(t, path, { username: 'hana', password: PASSWORD }, { origin: evil });
      assert.equal(res.status, 403, path);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.deepEqual(res.headers.getSetCookie(), []);
    }
    const preflight = await fetch(`${t.httpUrl}/api/auth/login`, { method: 'OPTIONS', headers: { origin: evil, 'access-control-request-method': 'POST' } });
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    const me = await fetch(`${t.httpUrl}/api/me`, { headers: { origin: evil } });
    assert.equal(me.headers.get('access-control-allow-origin'), null);
  });

  it('accepts requests without an Origin (non-browser clients)', async () => {
    assert.equal((await post(t, '/api/auth/login', { username: 'hana', password: PASSWORD })).status, 200);
  });
});
