// Placeholder until the Mongo store lands: the mongo variant is only used when TEST_MONGO_URI is set.
import type { Store } from '../../src/store/store.js';

export async function createMongoStoreForTests(_uri: string): Promise<Store> {
  throw new Error('MongoStore is not implemented yet');
}

export async function dropDatabases(_baseUri: string, _names: readonly string[]): Promise<void> {}
