// Abuse limits, each proven on the real server and each with its metric: per-IP, per-user and total
// connection limits (also under a burst of concurrent upgrades, and behind a trusted proxy), the per-user send
// rate on both doors, and the idle timeout with automatic pings that closes dead peers.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createGroup, sendTo, uid } from '../helpers/conversations.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, UpgradeRefused, upgradeRefusal, upgradeStatus, type Frame } from '../helpers/ws-client.js';
import { metricValue } from './metric-value.js';

/** Opens `count` upgrades at once; resolves the opened clients and the refusal statuses. */
async function burst(url: string, count: number, options: Parameters<typeof TestClient.connect>[1]) {
  const settled = await Promise.allSettled(Array.from({ length: count }, () => TestClient.connect(url, options)));
  const opened: TestClient[] = [];
  const refused: number[] = [];
  for (const result of settled) {
    if (result.status === 'fulfilled') opened.push(result.value);
    else if (result.reason instanceof UpgradeRefused) refused.push(result.reason.status);
    else throw result.reason;
  }
  return { opened, refused };
}

describe('connection limits (socket address)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { MAX_CONNECTIONS_PER_IP: '3', MAX_CONNECTIONS: '100' } });
  });
  after(() => t.close());

  it('a burst of 20 concurrent upgrades from one address opens exactly MAX_CONNECTIONS_PER_IP (the rest get 429)', async () => {
    const token = await t.token('burst');
    const { opened, refused } = await burst(t.wsUrl, 20, { token });
    assert.equal(opened.length, 3);
    assert.deepEqual([...new Set(refused)], [429]);
    assert.equal(t.server.connectionCount(), 3);
    assert.equal(await metricValue(t.server.metrics.rateLimited, { limit: 'connections_per_ip' }), 17);
    // Closing gives the slots back.
    await Promise.all(opened.map((client) => client.close()));
    const again = await burst(t.wsUrl, 5, { token });
    assert.equal(again.opened.length, 3);
    await Promise.all(again.opened.map((client) => client.close()));
  });

  it('refused upgrades (bad tokens) never hold a slot, even in a concurrent burst', async () => {
    const { opened, refused } = await burst(t.wsUrl, 30, { token: await t.token('x', { secret: 'wrong-secret' }) });
    assert.equal(opened.length, 0);
    assert.ok(refused.every((status) => status === 401 || status === 429), String(refused));
    const good = await burst(t.wsUrl, 3, { token: await t.token('good') });
    assert.equal(good.opened.length, 3);
    await Promise.all(good.opened.map((client) => client.close()));
  });

  it('ignores X-Forwarded-For without TRUST_PROXY: a spoofed header does not buy more connections', async () => {
    const token = await t.token('spoofer');
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await TestClient.connect(t.wsUrl, { token, headers: { 'x-forwarded-for': `10.9.9.${i}` } }));
    const refusal = await upgradeRefusal(t.wsUrl, { token, headers: { 'x-forwarded-for': '10.9.9.200' } });
    assert.equal(refusal.status, 429);
    assert.match(refusal.message, /MAX_CONNECTIONS_PER_IP \(3\) open connections from this address/, 'says which limit, not "too many messages"');
    await Promise.all(clients.map((client) => client.close()));
  });
});

describe('connection limits (behind a trusted proxy)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { MAX_CONNECTIONS_PER_IP: '2', MAX_CONNECTIONS: '5', TRUST_PROXY: 'true' } });
  });
  after(() => t.close());

  it('counts per X-Forwarded-For last hop (the one the proxy vouches for), and caps the total with 503', async () => {
    const token = await t.token('proxied');
    const via = (hops: string) => ({ token, headers: { 'x-forwarded-for': hops } });
    const a = await burst(t.wsUrl, 4, via('10.0.0.1'));
    assert.equal(a.opened.length, 2);
    assert.deepEqual([...new Set(a.refused)], [429]);
    // A client-written first hop does not change the address: the proxy appended the real one last.
    assert.equal(await upgradeStatus(t.wsUrl, via('6.6.6.6, 10.0.0.1')), 429);
    const b = await burst(t.wsUrl, 2, via('10.0.0.2'));
    assert.equal(b.opened.length, 2);
    const c = await burst(t.wsUrl, 2, via('10.0.0.3'));
    assert.equal(c.opened.length, 1, 'MAX_CONNECTIONS=5 reached');
    assert.deepEqual(c.refused, [503]);
    assert.equal(t.server.connectionCount(), 5);
    assert.equal(await metricValue(t.server.metrics.rateLimited, { limit: 'connections' }), 1);
    assert.ok((await metricValue(t.server.metrics.upgradesRejected, { reason: 'limit' })) >= 4);
    const full = await upgradeRefusal(t.wsUrl, via('10.0.0.4'));
    assert.equal(full.status, 503);
    assert.match(full.message, /MAX_CONNECTIONS \(5\) connections/, 'says the server is full, not that the store is down');
    await Promise.all([...a.opened, ...b.opened, ...c.opened].map((client) => client.close()));
    assert.equal(await upgradeStatus(t.wsUrl, via('10.0.0.3')), 101);
  });
});

