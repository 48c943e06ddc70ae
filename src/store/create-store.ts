// Picks the store for DB_URI: `mem` → the embedded in-memory store, mongodb:// → MongoStore.
// The Mongo store connects in start(), which createServer awaits before it listens: a server whose
// Mongo is unreachable keeps retrying (and logging) and never listens as ready.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { MemoryStore } from './memory/memory-store.js';
import { MongoStore } from './mongo/mongo-store.js';
import type { Store } from './store.js';

export async function createStore(config: Config, log: Logger, metrics: Metrics): Promise<Store> {
  if (config.db.kind === 'memory') return new MemoryStore();
  return new MongoStore({
    uri: config.db.uri,
    opTimeoutMs: config.db.opTimeoutMs,
    batch: config.batch,
    cursorCacheMax: config.cursorCacheMax,
    log,
    metrics,
  });
}
