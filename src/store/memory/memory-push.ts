// The memory store's push state (push-store.ts): the notifications and slots in two maps, and the
// message and cursor reads answered from the memory store's own state (its message table and a
// conversation accessor, handed in so that memory-store.ts only gains one line). The scan walks every
// message (the embedded store is for development; its memory already grows with every message).
import { EMPTY_CURSOR, highestCovered } from '../cursor.js';
import type { NewPushNotification, PushNotification, PushSlot, PushStore, ScanPosition } from '../push-store.js';
import type { StoredMessage } from '../store.js';
import type { ConversationState } from './conversation-state.js';
import type { MessageTable } from './message-table.js';

export class MemoryPushStore implements PushStore {
  private readonly notifications = new Map<string, PushNotification>();
  private readonly slots = new Map<string, PushSlot>();
  private checkpoint: number | undefined;

  constructor(
    private readonly table: MessageTable,
    private readonly conversation: (conversationId: string) => ConversationState | undefined,
  ) {}

  async prepare(): Promise<void> {}

  async messagesBetween(fromTs: number, toTs: number, after: ScanPosition | undefined, limit: number): Promise<StoredMessage[]> {
    const { table } = this;
    const found: (ScanPosition & { readonly row: number })[] = [];
    for (let row = 0; row < table.size; row++) {
      const ts = table.ts(row);
      if (ts < fromTs || ts > toTs) continue;
      const position = { ts, messageId: table.messageId(row), row };
      if (after && compare(position, after) <= 0) continue;
      found.push(position);
    }
    return found
      .sort(compare)
      .slice(0, Math.max(0, limit))
      .map(({ row }) => table.stored(row));
  }

  async deliveredSeq(userId: string, conversationId: string): Promise<number | undefined> {
    const conversation = this.conversation(conversationId);
    const joined = conversation?.members.get(userId);
    if (!conversation || !joined) return undefined;
    return Math.max(joined.joinSeq, highestCovered(conversation.delivered.get(userId) ?? EMPTY_CURSOR));
  }

  async claimNew(notification: NewPushNotification): Promise<boolean> {
    if (this.notifications.has(notification.id)) return false;
    this.notifications.set(notification.id, Object.freeze({ ...notification, status: 'pending', reason: null, attempts: 0, doneAt: null }));
    return true;
  }

  async due(now: number, limit: number): Promise<PushNotification[]> {
    const found: PushNotification[] = [];
    for (const notification of this.notifications.values()) {
      if (notification.status === 'pending' && notification.nextAttemptAt <= now && notification.leaseUntil <= now) found.push(notification);
    }
    return found.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt).slice(0, Math.max(0, limit));
  }

  async takeOver(id: string, expectedLeaseUntil: number, owner: string, leaseUntil: number): Promise<boolean> {
    const notification = this.notifications.get(id);
    if (!notification || notification.status !== 'pending' || notification.leaseUntil !== expectedLeaseUntil) return false;
    this.update(id, { claimedBy: owner, leaseUntil });
    return true;
  }

  async reschedule(id: string, attempts: number, nextAttemptAt: number): Promise<void> {
    const notification = this.notifications.get(id);
    if (notification?.status === 'pending') this.update(id, { attempts, nextAttemptAt, leaseUntil: 0 });
  }

  async finish(id: string, status: 'sent' | 'dropped', reason: string | null, attempts: number, at: number): Promise<void> {
    const notification = this.notifications.get(id);
    if (notification?.status === 'pending') this.update(id, { status, reason, attempts, doneAt: at, leaseUntil: 0 });
  }

  async get(id: string): Promise<PushNotification | undefined> {
    return this.notifications.get(id);
  }

  async slot(userId: string, conversationId: string): Promise<PushSlot | undefined> {
    return this.slots.get(slotKey(userId, conversationId));
  }

  async noteScheduled(userId: string, conversationId: string, seq: number, at: number): Promise<void> {
    const key = slotKey(userId, conversationId);
    const slot = this.slots.get(key) ?? { lastSeq: 0, lastAt: 0, lastSentAt: 0 };
    this.slots.set(key, { ...slot, lastSeq: Math.max(slot.lastSeq, seq), lastAt: Math.max(slot.lastAt, at) });
  }

  async noteSent(userId: string, conversationId: string, at: number): Promise<void> {
    const key = slotKey(userId, conversationId);
    const slot = this.slots.get(key) ?? { lastSeq: 0, lastAt: 0, lastSentAt: 0 };
    this.slots.set(key, { ...slot, lastSentAt: Math.max(slot.lastSentAt, at) });
  }

  async scanCheckpoint(): Promise<number | undefined> {
    return this.checkpoint;
  }

  async saveScanCheckpoint(ts: number): Promise<void> {
    this.checkpoint = Math.max(this.checkpoint ?? ts, ts);
  }

  private update(id: string, patch: Partial<PushNotification>): void {
    this.notifications.set(id, Object.freeze({ ...this.notifications.get(id)!, ...patch }));
  }
}

const slotKey = (userId: string, conversationId: string) => `${userId}\n${conversationId}`;

function compare(a: ScanPosition, b: ScanPosition): number {
  return a.ts - b.ts || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);
}