describe('connection limit per user (every message to a user is written once per connection)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { MAX_CONNECTIONS_PER_USER: '3', MAX_CONNECTIONS_PER_IP: '100', TRUST_PROXY: 'true' } });
  });
  after(() => t.close());

  it('opens exactly MAX_CONNECTIONS_PER_USER for one user across addresses (a burst included); others are unaffected; closing gives slots back', async () => {
    const token = await t.token('many-sockets');
    // From ten addresses at once: the per-address limit is no help against one account's sockets.
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => TestClient.connect(t.wsUrl, { token, headers: { 'x-forwarded-for': `10.1.0.${i}` } })));
    const opened = settled.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<TestClient>).value);
    const refused = settled.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as UpgradeRefused);
    assert.equal(opened.length, 3);
    assert.deepEqual([...new Set(refused.map((r) => r.status))], [429]);
    assert.equal(await metricValue(t.server.metrics.rateLimited, { limit: 'connections_per_user' }), 7);
    // Another user, from the same addresses, still connects.
    const other = await TestClient.connect(t.wsUrl, { token: await t.token('someone-else'), headers: { 'x-forwarded-for': '10.1.0.1' } });
    // A message to the capped user reaches each of its three connections once.
    const ack = await other.sendMessage('to-many', 'many-sockets', 'hello');
    assert.equal(ack.status, 'SENT');
    for (const client of opened) assert.equal((await client.next((f) => f.type === 'message' && f.messageId === 'to-many')).body, 'hello');
    await opened[0]!.close();
    const again = await TestClient.connect(t.wsUrl, { token });
    assert.equal(await upgradeStatus(t.wsUrl, { token }), 429, 'full again');
    await Promise.all([...opened.slice(1), again, other].map((client) => client.close()));
  });
});

describe('connect rate per user (each connect replays what is pending, like sync)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { CONNECT_RATE_PER_SEC: '1', CONNECT_BURST: '3' } });
  });
  after(() => t.close());

  it('lets CONNECT_BURST connects through, then answers 429 with Retry-After; other users are unaffected', async () => {
    const token = await t.token('reconnector');
    for (let i = 0; i < 3; i++) {
      const { client } = await TestClient.connectReady(t.wsUrl, await t.token('reconnector'));
      await client.close();
    }
    const refused = await upgradeRefusal(t.wsUrl, { token });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.retryAfter) >= 1, `Retry-After ${refused.retryAfter}`);
    assert.match(refused.message, /CONNECT_RATE_PER_SEC/);
    assert.equal(await metricValue(t.server.metrics.rateLimited, { limit: 'connect' }), 1);
    const { client: other } = await TestClient.connectReady(t.wsUrl, await t.token('bystander'));
    await other.close();
    // The bucket refills: a second later one more connect gets through.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const { client: back } = await TestClient.connectReady(t.wsUrl, token);
    await back.close();
  });
});

