// The delivery cursor cache: per user, what this process has proved about their deliveries. It only
// ever removes work that is provably redundant, because other instances write to the same database:
//
// - `delivered` ids are terminal (a delivery never goes back to pending), so a confirmation of one of
//   them can be answered "no new mark" without a write, whoever marked it.
// - `pending` facts are the immutable part of a delivery (sender and accept time). The marking batch
//   uses them to build DELIVERED acks without reading the entries back; whether a mark happens is
//   still decided by Mongo's conditional update, never by this cache.
//
// It never answers "what is pending for X": another instance may have stored a message for X a
// moment ago, and without a cross-instance signal no process can prove otherwise, so every replay
// asks Mongo (one indexed range read; docs/store.md has the full reasoning).
import { LRUCache } from 'lru-cache';

export interface PendingFact {
  readonly from: string;
  readonly ts: number;
}

interface UserCursor {
  /** messageId → facts; insertion order, the oldest dropped past the per-user bound. */
  readonly pending: Map<string, PendingFact>;
  readonly delivered: Set<string>;
}

/** Facts kept per user and kind: one replay page's worth of confirmations without a read-back. */
export const FACTS_PER_USER = 512;
/** Average facts per cached user the whole cache may hold (total memory bound). */
const AVERAGE_FACTS_PER_USER = 8;

export class DeliveryCursorCache {
  private readonly users: LRUCache<string, UserCursor>;

  constructor(maxUsers: number) {
    this.users = new LRUCache<string, UserCursor>({
      max: maxUsers,
      maxSize: Math.max(maxUsers * AVERAGE_FACTS_PER_USER, 2 * FACTS_PER_USER + 1),
      sizeCalculation: (cursor) => 1 + cursor.pending.size + cursor.delivered.size,
    });
  }

  /** A delivery to `userId` exists (it was stored or read as pending); its facts never change. */
  notePending(userId: string, messageId: string, fact: PendingFact): void {
    const cursor = this.cursorFor(userId);
    if (cursor.delivered.has(messageId) || cursor.pending.has(messageId)) return;
    cursor.pending.set(messageId, fact);
    if (cursor.pending.size > FACTS_PER_USER) cursor.pending.delete(cursor.pending.keys().next().value!);
    this.users.set(userId, cursor); // recomputes the entry's size
  }

  pendingFact(userId: string, messageId: string): PendingFact | undefined {
    return this.users.get(userId)?.pending.get(messageId);
  }

  /** These deliveries to `userId` are delivered: terminal, true on every instance from now on. */
  noteDelivered(userId: string, messageIds: Iterable<string>): void {
    const cursor = this.cursorFor(userId);
    for (const messageId of messageIds) {
      cursor.pending.delete(messageId);
      cursor.delivered.add(messageId);
      if (cursor.delivered.size > FACTS_PER_USER) cursor.delivered.delete(cursor.delivered.values().next().value!);
    }
    this.users.set(userId, cursor);
  }

  isDelivered(userId: string, messageId: string): boolean {
    return this.users.get(userId)?.delivered.has(messageId) ?? false;
  }

  /** Cached users. */
  get size(): number {
    return this.users.size;
  }

  clear(): void {
    this.users.clear();
  }

  private cursorFor(userId: string): UserCursor {
    let cursor = this.users.get(userId);
    if (!cursor) cursor = { pending: new Map(), delivered: new Set() };
    return cursor;
  }
}
