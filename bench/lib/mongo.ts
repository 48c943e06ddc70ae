// MongoDB for benchmarks: which server (BENCH_MONGO_URI, else CI's TEST_MONGO_URI, else the local
// FerretDB test server), a fresh database per run, and dropping it afterwards.
//
// Every call is bounded by a hard timeout: a MongoDB-wire server that accepts connections but never
// answers (FerretDB whose PostgreSQL is out of connections does exactly that) must not hang a run.

import { MongoClient } from 'mongodb';
import { runTag } from './bodies.js';

export function benchMongoBaseUri(): string {
  return process.env.BENCH_MONGO_URI ?? process.env.TEST_MONGO_URI ?? 'mongodb://127.0.0.1:27017/';
}

/** `base` with its database (the URI path) replaced by `db`. */
export function withDatabase(base: string, db: string): string {
  const u = new URL(base);
  u.pathname = `/${db}`;
  return u.toString();
}

export function freshDatabaseName(prefix: string): string {
  return `${prefix}_${runTag()}`;
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms))),
  ]);
}

async function withClient<T>(uri: string, ms: number, what: string, use: (c: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: ms, connectTimeoutMS: ms, socketTimeoutMS: ms });
  try {
    return await bounded(
      client.connect().then(() => use(client)),
      ms,
      what,
    );
  } finally {
    void client.close().catch(() => {});
  }
}

/** undefined when the server answers a ping (and a write) within `ms`, else why not. */
export async function probeMongo(base: string, ms = 5000): Promise<string | undefined> {
  const db = freshDatabaseName('bench_probe');
  try {
    await withClient(withDatabase(base, db), ms, `MongoDB at ${base}`, async (c) => {
      await c.db(db).command({ ping: 1 });
      await c.db(db).collection('probe').insertOne({ at: new Date() });
      await c.db(db).dropDatabase();
    });
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

export async function dropDatabase(base: string, db: string, ms = 15_000): Promise<void> {
  await withClient(withDatabase(base, db), ms, `dropping ${db}`, (c) => c.db(db).dropDatabase());
}

/** Where ours keeps its messages, as `--store mem|mongo [--mongo-proxy-ms D]` says: each call a URI (a fresh database per call on MongoDB). */
export interface BenchStore {
  readonly uri: () => string;
  /** For the result's description: empty on mem. */
  readonly note: string;
  /** Stops the proxy and drops every database handed out. */
  close(): Promise<void>;
}

/**
 * `--store mem` (default), or `--store mongo`: MongoDB at benchMongoBaseUri(), optionally through the
 * latency proxy (`--mongo-proxy-ms D`, D ms each way, its own process), a fresh database per server
 * start, dropped at close.
 */
export async function openBenchStore(args: { str(name: string): string | undefined }, prefix: string): Promise<BenchStore> {
  const store = args.str('store') ?? 'mem';
  if (store === 'mem') return { uri: () => 'mem', note: '', close: async () => {} };
  if (store !== 'mongo') throw new Error(`--store must be mem or mongo, got ${store}`);
  const base = benchMongoBaseUri();
  const unusable = await probeMongo(base);
  if (unusable) throw new Error(`--store mongo: ${base} is not usable (${unusable})`);
  const proxyMs = args.str('mongo-proxy-ms');
  // Imported when used: a run on mem does not load the proxy's module.
  const proxy = proxyMs === undefined ? undefined : await (await import('./latency-proxy.js')).startLatencyProxyProcess(new URL(base).host, Number(proxyMs));
  const databases: string[] = [];
  return {
    uri: () => {
      databases.push(freshDatabaseName(prefix));
      return withDatabase(proxy ? `mongodb://127.0.0.1:${proxy.port}/` : base, databases.at(-1)!);
    },
    note: `, ours on MongoDB at ${new URL(base).host}${proxy ? ` through a latency proxy, ${proxyMs} ms each way` : ''}`,
    close: async () => {
      await proxy?.stop();
      for (const db of databases) await dropDatabase(base, db).catch(() => {});
    },
  };
}