describe('replay budget per user (each connect or sync re-sends everything unconfirmed)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { REPLAY_PAGE_SIZE: '10', REPLAY_BURST: '20', REPLAY_RATE_PER_SEC: '100' } });
  });
  after(() => t.close());

  it('sends past REPLAY_BURST at REPLAY_RATE_PER_SEC: every message, in order, while other users go on', async () => {
    const alice = await TestClient.connect(t.wsUrl, { token: await t.token('rb-alice') });
    const ids = Array.from({ length: 50 }, (_, i) => uid(`rb-${i}`));
    for (const id of ids) assert.equal((await alice.sendMessage(id, 'rb-bob', 'hi')).status, 'SENT');
    const replayedIds = (frames: Frame[]) => frames.map((frame) => frame.messageId);

    // The first connect: 20 within the burst, then 30 at 100/s, in pages of 10.
    const { client: bob, replayed } = await TestClient.connectReady(t.wsUrl, await t.token('rb-bob'));
    assert.deepEqual(replayedIds(replayed), ids);
    const waitsAfterConnect = await metricValue(t.server.metrics.replayWaits);
    assert.ok(waitsAfterConnect >= 2, `${waitsAfterConnect} waits`);

    // A sync at once, nothing confirmed: all 50 again, with the budget overdrawn, so at least 40 of
    // them at 100/s (a lower bound: a slow machine only adds to it).
    const started = performance.now();
    bob.send({ type: 'sync' });
    // Meanwhile another user is served.
    const carol = await TestClient.connect(t.wsUrl, { token: await t.token('rb-carol') });
    assert.equal((await carol.sendMessage(uid('rb-carol'), 'rb-dave', 'still here')).status, 'SENT');
    const ready = await bob.next((frame) => frame.type === 'ready', 10_000);
    const elapsedMs = performance.now() - started;
    assert.equal(ready.replayed, 50);
    assert.ok(bob.frames.indexOf(ready) > 0);
    const again = bob.frames.slice(bob.frames.findIndex((frame) => frame.type === 'ready') + 1).filter((frame) => frame.type === 'message');
    assert.deepEqual(replayedIds(again), ids);
    assert.ok(elapsedMs >= 250, `the sync's replay took ${elapsedMs.toFixed(0)} ms`);
    assert.ok((await metricValue(t.server.metrics.replayWaits)) > waitsAfterConnect);
    await Promise.all([alice.close(), bob.close(), carol.close()]);
  });
});

describe('useless frame work per user (each bad, padded or refused frame costs a parse or a lookup)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { INVALID_FRAMES_PER_SEC: '1', INVALID_FRAMES_BURST: '5', RATE_LIMITED_CLOSE_AFTER: '3' } });
  });
  after(() => t.close());

  it('answers each bad frame with its error within INVALID_FRAMES_BURST, then rate_limited, and a flood of them closes with 1008', async () => {
    const { client } = await TestClient.connectReady(t.wsUrl, await t.token('garbler'));
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      client.send(i % 2 === 0 ? '{"type":"send","messageId":5}' : 'not json');
      codes.push((await client.next((f) => f.type === 'error')).code as string);
    }
    assert.deepEqual(codes, ['bad_request', 'bad_request', 'bad_request', 'bad_request', 'bad_request'], 'the connection stays open, each bad frame told why');
    client.send('{"type":"zzz"}');
    const limited = await client.next((f) => f.type === 'error');
    assert.equal(limited.code, 'rate_limited');
    assert.ok(Number(limited.retryAfter) >= 1);
    client.send('x');
    client.send('x');
    assert.equal((await client.closed).code, 1008);
    assert.equal(await metricValue(t.server.metrics.rateLimited, { limit: 'invalid_frames' }), 3);
    // Another connection of another user is unaffected.
    const { client: other } = await TestClient.connectReady(t.wsUrl, await t.token('someone-fine'));
    assert.equal((await other.sendMessage('fine-1', 'garbler', 'hi')).status, 'SENT');
    await other.close();
  });

  it('counts by size and per user: a valid frame padded with junk spends the budget of every connection of its user', async () => {
    const token = await t.token('padder');
    const { client: first } = await TestClient.connectReady(t.wsUrl, token);
    const { client: second } = await TestClient.connectReady(t.wsUrl, token);
    // A valid sync carrying 8 KiB it does not need: served, and 7 units spent (the burst is 5).
    first.send({ type: 'sync', junk: 'x'.repeat(8192) });
    await first.next((f) => f.type === 'ready');
    // The user's other connection now has its frames refused unread, a small valid one included.
    second.send({ type: 'sync' });
    const refused = await second.next((f) => f.type === 'error');
    assert.equal(refused.code, 'rate_limited');
    assert.ok(Number(refused.retryAfter) >= 2, `retryAfter ${refused.retryAfter}: the debt is 2 units at 1 a second`);
    assert.equal(second.frames.filter((f) => f.type === 'ready').length, 1, 'only the connect\'s ready: the sync was not served');
    await Promise.all([first.close(), second.close()]);
  });

  it("a non-member's watermarks, reads and typing into a group are answered not_found within the burst, then refused unread", async () => {
    // Each refusal is a store lookup (who is in the group): uncharged, a non-member naming a
    // 1,000-member group in every frame, within the confirmation rate, stalled everyone's sends on MongoDB.
    const group = await createGroup(t, 'grp-owner', ['grp-member']);
    assert.equal(group.status, 201);
    const conversationId = (group.body as { conversationId: string }).conversationId;
    const { client: outsider } = await TestClient.connectReady(t.wsUrl, await t.token('grp-outsider'));
    const limitedBefore = await metricValue(t.server.metrics.rateLimited, { limit: 'invalid_frames' });
    const frames = [{ type: 'delivered', conversationId, seq: 1 }, { type: 'read', conversationId, seq: 1 }, { type: 'typing', conversationId }];
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      outsider.send(frames[i % frames.length]!);
      codes.push((await outsider.next((f) => f.type === 'error')).code as string);
    }
    assert.deepEqual(codes, ['not_found', 'not_found', 'not_found', 'not_found', 'not_found']);
    outsider.send(frames[0]!);
    const limited = await outsider.next((f) => f.type === 'error');
    assert.equal(limited.code, 'rate_limited', 'the sixth is refused before any lookup');
    assert.equal(await metricValue(t.server.metrics.rateLimited, { limit: 'invalid_frames' }), limitedBefore + 1);
    // Members are unaffected, and a member's own frames into the group are answered as before.
    const { client: member } = await TestClient.connectReady(t.wsUrl, await t.token('grp-member'));
    assert.equal((await sendTo(member, conversationId, uid('in-group'), 'hi')).status, 'SENT');
    await Promise.all([outsider.close(), member.close()]);
  });
});

