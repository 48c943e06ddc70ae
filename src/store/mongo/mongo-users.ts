// Accounts in MongoDB: a `users` collection with a unique index on the lower-cased username, so two
// concurrent registrations of "alice" and "Alice" cannot both succeed (the second insert fails with
// E11000; no read-then-write race). Only operations real MongoDB and FerretDB v1 both have are used.
import { MongoServerError, type Collection, type Db } from 'mongodb';
import { DUPLICATE_KEY } from './documents.js';
import { usernameKey, type CreateUserResult, type UserRecord, type UserStore } from '../users.js';

interface UserDocument {
  username: string;
  /** usernameKey(username): the uniqueness key. */
  usernameKey: string;
  passwordHash: string;
  createdAt: Date;
}

export const USERS_COLLECTION = 'users';
export const USER_INDEXES = [{ name: 'username_unique', key: { usernameKey: 1 }, unique: true }] as const;

export interface MongoUserStoreOptions {
  /**
   * The database, once connected: the message store's (openStores), so that accounts share its one
   * client, its timeouts and its retry at start.
   */
  readonly database: () => Db;
}

export class MongoUserStore implements UserStore {
  readonly kind = 'mongo' as const;
  private collection: Collection<UserDocument> | undefined;

  constructor(private readonly options: MongoUserStoreOptions) {}

  async start(): Promise<void> {
    if (this.collection) return;
    const collection = this.options.database().collection<UserDocument>(USERS_COLLECTION);
    await collection.createIndexes(USER_INDEXES.map((index) => ({ ...index, key: { ...index.key } })));
    this.collection = collection;
  }

  async create(username: string, passwordHash: string): Promise<CreateUserResult> {
    const createdAt = Date.now();
    try {
      await this.users().insertOne({ username, usernameKey: usernameKey(username), passwordHash, createdAt: new Date(createdAt) });
    } catch (error) {
      // FerretDB reports only the code (no keyPattern): the unique index is the only one that can clash.
      if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return { kind: 'taken' };
      throw error;
    }
    return { kind: 'created', user: { username, passwordHash, createdAt } };
  }

  async find(username: string): Promise<UserRecord | undefined> {
    // `username` was validated against the user-id pattern: a plain string, never an operator object.
    const doc = await this.users().findOne({ usernameKey: usernameKey(username) });
    return doc ? { username: doc.username, passwordHash: doc.passwordHash, createdAt: doc.createdAt.getTime() } : undefined;
  }

  /** The client is the message store's: it closes it. */
  async close(): Promise<void> {
    this.collection = undefined;
  }

  private users(): Collection<UserDocument> {
    if (!this.collection) throw new Error('user store is not started');
    return this.collection;
  }
}
