// The server API (/api/server/*) on a real server (memory store) with real clients: sending as a user
// and as the system user through the one send path, group management, bans and revocations on one
// instance (both doors), log out everywhere, the key's refusals, input validation, and that neither
// the key nor a message body reaches the logs. Two instances: access-two-instances.test.ts.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createLogger } from '../../src/log.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeStatus } from '../helpers/ws-client.js';

const KEY = 'k3y-for-tests-0123456789abcdefghijklmnopqrstuv';
const SECRET_BODY = 'a-body-that-must-never-reach-the-logs-5f2c';

/** Every log line the server writes (JSON text), at debug level. */
function capturedLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: createLogger({ level: 'debug' }, stream), text: () => lines.join('') };
}

/** The refused upgrade's status and JSON error code (the ws client hands over the HTTP answer). */
function refusedUpgrade(url: string, token: string): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => (ws.close(), reject(new Error('upgrade was accepted'))));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => {
        resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { error?: { code?: string } }).error?.code });
      });
    });
  });
}

describe('server API', () => {
  let t: TestServer;
  const logs = capturedLogger();
  const clients: TestClient[] = [];

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) => {
    const res = await fetch(`${t.httpUrl}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
  };
  // A named device: a v1 socket (no query) is sent no group messages.
  const connect = async (userId: string, token?: string) => {
    const client = await TestClient.connect(`${t.wsUrl}?device=d`, { token: token ?? (await t.token(userId)) });
    await client.next((f) => f.type === 'ready');
    clients.push(client);
    return client;
  };
  const me = async (token: string) => {
    const res = await fetch(`${t.httpUrl}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, code: res.status === 200 ? undefined : ((await res.json()) as { error: { code: string } }).error.code };
  };
  const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));

  before(async () => {
    // Many wrong keys below come from one address: its lockout is tested on a server of its own.
    t = await startTestServer({ env: { SERVER_API_KEY: KEY, SERVER_API_AUTH_FAILURES_PER_MIN: '1000' }, log: logs.log });
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await t.close();
  });

  it('is off (404) without SERVER_API_KEY', async () => {
    const off = await startTestServer();
    try {
      const res = await fetch(`${off.httpUrl}/api/server/users/alice/ban`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(res.status, 404);
    } finally {
      await off.close();
    }
  });

  it('refuses a missing key, a wrong key, a key of another length and a user token with 401', async () => {
    const cases: Record<string, Record<string, string>> = {
      missing: {},
      empty: { authorization: 'Bearer ' },
      wrongSameLength: { authorization: `Bearer ${KEY.slice(0, -1)}X` },
      prefix: { authorization: `Bearer ${KEY.slice(0, 10)}` },
      longer: { authorization: `Bearer ${KEY}extra` },
      notBearer: { authorization: KEY },
      otherHeader: { 'x-server-key': KEY },
      userToken: { authorization: `Bearer ${await t.token('alice')}` },
    };
    for (const [name, headers] of Object.entries(cases)) {
      const answer = await call('POST', '/api/server/users/victim/ban', undefined, headers);
      assert.equal(answer.status, 401, name);
      assert.equal((answer.body!.error as { code: string }).code, 'unauthorized', name);
      const send = await call('POST', '/api/server/messages', { from: 'alice', to: 'bob', messageId: `key-${name}`, body: SECRET_BODY }, headers);
      assert.equal(send.status, 401, name);
    }
    assert.equal(await t.store.access.get('victim'), undefined, 'nothing was banned');
    assert.equal((await t.store.counts()).messages, 0, 'nothing was sent');
  });

  it('locks out an address after SERVER_API_AUTH_FAILURES_PER_MIN wrong keys: 429 with Retry-After, the right key too', async () => {
    const guarded = await startTestServer({ env: { SERVER_API_KEY: KEY, SERVER_API_AUTH_FAILURES_PER_MIN: '3' } });
    try {
      const ban = (key: string) => fetch(`${guarded.httpUrl}/api/server/users/guessed/access`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal((await ban(KEY)).status, 200, 'the right key works');
      assert.equal((await fetch(`${guarded.httpUrl}/api/server/users/guessed/access`)).status, 401, 'no key spends nothing');
      for (let i = 0; i < 3; i++) assert.equal((await ban(`${KEY.slice(0, -1)}${i}`)).status, 401);
      const locked = await ban(KEY);
      assert.equal(locked.status, 429, 'locked out, even with the right key (a guesser learns nothing from a 200)');
      assert.ok(Number(locked.headers.get('retry-after')) >= 1);
      assert.equal(((await locked.json()) as { error: { code: string } }).error.code, 'rate_limited');
    } finally {
      await guarded.close();
    }
  });

  it('refuses objects where strings belong, and other bad input, with 400', async () => {
    const sends: Record<string, unknown> = {
      fromObject: { from: { $ne: null }, to: 'bob', messageId: 'v-1', body: 'x' },
      fromMissing: { to: 'bob', messageId: 'v-2', body: 'x' },
      fromReserved: { from: '@admin', to: 'bob', messageId: 'v-3', body: 'x' },
      toObject: { from: 'alice', to: { $gt: '' }, messageId: 'v-4', body: 'x' },
      messageIdObject: { from: 'alice', to: 'bob', messageId: { $gt: '' }, body: 'x' },
      bodyObject: { from: 'alice', to: 'bob', messageId: 'v-5', body: { text: 'x' } },
      conversationIdArray: { from: 'alice', conversationId: ['g:x'], messageId: 'v-6', body: 'x' },
      bothAddresses: { from: 'alice', to: 'bob', conversationId: 'g:x', messageId: 'v-7', body: 'x' },
      notAnObject: ['alice'],
      notJson: '{"from":',
    };
    for (const [name, body] of Object.entries(sends)) assert.equal((await call('POST', '/api/server/messages', body)).status, 400, name);
    const groups: Record<string, unknown> = {
      ownerObject: { ownerId: { $ne: null }, title: 'x', members: [] },
      titleObject: { ownerId: 'alice', title: { $ne: null }, members: [] },
      memberObject: { ownerId: 'alice', title: 'x', members: [{ $ne: null }] },
    };
    for (const [name, body] of Object.entries(groups)) assert.equal((await call('POST', '/api/server/groups', body)).status, 400, name);
    assert.equal((await call('POST', '/api/server/users/not%20valid!/ban')).status, 400);
    assert.equal((await call('POST', '/api/server/messages', 'x', { authorization: `Bearer ${KEY}`, 'content-type': 'text/plain' })).status, 415);
    assert.equal((await call('POST', '/api/server/messages', '{}', { authorization: `Bearer ${KEY}`, 'content-encoding': 'gzip' })).status, 415);
    assert.equal((await t.store.counts()).messages, 0);
  });

  it('sends as a user through the one send path: delivered over WebSocket, a retry is the same message', async () => {
    const bob = await connect('bob');
    const send = { from: 'alice', to: 'bob', messageId: 'srv-1', body: SECRET_BODY };
    const first = await call('POST', '/api/server/messages', send);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.deepEqual({ ...first.body, ts: 0 }, { status: 'SENT', messageId: 'srv-1', ts: 0, duplicate: false, conversationId: first.body!.conversationId, seq: 1 });
    const message = await bob.next((f) => f.type === 'message' && f.messageId === 'srv-1');
    assert.deepEqual([message.from, message.to, message.body, message.seq], ['alice', 'bob', SECRET_BODY, 1]);

    const retry = await call('POST', '/api/server/messages', send);
    assert.equal(retry.status, 200);
    assert.deepEqual([retry.body!.duplicate, retry.body!.seq, retry.body!.ts], [true, 1, first.body!.ts]);
    const conflict = await call('POST', '/api/server/messages', { ...send, body: 'another body' });
    assert.equal(conflict.status, 409);
    // The same messageId through the client door is the same message too: one idempotency.
    const viaClient = await fetch(`${t.httpUrl}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await t.token('alice')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'bob', messageId: 'srv-1', body: SECRET_BODY }),
    });
    assert.equal(viaClient.status, 200);
    assert.equal((await t.store.counts()).messages, 1);
  });

  it('lets the system user own a group and speak in it; it speaks nowhere it is not a member, and has no token', async () => {
    const ann = await connect('ann');
    const created = await call('POST', '/api/server/groups', { ownerId: '@system', title: 'Announcements', members: ['ann', 'bo'] }, { authorization: `Bearer ${KEY}`, 'idempotency-key': 'ann-1' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const conversationId = created.body!.conversationId as string;
    assert.deepEqual([created.body!.ownerId, created.body!.members], ['@system', ['@system', 'ann', 'bo']]);
    const again = await call('POST', '/api/server/groups', { ownerId: '@system', title: 'Announcements', members: ['ann', 'bo'] }, { authorization: `Bearer ${KEY}`, 'idempotency-key': 'ann-1' });
    assert.deepEqual([again.status, again.body!.conversationId], [200, conversationId]);

    const sent = await call('POST', '/api/server/messages', { from: '@system', conversationId, messageId: 'sys-1', body: 'maintenance at 5' });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const message = await ann.next((f) => f.type === 'message' && f.messageId === 'sys-1');
    assert.deepEqual([message.from, message.conversationId, message.seq], ['@system', conversationId, 1]);
    assert.equal((await call('POST', '/api/server/messages', { from: '@system', conversationId, messageId: 'sys-1', body: 'maintenance at 5' })).body!.seq, 1);

    const direct = await call('POST', '/api/server/messages', { from: '@system', to: 'ann', messageId: 'sys-dm', body: 'your export is ready' });
    assert.equal(direct.status, 201, JSON.stringify(direct.body));
    const dm = await ann.next((f) => f.type === 'message' && f.messageId === 'sys-dm');
    assert.deepEqual([dm.from, dm.to, dm.conversationId], ['@system', 'ann', direct.body!.conversationId]);

    const other = await call('POST', '/api/server/groups', { ownerId: 'ann', title: 'Private', members: ['bo'] });
    const outsider = await call('POST', '/api/server/messages', { from: '@system', conversationId: other.body!.conversationId, messageId: 'sys-2', body: 'x' });
    assert.equal(outsider.status, 404);

    assert.equal(await upgradeStatus(t.wsUrl, { token: await t.token('@system') }), 401, 'no token is accepted for a reserved id');
    const register = await fetch(`${t.httpUrl}/api/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: '@system', password: 'long-enough-password' }) });
    assert.equal(register.status, 400);
  });

  it('adds and removes group members as the owner would', async () => {
    const created = await call('POST', '/api/server/groups', { ownerId: 'gwen', title: 'Team', members: ['hal'] });
    const id = encodeURIComponent(created.body!.conversationId as string);
    const ivy = await connect('ivy');
    const added = await call('POST', `/api/server/groups/${id}/members`, { userIds: ['ivy', '@system'] });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.deepEqual(added.body!.members, ['gwen', 'hal', 'ivy', '@system']);
    await ivy.next((f) => f.type === 'conversation' && f.event === 'joined');
    assert.equal((await call('DELETE', `/api/server/groups/${id}/members/hal`)).status, 204);
    assert.deepEqual((await t.store.getConversation(created.body!.conversationId as string))?.members, ['gwen', 'ivy', '@system']);
    assert.equal((await call('POST', `/api/server/groups/${encodeURIComponent('g:nope')}/members`, { userIds: ['ivy'] })).status, 404);
    assert.equal((await call('POST', `/api/server/groups/${id}/members`, { userIds: [{ $ne: null }] })).status, 400);
  });

  it('ban: open sockets close with 4003, the token is refused on both doors with code banned, until unbanned', async () => {
    const token = await t.token('mal');
    const socket = await connect('mal', token);
    const banned = await call('POST', '/api/server/users/mal/ban');
    assert.equal(banned.status, 200);
    assert.equal(banned.body!.banned, true);
    assert.equal((await socket.closed).code, 4003);
    assert.deepEqual(await refusedUpgrade(t.wsUrl, token), { status: 401, code: 'banned' });
    assert.deepEqual(await me(token), { status: 401, code: 'banned' });
    assert.equal((await call('GET', '/api/server/users/mal/access')).body!.banned, true);
    // HEAD where GET is answered, as on every route: the same status, no body.
    const head = await fetch(`${t.httpUrl}/api/server/users/mal/access`, { method: 'HEAD', headers: { authorization: `Bearer ${KEY}` } });
    assert.deepEqual([head.status, await head.text()], [200, '']);

    const unbanned = await call('DELETE', '/api/server/users/mal/ban');
    assert.deepEqual([unbanned.status, unbanned.body!.banned], [200, false]);
    assert.deepEqual(await me(token), { status: 200, code: undefined });
    await connect('mal', token);
  });

  it('revoke: open sockets close with 4001, every older token is refused, a token from the next second on works', async () => {
    const old = await t.token('rev');
    const socket = await connect('rev', old);
    const other = await connect('rev2');
    await nextSecond();
    const sameSecondBefore = await t.token('rev');
    const revoked = await call('POST', '/api/server/users/rev/revoke');
    assert.equal(revoked.status, 200);
    assert.ok((revoked.body!.tokensValidAfter as number) > 0);
    assert.equal((await socket.closed).code, 4001);
    for (const token of [old, sameSecondBefore]) {
      assert.deepEqual(await refusedUpgrade(t.wsUrl, token), { status: 401, code: 'unauthorized' });
      assert.deepEqual(await me(token), { status: 401, code: 'unauthorized' });
    }
    await nextSecond();
    assert.deepEqual(await me(await t.token('rev')), { status: 200, code: undefined });
    assert.equal(other.ws.readyState, WebSocket.OPEN, "another user's socket stays open");
  });

  it('a login right after a revocation gets a token that works; a banned account cannot log in', async () => {
    const account = { username: 'logan', password: 'long-enough-password', bearer: true };
    const post = (path: string, body: unknown, token?: string) =>
      fetch(`${t.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const registered = await post('/api/auth/register', account);
    assert.equal(registered.status, 201);
    const first = ((await registered.json()) as { token: string }).token;
    assert.equal((await call('POST', '/api/server/users/logan/revoke')).status, 200);
    const login = await post('/api/auth/login', account);
    assert.equal(login.status, 200);
    const fresh = ((await login.json()) as { token: string }).token;
    assert.deepEqual(await me(fresh), { status: 200, code: undefined });
    assert.deepEqual(await me(first), { status: 401, code: 'unauthorized' });
    const refresh = await fetch(`${t.httpUrl}/api/auth/refresh`, { method: 'POST', headers: { authorization: `Bearer ${first}` } });
    assert.equal(refresh.status, 401, 'a revoked token is not exchanged for a new one');

    await call('POST', '/api/server/users/logan/ban');
    const bannedLogin = await post('/api/auth/login', account);
    assert.equal(bannedLogin.status, 401);
    assert.equal(((await bannedLogin.json()) as { error: { code: string } }).error.code, 'banned');
    await call('DELETE', '/api/server/users/logan/ban');
  });

  it('log out everywhere: the caller revokes their own tokens, and their sockets close with 4001', async () => {
    const token = await t.token('lou');
    const socket = await connect('lou', token);
    const res = await fetch(`${t.httpUrl}/api/auth/logout-all`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 204);
    assert.match(res.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await socket.closed).code, 4001);
    assert.deepEqual(await me(token), { status: 401, code: 'unauthorized' });
  });

  it('never logs the key nor a message body', async () => {
    const text = logs.text();
    assert.match(text, /server API request refused: 401/, 'the refusals were logged (debug), so the log was captured');
    assert.match(text, /user banned/);
    assert.ok(!text.includes(KEY), 'the key is not in the logs');
    assert.ok(!text.includes(KEY.slice(0, 10)), 'nor a prefix of it');
    assert.ok(!text.includes(SECRET_BODY), 'no message body is in the logs');
    assert.ok(!text.includes('maintenance at 5'));
  });
});