describe('send rate (both doors share one bucket per user)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { SEND_RATE_PER_SEC: '2', SEND_BURST: '3' } });
  });
  after(() => t.close());

  it('refuses past the burst with 429 + Retry-After (HTTP) and rate_limited (WebSocket), stores nothing, and counts it', async () => {
    const token = await t.token('flooder');
    const post = (messageId: string) =>
      fetch(`${t.httpUrl}/api/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messageId, to: 'victim', body: 'spam' }),
      });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(`flood-${i}`)).status);
    assert.deepEqual(statuses, [201, 201, 201]);
    const limited = await post('flood-3');
    assert.equal(limited.status, 429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1, `Retry-After ${retryAfter}`);
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'rate_limited');
    // The WebSocket door draws on the same bucket.
    const { client } = await TestClient.connectReady(t.wsUrl, token);
    const frame = await client.sendMessage('flood-4', 'victim', 'spam');
    assert.equal(frame.code, 'rate_limited');
    assert.equal(await t.store.getMessage('flood-3'), undefined);
    assert.equal(await t.store.getMessage('flood-4'), undefined);
    assert.equal(await metricValue(t.server.metrics.rateLimited, { limit: 'send' }), 2);
    assert.equal(t.server.metrics.messagesSent.get('rate_limited'), 2);
    // Another user is not affected, and after Retry-After the same id goes through.
    const { client: other } = await TestClient.connectReady(t.wsUrl, await t.token('neighbour'));
    assert.equal((await other.sendMessage('n-1', 'victim', 'hi')).status, 'SENT');
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    assert.equal((await client.sendMessage('flood-4', 'victim', 'spam')).status, 'SENT');
    await Promise.all([client.close(), other.close()]);
  });
});

describe('idle timeout and pings', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { WS_IDLE_TIMEOUT_SEC: '8' } });
  });
  after(() => t.close());

  it('pings silent peers: one that answers stays open, a dead one is closed after WS_IDLE_TIMEOUT_SEC', async () => {
    const { client: alive } = await TestClient.connectReady(t.wsUrl, await t.token('quiet-but-alive'));
    const { client: dead } = await TestClient.connectReady(t.wsUrl, await t.token('dead-peer'));
    let pings = 0;
    alive.ws.on('ping', () => pings++);
    // A peer that reads nothing never answers the pings (its kernel buffer takes them): a dead peer.
    (dead.ws as unknown as { _socket: Socket })._socket.pause();
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (t.server.connectionCount() === 1 || Date.now() - started > 20_000) {
          clearInterval(poll);
          resolve();
        }
      }, 100);
    });
    const closedAfterMs = Date.now() - started;
    assert.equal(t.server.connectionCount(), 1, 'the dead peer was closed');
    // uWS checks timeouts on a 4-second tick: a peer is closed between 4 s before and 4 s after the limit.
    assert.ok(closedAfterMs >= 3500 && closedAfterMs <= 13_000, `closed after ${closedAfterMs} ms`);
    assert.equal(await metricValue(t.server.metrics.wsCloses, { reason: 'idle_timeout' }), 1);
    // The live peer, silent for longer than the timeout, was pinged and is still open and working.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - closedAfterMs)));
    assert.ok(pings >= 1, `pings ${pings}`);
    assert.equal(alive.ws.readyState, alive.ws.OPEN);
    assert.equal((await alive.sendMessage('still-here', 'someone', 'hi')).status, 'SENT');
    (dead.ws as unknown as { _socket: Socket })._socket.resume();
    await Promise.all([alive.close(), dead.terminate()]);
  });
});
