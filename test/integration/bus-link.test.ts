// The live bus when one instance's NATS link is cut (src/bus/nats-bus.ts, src/chat/bus-fallback.ts),
// and two deployments on one NATS. Real servers in this process (port 0), sharing one in-memory store
// as two instances share their MongoDB, each with its own real NATS client: instance A reaches the
// machine's NATS (TEST_NATS_URI, default nats://127.0.0.1:4222) through a TCP proxy the test cuts,
// B directly.
//  - A message sent on A while A's link is down reaches the recipient's device on B live within ~2 s of
//    A's link coming back, without a reconnect or `sync` (A asks every instance for a store catch-up).
//  - What A publishes while its link is down is counted `dropped`, not `out`.
//  - Logs: "connecting" at info (no credentials), no WARN on a healthy start, one WARN per link loss.
//  - Two deployments (other JWT_SECRET, own store) on the same NATS: nothing crosses (subjects are
//    namespaced per deployment).
// Each run has its own JWT_SECRETs, hence its own bus namespaces: it shares the machine's NATS safely.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { signToken } from '../../src/auth/jwt.js';
import { createBus } from '../../src/bus/create-bus.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { createServer, type ChatServer } from '../../src/server.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { Store } from '../../src/store/store.js';
import { MongoOutageProxy } from '../helpers/mongo.js';
import { testEnv } from '../helpers/server.js';
import { natsSkip, natsUri } from '../helpers/nats.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';

const skip = natsSkip;

const run = randomBytes(4).toString('hex');

interface Instance {
  readonly server: ChatServer;
  readonly secret: string;
  readonly ws: string;
  readonly http: string;
  /** Its log lines, parsed. */
  readonly lines: { level: number; msg: string; [key: string]: unknown }[];
}

const instances: Instance[] = [];
const clients: TestClient[] = [];
const proxies: MongoOutageProxy[] = [];

/** A server with the real NATS bus, as main.ts builds it, logging into `lines`. */
async function start(store: Store, secret: string, busUri: string): Promise<Instance> {
  const { config } = loadConfig(testEnv({ JWT_SECRET: secret, BUS_URI: busUri, BUS_FALLBACK_POLL_MS: '1000' }));
  const lines: Instance['lines'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Instance['lines'][number]);
      done();
    },
  });
  const log = createLogger({ level: 'info' }, sink);
  const metrics = createMetrics({ collectDefault: false });
  const server = await createServer(config, { store, log, metrics, bus: createBus(config, log, metrics) });
  const instance = { server, secret, ws: `ws://127.0.0.1:${server.port}${config.wsPath}`, http: `http://127.0.0.1:${server.port}`, lines };
  instances.push(instance);
  return instance;
}

async function connect(on: Instance, userId: string, device: string): Promise<TestClient> {
  const { client } = await TestClient.connectReady(`${on.ws}?device=${device}`, await signToken({ secret: on.secret, userId, ttlSec: 600 }));
  clients.push(client);
  return client;
}

