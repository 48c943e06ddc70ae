// The embedded default store (DB_URI=mem): everything in this process's memory, so `npm start` works
// with nothing installed. It keeps the same contract as the Mongo store, but its truth ends with the
// process: use MongoDB wherever messages must survive a restart.
import {
  StoreUnavailableError,
  type DeliveryMark,
  type DeliveryState,
  type NewMessage,
  type PendingPage,
  type PersistResult,
  type Store,
  type StoreCounts,
  type StoredMessage,
} from '../store.js';

interface DeliveryEntry {
  readonly message: StoredMessage;
  status: 'pending' | 'delivered';
  deliveredAt: number | undefined;
  marks: number;
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly messages = new Map<string, StoredMessage>();
  /** recipient → messageId → entry; insertion order is seq order because seqs only grow. */
  private readonly pendingByUser = new Map<string, Map<string, DeliveryEntry>>();
  /** messageId → its delivery entry (one recipient per message today; the entry names it). */
  private readonly deliveries = new Map<string, DeliveryEntry>();
  private persists = 0;
  private deliveryMarks = 0;
  private delivered = 0;
  private closed = false;

  async start(): Promise<void> {}

  async persist(message: NewMessage): Promise<PersistResult> {
    this.assertOpen();
    const existing = this.messages.get(message.messageId);
    if (existing) {
      const same = existing.from === message.from && existing.to === message.to && existing.body === message.body;
      return same ? { kind: 'duplicate', message: existing } : { kind: 'conflict', messageId: message.messageId };
    }
    // The store takes ownership of `message` (the send path builds a fresh object and never changes it).
    const stored: StoredMessage = message;
    this.messages.set(stored.messageId, stored);
    const entry: DeliveryEntry = { message: stored, status: 'pending', deliveredAt: undefined, marks: 0 };
    this.deliveries.set(stored.messageId, entry);
    let pending = this.pendingByUser.get(stored.to);
    if (!pending) this.pendingByUser.set(stored.to, (pending = new Map()));
    pending.set(stored.messageId, entry);
    this.persists++;
    return { kind: 'created', message: stored };
  }

  async pendingFor(userId: string, after: number | undefined, limit: number): Promise<PendingPage> {
    this.assertOpen();
    const messages: StoredMessage[] = [];
    const pending = this.pendingByUser.get(userId);
    if (pending) {
      for (const entry of pending.values()) {
        if (after !== undefined && entry.message.seq <= after) continue;
        if (messages.length === limit) return { messages, next: messages[messages.length - 1]!.seq };
        messages.push(entry.message);
      }
    }
    return { messages, next: undefined };
  }

  async markDelivered(userId: string, messageIds: readonly string[]): Promise<DeliveryMark[]> {
    this.assertOpen();
    const marks: DeliveryMark[] = [];
    const pending = this.pendingByUser.get(userId);
    if (!pending) return marks;
    const now = Date.now();
    for (const messageId of messageIds) {
      const entry = pending.get(messageId);
      if (!entry || entry.status !== 'pending') continue;
      entry.status = 'delivered';
      entry.deliveredAt = now;
      entry.marks++;
      pending.delete(messageId);
      this.deliveryMarks++;
      this.delivered++;
      marks.push({ messageId, from: entry.message.from, deliveredAt: now, ts: entry.message.ts });
    }
    if (pending.size === 0) this.pendingByUser.delete(userId);
    return marks;
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async getMessage(messageId: string): Promise<StoredMessage | undefined> {
    return this.messages.get(messageId);
  }

  async deliveryState(messageId: string, recipient: string): Promise<DeliveryState | undefined> {
    const entry = this.deliveries.get(messageId);
    if (!entry || entry.message.to !== recipient) return undefined;
    return { status: entry.status, deliveredAt: entry.deliveredAt, marks: entry.marks };
  }

  async counts(): Promise<StoreCounts> {
    return {
      messages: this.messages.size,
      deliveries: this.deliveries.size,
      delivered: this.delivered,
      persists: this.persists,
      deliveryMarks: this.deliveryMarks,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('store is closed');
  }
}
