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