async function eventually(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  for (const deadline = Date.now() + ms; !(await condition()); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms: ${what}`);
  }
}

const logged = (on: Instance, msg: string) => on.lines.filter((line) => line.msg === msg);
const connected = (on: Instance) => logged(on, 'live bus connected').length > 0;
const isMessage = (messageId: string) => (frame: Frame) => frame.type === 'message' && frame.messageId === messageId;

async function busEvents(on: Instance, direction: string): Promise<number> {
  const text = await (await fetch(`${on.http}/metrics`)).text();
  return Number(new RegExp(`^chat_bus_events_total\\{direction="${direction}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  for (const instance of instances) await instance.server.close().catch(() => {});
  for (const proxy of proxies) await proxy.down();
});

describe('one instance\'s NATS link cut, then restored', { skip }, () => {
  it('delivers what its users sent meanwhile to devices on the other instance within ~2 s of the link returning, without sync', { timeout: 30_000 }, async () => {
    const proxy = await MongoOutageProxy.start(natsUri);
    proxies.push(proxy);
    const store = new MemoryStore();
    const secret = `bus-link-${run}-secret-long-enough-for-anything`;
    const a = await start(store, secret, `nats://user:hunter2@127.0.0.1:${proxy.port}`);
    const b = await start(store, secret, natsUri);
    await eventually(() => connected(a) && connected(b), 10_000, 'both instances on the bus');

    const alice = await connect(a, `cut-alice-${run}`, 'a1');
    const bob = await connect(b, `cut-bob-${run}`, 'b1');
    // The link works: a first message crosses live.
    await alice.sendMessage(`cut-0-${run}`, `cut-bob-${run}`, 'before');
    await bob.next(isMessage(`cut-0-${run}`), 3000);
    // Past the catch-ups that follow each instance's first connect (at once and BUS_FALLBACK_POLL_MS later).
    await new Promise((resolve) => setTimeout(resolve, 1200));

    const outBefore = await busEvents(a, 'out');
    const droppedBefore = await busEvents(a, 'dropped');
    await proxy.down();
    await eventually(() => logged(a, 'live bus link lost').length > 0, 5000, 'A notices its link is gone');
    const sent = await alice.sendMessage(`cut-1-${run}`, `cut-bob-${run}`, 'during the cut');
    assert.equal(sent.status, 'SENT');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // longer than A's reconnect wait: it retries into a closed port
    assert.ok((await busEvents(a, 'dropped')) > droppedBefore, 'what A published with its link down is counted dropped');
    assert.equal(await busEvents(a, 'out'), outBefore, 'and not out');

    await proxy.up();
    const back = Date.now();
    // A reconnects within its reconnect wait (1 s), then B catches bob's device up from the store.
    await bob.next(isMessage(`cut-1-${run}`), 3500);
    const ms = Date.now() - back;
    assert.equal(bob.frames.filter(isMessage(`cut-1-${run}`)).length, 1, 'once');

    // Confirmed, and then never again: a later cut and restore does not send it back.
    bob.send({ type: 'delivered', messageIds: [`cut-0-${run}`, `cut-1-${run}`] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await proxy.down();
    await eventually(() => logged(a, 'live bus link lost').length > 1, 5000, 'A notices its link is gone again');
    await alice.sendMessage(`cut-2-${run}`, `cut-bob-${run}`, 'during the second cut');
    await proxy.up();
    await bob.next(isMessage(`cut-2-${run}`), 3500);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(bob.frames.filter(isMessage(`cut-1-${run}`)).length, 1, 'the confirmed message was not sent again');
    assert.equal(bob.frames.filter(isMessage(`cut-0-${run}`)).length, 1, 'nor the first one');

    // Logs: connecting at info without credentials; no WARN on the healthy start; one WARN per loss.
    const connecting = logged(a, 'live bus connecting');
    assert.equal(connecting.length, 1);
    assert.equal(connecting[0]!.level, 30);
    assert.doesNotMatch(JSON.stringify(a.lines), /hunter2/, 'no credentials in the logs');
    assert.doesNotMatch(JSON.stringify(a.lines), new RegExp(secret), 'no JWT_SECRET in the logs');
    assert.deepEqual(b.lines.filter((line) => line.level >= 40).map((line) => line.msg), [], 'a healthy start warns about nothing');
    const warnings = a.lines.filter((line) => line.level >= 40).map((line) => line.msg);
    assert.deepEqual(warnings, ['live bus link lost', 'live bus link lost'], 'one WARN per link loss');
    assert.ok(ms < 3500, `delivered ${ms} ms after the link was back`);
  });

  it('warns with the address and the error when NATS cannot be reached', { timeout: 15_000 }, async () => {
    const proxy = await MongoOutageProxy.start(natsUri, { listening: false });
    const c = await start(new MemoryStore(), `bus-link-${run}-unreachable-secret-long-enough`, `nats://127.0.0.1:${proxy.port}`);
    await eventually(() => c.lines.some((line) => line.level >= 40), 5000, 'a WARN');
    const warning = c.lines.find((line) => line.level >= 40)!;
    assert.equal(warning.msg, 'live bus unreachable; retrying');
    assert.equal(warning.bus, `nats://127.0.0.1:${proxy.port}`);
    assert.match(JSON.stringify(warning.err), /ECONNREFUSED|CONNECTION_REFUSED/);
  });
});

describe('two deployments on one NATS', { skip }, () => {
  it('do not deliver to each other\'s users, nor hear each other\'s events for every instance (bans)', { timeout: 20_000 }, async () => {
    const one = await start(new MemoryStore(), `deployment-one-${run}-secret-long-enough`, natsUri);
    const two = await start(new MemoryStore(), `deployment-two-${run}-secret-long-enough`, natsUri);
    await eventually(() => connected(one) && connected(two), 10_000, 'both deployments on the bus');
    const shared = `shared-${run}`;
    const onTwo = await connect(two, shared, 'd2');
    const twoSender = await connect(two, `sender-two-${run}`, 's2');
    const oneSender = await connect(one, `sender-one-${run}`, 's1');
    await oneSender.sendMessage(`x-1-${run}`, shared, 'for deployment one only');
    // A message within deployment two still arrives: the waiting below is not an idle bus.
    await twoSender.sendMessage(`x-2-${run}`, shared, 'for deployment two');
    await onTwo.next(isMessage(`x-2-${run}`), 3000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(onTwo.frames.filter(isMessage(`x-1-${run}`)).length, 0, 'deployment one\'s message reached deployment two');
    assert.equal(await busEvents(two, 'in'), 0, 'deployment two heard nothing of deployment one');
  });
});
