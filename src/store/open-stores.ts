// The stores DB_URI asks for, on one connection: `mem` → the embedded in-memory stores; mongodb:// →
// MongoStore and the accounts in the same database, on MongoStore's one client. Neither is started
// here: start() connects (retrying while MongoDB is unreachable) and creates the indexes.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { MemoryStore } from './memory/memory-store.js';
import { MemoryUserStore } from './memory/memory-users.js';
import { MongoStore } from './mongo/mongo-store.js';
import { MongoUserStore } from './mongo/mongo-users.js';
import type { Store } from './store.js';
import type { UserStore } from './users.js';

export interface Stores {
  readonly store: Store;
  readonly users: UserStore;
}

export function openStores(config: Config, log: Logger, metrics: Metrics): Stores {
  const deviceBound = { maxDevicesPerUser: config.maxDevicesPerUser, onDeviceForgotten: () => metrics.devicesForgotten.inc() };
  if (config.db.kind === 'memory') return { store: new MemoryStore(deviceBound), users: new MemoryUserStore() };
  const store = new MongoStore({
    uri: config.db.uri,
    opTimeoutMs: config.db.opTimeoutMs,
    batch: config.batch,
    cursorCacheMax: config.cursorCacheMax,
    ...deviceBound,
    log,
    metrics,
  });
  return { store, users: new MongoUserStore({ database: () => store.database() }) };
}
