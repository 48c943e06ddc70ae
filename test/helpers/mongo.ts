// Mongo test helpers: a started MongoStore on a given database and a cleanup that drops databases.
// Used only when TEST_MONGO_URI is set (see stores.ts).
import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { MongoClient } from 'mongodb';
import { MongoStore, type MongoStoreOptions } from '../../src/store/mongo/mongo-store.js';

/** A started MongoStore with the production defaults, failing fast if the test server is not there. */
export async function createMongoStoreForTests(uri: string, overrides: Partial<MongoStoreOptions> = {}): Promise<MongoStore> {
  const store = new MongoStore({
    uri,
    opTimeoutMs: 5000,
    batch: { maxWaitMs: 2, maxOps: 512 },
    cursorCacheMax: 100_000,
    startRetry: { attempts: 3, initialDelayMs: 100 },
    ...overrides,
  });
  await store.start();
  return store;
}

export async function dropDatabases(baseUri: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const client = new MongoClient(baseUri, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    for (const name of names) await client.db(name).dropDatabase();
  } finally {
    await client.close();
  }
}

/** The URI of database `dbName` on the server of `baseUri` (credentials and options kept). */
export function mongoUriFor(baseUri: string, dbName: string): string {
  const url = new URL(baseUri);
  url.pathname = `/${dbName}`;
  return url.toString();
}

/** The same URI through a local port (a latency proxy in front of the server), database and options kept. */
export function mongoUriThrough(uri: string, port: number): string {
  const url = new URL(uri);
  url.host = `127.0.0.1:${port}`;
  return url.toString();
}

/**
 * TEST_MONGO_URI for a Mongo-only test file, or undefined (the file skips). With REQUIRE_MONGO=1 a
 * missing URI throws: a skipped Mongo test must fail the run, not pass it silently.
 */
export function mongoTestUri(): string | undefined {
  const uri = process.env.TEST_MONGO_URI;
  if (!uri && process.env.REQUIRE_MONGO === '1') throw new Error('REQUIRE_MONGO=1 but TEST_MONGO_URI is not set: Mongo tests would be skipped');
  return uri || undefined;
}

/** Fresh database names for one test file, dropped together by `drop()` (call it in after()). */
export class TestDatabases {
  private readonly names: string[] = [];

  constructor(readonly baseUri: string, private readonly prefix: string) {}

  /** A URI on a new, empty database. */
  fresh(): string {
    const name = `t_${this.prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    this.names.push(name);
    return mongoUriFor(this.baseUri, name);
  }

  drop(): Promise<void> {
    return dropDatabases(this.baseUri, this.names.splice(0));
  }
}

/**
 * A TCP proxy in front of the test server: `down()` drops every connection and stops listening (Mongo
 * "gone" for the stores behind it, without touching the shared server), `up()` listens again on the
 * same port.
 */
export class MongoOutageProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly target: { host: string; port: number }, public port: number) {}

  static async start(baseUri: string, options: { listening?: boolean } = {}): Promise<MongoOutageProxy> {
    const url = new URL(baseUri);
    const proxy = new MongoOutageProxy({ host: url.hostname, port: Number(url.port || 27017) }, 0);
    if (options.listening === false) {
      // Reserve a free port, then leave it closed: "Mongo unreachable" from the first attempt.
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      proxy.port = (probe.address() as AddressInfo).port;
      await new Promise((resolve) => probe.close(resolve));
    } else {
      await proxy.up();
    }
    return proxy;
  }

  /** A URI on database `dbName` through this proxy (a single server: no topology discovery). */
  uri(dbName: string): string {
    return `mongodb://127.0.0.1:${this.port}/${dbName}?directConnection=true`;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stalls every open connection: nothing is forwarded either way (an operation stays in flight). */
  freeze(): void {
    for (const socket of this.sockets) socket.pause();
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
