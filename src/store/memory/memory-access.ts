// Ban and revocation records in this process's memory (DB_URI=mem): one instance, lost on restart
// like everything beside them. The same rules as the Mongo store: the ban or unban that changed it decides
// `bannedAt`, the latest revocation is `tokensValidAfter`, `updatedAt` is the latest of the two times.
import type { AccessRecord, AccessStore } from '../access-store.js';

interface Entry {
  bannedAt: number | null;
  /** The last ban or unban (0: none). */
  banChangedAt: number;
  tokensValidAfter: number;
}

export class MemoryAccessStore implements AccessStore {
  private readonly entries = new Map<string, Entry>();

  async start(): Promise<void> {}

  async ban(userId: string, at: number): Promise<AccessRecord> {
    // A ban of a user banned already changes nothing: `bannedAt` keeps when the ban began.
    return this.change(userId, (entry) => entry.bannedAt === null && Object.assign(entry, { bannedAt: at, banChangedAt: at }));
  }

  async unban(userId: string, at: number): Promise<AccessRecord> {
    return this.change(userId, (entry) => Object.assign(entry, { bannedAt: null, banChangedAt: at }));
  }

  async revoke(userId: string, at: number): Promise<AccessRecord> {
    return this.change(userId, (entry) => (entry.tokensValidAfter = Math.max(entry.tokensValidAfter, at)));
  }

  async get(userId: string): Promise<AccessRecord | undefined> {
    const entry = this.entries.get(userId);
    return entry && recordOf(userId, entry);
  }

  async restricted(): Promise<AccessRecord[]> {
    return this.all().filter((record) => record.bannedAt !== null || record.tokensValidAfter > 0);
  }

  async changedSince(since: number): Promise<AccessRecord[]> {
    return this.all().filter((record) => record.updatedAt >= since);
  }

  private change(userId: string, update: (entry: Entry) => void): AccessRecord {
    let entry = this.entries.get(userId);
    if (!entry) this.entries.set(userId, (entry = { bannedAt: null, banChangedAt: 0, tokensValidAfter: 0 }));
    update(entry);
    return recordOf(userId, entry);
  }

  private all(): AccessRecord[] {
    return [...this.entries].map(([userId, entry]) => recordOf(userId, entry));
  }
}

function recordOf(userId: string, entry: Entry): AccessRecord {
  return Object.freeze({ userId, bannedAt: entry.bannedAt, tokensValidAfter: entry.tokensValidAfter, updatedAt: Math.max(entry.banChangedAt, entry.tokensValidAfter) });
}
