// Ban and revocation records in MongoDB, in two collections so that concurrent writes never clobber
// each other on FerretDB v1, which applies an update as a read-modify-write of the whole document:
// - `userAccessBans`: one document per user ever banned, `bannedAt` (null once unbanned) and `at`, the
//   time of the last change (a ban of a banned user is none). Last writer wins: a ban and an unban at
//   the same moment are a race either outcome of which is right.
// - `userAccessRevocations`: one inserted document per revocation. A user's `tokensValidAfter` is the
//   latest of them, so two revocations landing in either order (or at once) never move it back, and a
//   revocation never overwrites a ban (an insert is atomic on both servers; an update is not on FerretDB).
// A record's `updatedAt` is the latest of its times. Revocations are rare (operator actions, "log out
// everywhere"): each instance reads them all once at start (docs/protocol.md, "Server API").
import { MongoServerError, ObjectId, type Collection, type Db } from 'mongodb';
import type { AccessRecord, AccessStore } from '../access-store.js';
import { DUPLICATE_KEY } from './documents.js';

interface BanDocument {
  _id: string;
  bannedAt: number | null;
  /** ms since the epoch, the writing instance's clock: the last ban or unban. */
  at: number;
}

interface RevocationDocument {
  _id: ObjectId;
  userId: string;
  at: number;
}

export const BANS_COLLECTION = 'userAccessBans';
export const REVOCATIONS_COLLECTION = 'userAccessRevocations';

export class MongoAccessStore implements AccessStore {
  private collections: { bans: Collection<BanDocument>; revocations: Collection<RevocationDocument> } | undefined;

  /** `database`: the message store's, once connected (one client for everything). */
  constructor(private readonly database: () => Db) {}

  async start(): Promise<void> {
    if (this.collections) return;
    const db = this.database();
    const bans = db.collection<BanDocument>(BANS_COLLECTION);
    const revocations = db.collection<RevocationDocument>(REVOCATIONS_COLLECTION);
    // One index per createIndexes call (FerretDB v1: see indexes.ts).
    await bans.createIndexes([{ name: 'by_time', key: { at: 1 } }]);
    await revocations.createIndexes([{ name: 'by_user', key: { userId: 1, at: 1 } }]);
    await revocations.createIndexes([{ name: 'by_time', key: { at: 1 } }]);
    this.collections = { bans, revocations };
  }

  async ban(userId: string, at: number): Promise<AccessRecord> {
    // Only a user not banned now is banned at `at`: the filter matches no document of a banned user, so
    // the upsert's insert clashes on _id, which means "banned already" and `bannedAt` keeps the start.
    try {
      await this.ready().bans.updateOne({ _id: userId, bannedAt: null }, { $set: { bannedAt: at, at } }, { upsert: true });
    } catch (error) {
      if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
    }
    return this.mustGet(userId);
  }

  async unban(userId: string, at: number): Promise<AccessRecord> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.ready().bans.updateOne({ _id: userId }, { $set: { bannedAt: null, at } }, { upsert: true });
        return this.mustGet(userId);
      } catch (error) {
        // Two first writes of one user at once: the loser's insert clashes on _id; it is an update now.
        if (attempt === 0 && error instanceof MongoServerError && error.code === DUPLICATE_KEY) continue;
        throw error;
      }
    }
  }

  async revoke(userId: string, at: number): Promise<AccessRecord> {
    await this.ready().revocations.insertOne({ _id: new ObjectId(), userId, at });
    return this.mustGet(userId);
  }

  async get(userId: string): Promise<AccessRecord | undefined> {
    // `userId` was validated against the user-id pattern: a plain string, never an operator object.
    return (await this.records([userId]))[0];
  }

  async restricted(): Promise<AccessRecord[]> {
    const { bans, revocations } = this.ready();
    const [banned, revoked] = await Promise.all([
      bans.find({ bannedAt: { $ne: null } }, { projection: { _id: 1 } }).toArray(),
      revocations.find({}, { projection: { userId: 1 } }).toArray(),
    ]);
    return this.records([...new Set([...banned.map((doc) => doc._id), ...revoked.map((doc) => doc.userId)])]);
  }

  async changedSince(since: number): Promise<AccessRecord[]> {
    const { bans, revocations } = this.ready();
    const [banned, revoked] = await Promise.all([
      bans.find({ at: { $gte: since } }, { projection: { _id: 1 } }).toArray(),
      revocations.find({ at: { $gte: since } }, { projection: { userId: 1 } }).toArray(),
    ]);
    return this.records([...new Set([...banned.map((doc) => doc._id), ...revoked.map((doc) => doc.userId)])]);
  }

  private async mustGet(userId: string): Promise<AccessRecord> {
    const record = await this.get(userId);
    if (!record) throw new Error(`access record of ${userId} missing after its write`);
    return record;
  }

  /** The records of these users (those that have one), folded from both collections. */
  private async records(userIds: readonly string[]): Promise<AccessRecord[]> {
    if (userIds.length === 0) return [];
    const { bans, revocations } = this.ready();
    const ids = [...userIds];
    const [banDocs, revocationDocs] = await Promise.all([bans.find({ _id: { $in: ids } }).toArray(), revocations.find({ userId: { $in: ids } }).toArray()]);
    const records = new Map<string, { bannedAt: number | null; tokensValidAfter: number; updatedAt: number }>();
    for (const doc of banDocs) records.set(doc._id, { bannedAt: doc.bannedAt ?? null, tokensValidAfter: 0, updatedAt: doc.at });
    for (const doc of revocationDocs) {
      const record = records.get(doc.userId) ?? { bannedAt: null, tokensValidAfter: 0, updatedAt: 0 };
      record.tokensValidAfter = Math.max(record.tokensValidAfter, doc.at);
      record.updatedAt = Math.max(record.updatedAt, doc.at);
      records.set(doc.userId, record);
    }
    return [...records].map(([userId, record]) => ({ userId, ...record }));
  }

  private ready(): { bans: Collection<BanDocument>; revocations: Collection<RevocationDocument> } {
    if (!this.collections) throw new Error('access store is not started');
    return this.collections;
  }
}
