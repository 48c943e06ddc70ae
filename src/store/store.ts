// The Store contract. Every implementation (memory/, mongo/) passes test/store/contract.ts.
//
// Shape: a message is stored once (keyed by the client's messageId) and never changed; delivery state
// lives in one delivery entry per (message, recipient), so per-device entries and group messages
// (one message, many recipients) fit without changing the message.

export interface NewMessage {
  readonly messageId: string;
  readonly from: string;
  readonly to: string;
  readonly body: string;
  /** Server accept time, ms since the epoch. */
  readonly ts: number;
  /** Server-assigned sort key: strictly increasing in accept order within a process (see SortKeyClock). */
  readonly seq: number;
}

export type StoredMessage = NewMessage;

export type PersistResult =
  | { readonly kind: 'created'; readonly message: StoredMessage }
  /** The same messageId, sender, recipient and body was stored before: `message` is the original. */
  | { readonly kind: 'duplicate'; readonly message: StoredMessage }
  /** The messageId exists with another sender, recipient or body; nothing was changed. */
  | { readonly kind: 'conflict'; readonly messageId: string };

export interface DeliveryMark {
  readonly messageId: string;
  /** The sender, who gets the DELIVERED ack. */
  readonly from: string;
  readonly deliveredAt: number;
  /** Accept time of the message, for the delivery latency histogram. */
  readonly ts: number;
}

export interface PendingPage {
  readonly messages: readonly StoredMessage[];
  /** Pass back as `after` for the next page; undefined when this was the last page. */
  readonly next: number | undefined;
}

export interface DeliveryState {
  readonly status: 'pending' | 'delivered';
  readonly deliveredAt: number | undefined;
  /** How many times the pending → delivered transition happened: 1 once delivered, never more. */
  readonly marks: number;
}

export interface StoreCounts {
  /** Message rows. */
  readonly messages: number;
  /** Delivery entries (one per message and recipient). */
  readonly deliveries: number;
  readonly delivered: number;
  /** Successful inserts of new messages by this process (a retry does not count). */
  readonly persists: number;
  /** Successful pending → delivered transitions by this process. */
  readonly deliveryMarks: number;
}

export interface Store {
  readonly kind: 'memory' | 'mongo';
  /** Connects and prepares (indexes); rejects if the store cannot be reached. */
  start(): Promise<void>;
  /** Stores a message idempotently by messageId. Resolves only once the write is durable. */
  persist(message: NewMessage): Promise<PersistResult>;
  /** One page of `userId`'s unconfirmed messages in accept order (seq ascending), after sort key `after`. */
  pendingFor(userId: string, after: number | undefined, limit: number): Promise<PendingPage>;
  /**
   * Marks `userId`'s deliveries of these messages delivered, each at most once ever. Ids that are not
   * addressed to `userId`, unknown, or already delivered are ignored. Returns the marks made now.
   */
  markDelivered(userId: string, messageIds: readonly string[]): Promise<DeliveryMark[]>;
  /** Resolves if the store answers now (readiness). */
  ping(): Promise<void>;
  /** Flushes pending batches and closes. */
  close(): Promise<void>;

  // Inspection, for tests, gates and benchmarks.
  getMessage(messageId: string): Promise<StoredMessage | undefined>;
  deliveryState(messageId: string, recipient: string): Promise<DeliveryState | undefined>;
  counts(): Promise<StoreCounts>;
}

/** A store error that means "not stored; retry later" (connection lost, timeout). */
export class StoreUnavailableError extends Error {
  /** When known (an overloaded queue), how long until a retry can be served, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
    this.retryAfterMs = options?.retryAfterMs;
  }
}
