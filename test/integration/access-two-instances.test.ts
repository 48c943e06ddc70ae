// Bans and revocations across two server processes on one database (FerretDB / MongoDB). With the
// live bus (NATS) and the store refresh turned off (ACCESS_REFRESH_MS=0), only the bus can carry the
// change: a user connected to instance B is closed within a second of the call on instance A (4003
// ban, 4001 revoke), and their token is refused by both instances on both doors, until unbanned / a
// fresh login. Without any bus, the store refresh (ACCESS_REFRESH_MS) alone applies it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { signToken } from '../../src/auth/jwt.js';
import { mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { TEST_SECRET, testEnv } from '../helpers/server.js';
import { natsSkip, natsUri, testBusNamespace } from '../helpers/nats.js';
import { skipReason } from '../helpers/skips.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { TestClient } from '../helpers/ws-client.js';

const baseUri = mongoTestUri();
const KEY = 'two-instances-server-api-key-0123456789abcdef';

interface Instance {
  readonly http: string;
  readonly ws: string;
}

/** Two instances on one fresh database, with `env` on both; stopped and dropped in after(). */
function twoInstances(prefix: string, env: Record<string, string>) {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', prefix);
  const servers: ServerProcess[] = [];
  const clients: TestClient[] = [];
  const instances: { a?: Instance; b?: Instance } = {};
  before(async () => {
    const dbUri = databases.fresh();
    const start = () => {
      const server = spawnServer(testEnv({ DB_URI: dbUri, SERVER_API_KEY: KEY, ...env }));
      servers.push(server);
      return server.listening.then((port) => ({ http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/ws` }));
    };
    [instances.a, instances.b] = await Promise.all([start(), start()]);
    // The bus connects in the background after listening: an event published before both are on it would be lost.
    if (env.BUS_URI) await eventually(async () => servers.every((server) => server.stdout().includes('"msg":"live bus connected"')), 10_000, 'both instances on the bus');
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    for (const server of servers) server.kill('SIGTERM');
    await Promise.all(servers.map((server) => server.exited));
    await databases.drop();
  });
  return {
    get a() {
      return instances.a!;
    },
    get b() {
      return instances.b!;
    },
    async connect(on: Instance, token: string) {
      const client = await TestClient.connect(on.ws, { token });
      await client.next((f) => f.type === 'ready');
      clients.push(client);
      return client;
    },
  };
}

const serverCall = async (on: Instance, method: string, path: string) => {
  const res = await fetch(`${on.http}${path}`, { method, headers: { authorization: `Bearer ${KEY}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/** GET /api/me's status and error code with this token. */
const me = async (on: Instance, token: string) => {
  const res = await fetch(`${on.http}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  return res.status === 200 ? 'ok' : ((await res.json()) as { error: { code: string } }).error.code;
};

/** The upgrade's outcome with this token: 'ok' or the refusal's HTTP status. */
const upgrade = async (on: Instance, token: string) => {
  try {
    const client = await TestClient.connect(on.ws, { token });
    await client.close();
    return 'ok';
  } catch (error) {
    return (error as { status?: number }).status ?? String(error);
  }
};

/** Resolves once `check` holds (it is re-asked every 20 ms), failing after `withinMs`. */
async function eventually(check: () => Promise<boolean>, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits for the socket's close; its code and how long after `since` it came. */
async function closedAfter(client: TestClient, since: number, timeoutMs: number): Promise<{ code: number; afterMs: number }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs)));
  try {
    const { code } = await Promise.race([client.closed, timeout]);
    return { code, afterMs: Date.now() - since };
  } finally {
    clearTimeout(timer);
  }
}

const token = (userId: string) => signToken({ secret: TEST_SECRET, userId, ttlSec: 600 });
const unique = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

describe('bans and revocations across two instances, carried by the bus', { skip: !baseUri ? skipReason('mongo') : natsSkip }, () => {
  // No store refresh: what reaches the other instance came over the bus.
  const pair = twoInstances('access_bus', { BUS_URI: natsUri, BUS_NAMESPACE: testBusNamespace(), ACCESS_REFRESH_MS: '0' });

  it('ban on A closes the user on B with 4003 within a second; both refuse the token until the unban on B', { timeout: 60_000 }, async (t) => {
    const user = unique('banned');
    const userToken = await token(user);
    const onB = await pair.connect(pair.b, userToken);
    const bystander = await pair.connect(pair.b, await token(unique('bystander')));

    const banned = await serverCall(pair.a, 'POST', `/api/server/users/${user}/ban`);
    const answeredAt = Date.now();
    assert.equal(banned.status, 200, JSON.stringify(banned.body));
    const { code, afterMs } = await closedAfter(onB, answeredAt, 5000);
    t.diagnostic(`closed on B ${afterMs} ms after A answered`);
    assert.equal(code, 4003);
    assert.ok(afterMs <= 1000, `closed ${afterMs} ms after the call`);
    for (const on of [pair.a, pair.b]) {
      assert.equal(await me(on, userToken), 'banned');
      assert.equal(await upgrade(on, userToken), 401);
    }
    assert.equal(bystander.ws.readyState, bystander.ws.OPEN);

    assert.equal((await serverCall(pair.b, 'DELETE', `/api/server/users/${user}/ban`)).status, 200);
    await eventually(async () => (await me(pair.a, userToken)) === 'ok', 1000, 'A accepts the token again after the unban on B');
    assert.equal(await me(pair.b, userToken), 'ok');
    await pair.connect(pair.a, userToken);
  });

  it('revoke on A closes the user on B with 4001 within a second; old tokens are refused everywhere, a fresh login works everywhere', { timeout: 60_000 }, async (t) => {
    const account = { username: unique('rev'), password: 'long-enough-password', bearer: true };
    const register = await fetch(`${pair.a.http}/api/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(account) });
    assert.equal(register.status, 201);
    const oldToken = ((await register.json()) as { token: string }).token;
    const onB = await pair.connect(pair.b, oldToken);

    const revoked = await serverCall(pair.a, 'POST', `/api/server/users/${account.username}/revoke`);
    const answeredAt = Date.now();
    assert.equal(revoked.status, 200);
    const { code, afterMs } = await closedAfter(onB, answeredAt, 5000);
    t.diagnostic(`closed on B ${afterMs} ms after A answered`);
    assert.equal(code, 4001);
    assert.ok(afterMs <= 1000, `closed ${afterMs} ms after the call`);
    for (const on of [pair.a, pair.b]) {
      assert.equal(await me(on, oldToken), 'unauthorized');
      assert.equal(await upgrade(on, oldToken), 401);
    }

    // Logged in on B right away: B reads the revocation from the store and signs past its second.
    const login = await fetch(`${pair.b.http}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(account) });
    assert.equal(login.status, 200);
    const fresh = ((await login.json()) as { token: string }).token;
    for (const on of [pair.a, pair.b]) {
      assert.equal(await me(on, fresh), 'ok');
      await pair.connect(on, fresh);
    }
  });
});

describe('bans and revocations across two instances without a bus: the store refresh applies them', { skip: !baseUri ? skipReason('mongo') : false }, () => {
  const pair = twoInstances('access_nobus', { ACCESS_REFRESH_MS: '1000' });

  it('a ban and a revocation on A reach B within one refresh (plus a store read)', { timeout: 60_000 }, async (t) => {
    const [bannedUser, revokedUser] = [unique('nb-ban'), unique('nb-rev')];
    const bannedToken = await token(bannedUser);
    const revokedToken = await token(revokedUser);
    const bannedOnB = await pair.connect(pair.b, bannedToken);
    const revokedOnB = await pair.connect(pair.b, revokedToken);

    assert.equal((await serverCall(pair.a, 'POST', `/api/server/users/${bannedUser}/ban`)).status, 200);
    assert.equal((await serverCall(pair.a, 'POST', `/api/server/users/${revokedUser}/revoke`)).status, 200);
    const answeredAt = Date.now();
    const banned = await closedAfter(bannedOnB, answeredAt, 5000);
    const revoked = await closedAfter(revokedOnB, answeredAt, 5000);
    t.diagnostic(`closed on B ${banned.afterMs} ms (ban) and ${revoked.afterMs} ms (revoke) after A answered`);
    assert.deepEqual([banned.code, revoked.code], [4003, 4001]);
    // One refresh period (1000 ms) plus the read on a shared test machine.
    assert.ok(Math.max(banned.afterMs, revoked.afterMs) <= 2500, JSON.stringify({ banned, revoked }));
    assert.equal(await me(pair.b, bannedToken), 'banned');
    assert.equal(await me(pair.b, revokedToken), 'unauthorized');
    assert.equal(await upgrade(pair.b, bannedToken), 401);

    assert.equal((await serverCall(pair.a, 'DELETE', `/api/server/users/${bannedUser}/ban`)).status, 200);
    await eventually(async () => (await me(pair.b, bannedToken)) === 'ok', 2500, 'B accepts the token again after the unban on A');
  });
});
