// Mongo test helpers: a started MongoStore on a given database and a cleanup that drops databases.
// Used only when TEST_MONGO_URI is set (see stores.ts).
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
