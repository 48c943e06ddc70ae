// Ban and revocation records in MongoDB: a `userAccess` collection, one document per user keyed by the
// user id, written with single-document upserts. `tokensValidAfter` moves with $max, so a revocation
// never goes back whatever order two instances' writes land in. An index on `updatedAt` serves the
// instances' refresh every ACCESS_REFRESH_MS. Only what real MongoDB and FerretDB v1 both have is used.
import { MongoServerError, type Collection, type Db } from 'mongodb';
import type { AccessRecord, AccessStore } from '../access-store.js';
import { DUPLICATE_KEY } from './documents.js';

interface AccessDocument {
  _id: string;
  bannedAt: number | null;
  tokensValidAfter: number;
  updatedAt: number;
}

export const ACCESS_COLLECTION = 'userAccess';

export class MongoAccessStore implements AccessStore {
  private collection: Collection<AccessDocument> | undefined;

  /** `database`: the message store's, once connected (one client for everything). */
  constructor(private readonly database: () => Db) {}

  async start(): Promise<void> {
    if (this.collection) return;
    const collection = this.database().collection<AccessDocument>(ACCESS_COLLECTION);
    await collection.createIndexes([{ name: 'by_updated', key: { updatedAt: 1 } }]);
    this.collection = collection;
  }

  ban(userId: string, at: number): Promise<AccessRecord> {
    return this.upsert(userId, { $set: { bannedAt: at, updatedAt: at }, $setOnInsert: { tokensValidAfter: 0 } });
  }

  unban(userId: string, at: number): Promise<AccessRecord> {
    return this.upsert(userId, { $set: { bannedAt: null, updatedAt: at }, $setOnInsert: { tokensValidAfter: 0 } });
  }

  revoke(userId: string, at: number): Promise<AccessRecord> {
    return this.upsert(userId, { $max: { tokensValidAfter: at }, $set: { updatedAt: at }, $setOnInsert: { bannedAt: null } });
  }

  async get(userId: string): Promise<AccessRecord | undefined> {
    const doc = await this.records().findOne({ _id: userId });
    return doc ? recordOf(doc) : undefined;
  }

  async restricted(): Promise<AccessRecord[]> {
    const docs = await this.records().find({ $or: [{ bannedAt: { $ne: null } }, { tokensValidAfter: { $gt: 0 } }] }).toArray();
    return docs.map(recordOf);
  }

  async changedSince(since: number): Promise<AccessRecord[]> {
    const docs = await this.records().find({ updatedAt: { $gte: since } }).toArray();
    return docs.map(recordOf);
  }

  private async upsert(userId: string, update: Record<string, unknown>): Promise<AccessRecord> {
    // `userId` was validated against the user-id pattern: a plain string, never an operator object.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.records().updateOne({ _id: userId }, update, { upsert: true });
        break;
      } catch (error) {
        // Two first writes for one user at once: the loser's insert clashes on _id; it is an update now.
        if (attempt === 0 && error instanceof MongoServerError && error.code === DUPLICATE_KEY) continue;
        throw error;
      }
    }
    const doc = await this.records().findOne({ _id: userId });
    if (!doc) throw new Error(`access record of ${userId} vanished after its upsert`);
    return recordOf(doc);
  }

  private records(): Collection<AccessDocument> {
    if (!this.collection) throw new Error('access store is not started');
    return this.collection;
  }
}

function recordOf(doc: AccessDocument): AccessRecord {
  return { userId: doc._id, bannedAt: doc.bannedAt ?? null, tokensValidAfter: doc.tokensValidAfter ?? 0, updatedAt: doc.updatedAt };
}
