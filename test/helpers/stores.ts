// The stores every store-dependent suite runs against: memory always, MongoDB when TEST_MONGO_URI is
// set. With REQUIRE_MONGO=1 a missing TEST_MONGO_URI fails the run instead of silently skipping.
import { randomUUID } from 'node:crypto';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { DeviceBound, Store } from '../../src/store/store.js';

export interface StoreVariant {
  readonly name: 'memory' | 'mongo';
  /** In test titles, when the name alone does not tell variants apart. */
  readonly label?: string;
  /** DB_URI for a server using this variant (a fresh database for mongo). */
  dbUri(): string;
  /** A fresh, started store of this kind on its own database (`options`: limits both stores take). */
  create(options?: StoreLimits): Promise<Store>;
  /** Drops what this variant created (each test file uses its own database names). */
  cleanup(): Promise<void>;
}

/** Limits both stores take, for tests of a bound at a small size. */
export type StoreLimits = DeviceBound;

export const TEST_MONGO_URI = process.env.TEST_MONGO_URI;

export function storeVariants(): StoreVariant[] {
  const variants: StoreVariant[] = [memoryVariant()];
  if (TEST_MONGO_URI) variants.push(mongoVariant(TEST_MONGO_URI));
  else if (process.env.REQUIRE_MONGO === '1') throw new Error('REQUIRE_MONGO=1 but TEST_MONGO_URI is not set: Mongo tests would be skipped');
  return variants;
}

function memoryVariant(): StoreVariant {
  return {
    name: 'memory',
    dbUri: () => 'mem',
    async create(options: StoreLimits = {}) {
      const store = new MemoryStore(options);
      await store.start();
      return store;
    },
    async cleanup() {},
  };
}

/**
 * The MongoStore with the query shapes it uses on MongoDB (`$in` for a set of ids, one aggregate for
 * replay targets), run against the test server: FerretDB would otherwise get only its own shapes
 * (find-by-ids.ts), and MongoDB's would go untested. The store contract runs on it too.
 */
export function mongoQueryShapesVariant(): StoreVariant | undefined {
  return TEST_MONGO_URI ? mongoVariant(TEST_MONGO_URI, true) : undefined;
}

/** Databases are named per test file run so files never see each other's data. */
function mongoVariant(baseUri: string, mongoShapes = false): StoreVariant {
  const created: string[] = [];
  const uriFor = (dbName: string) => {
    const url = new URL(baseUri);
    url.pathname = `/${dbName}`;
    return url.toString();
  };
  const fresh = () => {
    const name = `t_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
    created.push(name);
    return uriFor(name);
  };
  return {
    name: 'mongo',
    ...(mongoShapes ? { label: "mongo (MongoDB's query shapes)" } : {}),
    dbUri: fresh,
    async create(options: StoreLimits = {}) {
      const { createMongoStoreForTests } = await import('./mongo.js');
      return createMongoStoreForTests(fresh(), mongoShapes ? { ...options, idLookup: 'in' } : options);
    },
    async cleanup() {
      const { dropDatabases } = await import('./mongo.js');
      await dropDatabases(baseUri, created.splice(0));
    },
  };
}
