// Ban and revocation records in this process's memory (DB_URI=mem): one instance, lost on restart
// like everything beside them.
import type { AccessRecord, AccessStore } from '../access-store.js';

export class MemoryAccessStore implements AccessStore {
  private readonly records = new Map<string, AccessRecord>();

  async start(): Promise<void> {}

  async ban(userId: string, at: number): Promise<AccessRecord> {
    const current = this.records.get(userId);
    return this.put({ userId, bannedAt: at, tokensValidAfter: current?.tokensValidAfter ?? 0, updatedAt: at });
  }

  async unban(userId: string, at: number): Promise<AccessRecord> {
    return this.put({ userId, bannedAt: null, tokensValidAfter: this.records.get(userId)?.tokensValidAfter ?? 0, updatedAt: at });
  }

  async revoke(userId: string, at: number): Promise<AccessRecord> {
    const current = this.records.get(userId);
    return this.put({ userId, bannedAt: current?.bannedAt ?? null, tokensValidAfter: Math.max(current?.tokensValidAfter ?? 0, at), updatedAt: at });
  }

  async get(userId: string): Promise<AccessRecord | undefined> {
    return this.records.get(userId);
  }

  async restricted(): Promise<AccessRecord[]> {
    return [...this.records.values()].filter((record) => record.bannedAt !== null || record.tokensValidAfter > 0);
  }

  async changedSince(since: number): Promise<AccessRecord[]> {
    return [...this.records.values()].filter((record) => record.updatedAt >= since);
  }

  private put(record: AccessRecord): AccessRecord {
    const frozen = Object.freeze(record);
    this.records.set(record.userId, frozen);
    return frozen;
  }
}
