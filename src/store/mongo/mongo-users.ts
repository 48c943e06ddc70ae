// Accounts in MongoDB: a `users` collection with a unique index on the lower-cased username, so two
// concurrent registrations of "alice" and "Alice" cannot both succeed (the second insert fails with
// E11000; no read-then-write race). Only operations real MongoDB and FerretDB v1 both have are used.
import { MongoClient, MongoServerError, type Collection, type Db } from 'mongodb';
import { mongoDbName } from '../../config.js';
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

export type MongoUserStoreOptions =
  /** A database someone else connected (and closes). */
  | { readonly db: Db }
  /** Connects its own client to the database named in the URI path (default `chat`). */
  | { readonly uri: string; readonly opTimeoutMs: number };

export class MongoUserStore implements UserStore {
  readonly kind = 'mongo' as const;
  private client: MongoClient | undefined;
  private collection: Collection<UserDocument> | undefined;

  constructor(private readonly options: MongoUserStoreOptions) {}

  async start(): Promise<void> {
    if (this.collection) return;
    let db: Db;
    if ('db' in this.options) {
      db = this.options.db;
    } else {
      const { uri, opTimeoutMs } = this.options;
      const client = new MongoClient(uri, {
        appName: 'uws-chat-users',
        serverSelectionTimeoutMS: opTimeoutMs,
        connectTimeoutMS: Math.min(opTimeoutMs, 10_000),
        socketTimeoutMS: opTimeoutMs,
        waitQueueTimeoutMS: opTimeoutMs,
        maxPoolSize: 10,
      });
      await client.connect();
      this.client = client;
      db = client.db(mongoDbName(uri));
    }
    const collection = db.collection<UserDocument>(USERS_COLLECTION);
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

  async close(): Promise<void> {
    this.collection = undefined;
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  private users(): Collection<UserDocument> {
    if (!this.collection) throw new Error('user store is not started');
    return this.collection;
  }
}
