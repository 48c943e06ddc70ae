// The driver bug heartbeat-watchdog.ts works around, made to happen on purpose: the monitor's socket
// is destroyed behind the driver's back, so its next `hello` is written to a destroyed socket and
// the heartbeat never ends. The database then goes away under an operation (the server turns
// Unknown) and comes back.
// Without the watchdog the client never finds it again; with it, a new client takes over.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import type { MongoClient } from 'mongodb';
import { silentLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { HeartbeatWatchdog } from '../../src/store/mongo/heartbeat-watchdog.js';
import { StoreConnection } from '../../src/store/mongo/store-connection.js';
import { dropDatabases, MongoOutageProxy } from '../helpers/mongo.js';
import { faultMongoUri } from '../reliability/server-process.js';

const mongo = faultMongoUri();

describe('HeartbeatWatchdog', () => {
  it('reports a heartbeat that runs past twice its bound, and only that', () => {
    const client = new EventEmitter();
    let now = 0;
    const hung: number[] = [];
    const watchdog = new HeartbeatWatchdog(client as unknown as MongoClient, { heartbeatBoundMs: 1000, onHung: (ms) => hung.push(ms), now: () => now });
    try {
      client.emit('serverHeartbeatStarted', {});
      now = 1900;
      client.emit('serverHeartbeatSucceeded', {});
      now = 5000;
      watchdog.check();
      assert.deepEqual(hung, [], 'a finished heartbeat is not hung');
      client.emit('serverHeartbeatStarted', {});
      now = 6900;
      watchdog.check();
      assert.deepEqual(hung, [], 'within 2x the bound');
      now = 7100;
      watchdog.check();
      assert.deepEqual(hung, [2100]);
      client.emit('serverHeartbeatFailed', {});
      now = 20_000;
      watchdog.check();
      assert.deepEqual(hung, [2100], 'a failed heartbeat ended');
    } finally {
      watchdog.stop();
    }
  });
});

/** The driver's monitor connection for the one server (internals: this test breaks if they move). */
function monitorSocket(client: MongoClient): Socket {
  const topology = (client as unknown as { topology: { s: { servers: Map<string, { monitor: { connection: { socket: Socket } | null } }> } } }).topology;
  const [server] = [...topology.s.servers.values()];
  const connection = server?.monitor.connection;
  assert.ok(connection, 'the monitor has a connection');
  return connection.socket;
}

async function pingWithin(connection: StoreConnection, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      await connection.db.command({ ping: 1 });
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return false;
}

describe('StoreConnection with a hung driver monitor', { skip: mongo.skip }, () => {
  it('replaces the client once the database answers again', { timeout: 60_000 }, async () => {
    const proxy = await MongoOutageProxy.start(mongo.uri!);
    const dbName = `hung_monitor_${randomInt(2 ** 40).toString(36)}`;
    const metrics = createMetrics({ collectDefault: false });
    const connection = new StoreConnection(proxy.uri(dbName), dbName, 1000, silentLogger(), metrics);
    try {
      await connection.connect({ attempts: 10, initialDelayMs: 100, maxDelayMs: 1000 });
      const original = connection.db.client;
      // Destroyed without telling the driver: its Connection still thinks the socket is open.
      const socket = monitorSocket(original);
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      // The next heartbeat (every 2 s) is written to it and never ends.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      assert.ok(await pingWithin(connection, 1000), 'operations still work while the server is known');

      // The database goes away under an operation in flight: the server turns Unknown.
      proxy.freeze();
      const inFlight = connection.db.command({ ping: 1 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await proxy.down();
      await assert.rejects(inFlight);
      await proxy.up();

      assert.ok(await pingWithin(connection, 30_000), 'the store reaches the database again within 30 s');
      assert.equal(connection.replacements, 1, 'by replacing the hung client');
      assert.notEqual(connection.db.client, original);
      assert.equal((await metrics.storeClientReplacements.get()).values[0]?.value, 1, 'chat_store_client_replacements_total');
    } finally {
      await connection.close();
      await proxy.down();
      await dropDatabases(mongo.uri!, [dbName]);
    }
  });
});
