// Picks the account store for DB_URI, beside createStore: `mem` → in memory, mongodb:// → the `users`
// collection of the same database (its own small connection pool).
import type { Config } from '../config.js';
import { MemoryUserStore } from './memory/memory-users.js';
import { MongoUserStore } from './mongo/mongo-users.js';
import type { UserStore } from './users.js';

export function createUserStore(config: Config): UserStore {
  if (config.db.kind === 'memory') return new MemoryUserStore();
  return new MongoUserStore({ uri: config.db.uri, opTimeoutMs: config.db.opTimeoutMs });
}
