// Picks the store for DB_URI: `mem` → the embedded in-memory store, mongodb:// → MongoStore.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { MemoryStore } from './memory/memory-store.js';
import type { Store } from './store.js';

export async function createStore(config: Config, _log: Logger, _metrics: Metrics): Promise<Store> {
  if (config.db.kind === 'memory') return new MemoryStore();
  throw new Error('DB_URI: mongodb:// URIs are not supported yet; use DB_URI=mem');
}
