// The collections and their documents (docs/store.md has the why).
//
// messages:   one document per message, keyed by the client's messageId, inserted once and never
//             updated. It is the truth for idempotency and content.
// deliveries: one document per (message, recipient) holding the delivery state. Group messages add
//             more recipients and per-device delivery adds more entries, without touching the message.
// receipts:   one document per confirmed delivery, same _id. Inserting it is the mark: a unique-key
//             insert is atomic on every server (a conditional update is not on FerretDB v1), so
//             exactly one confirmation can win, on any instance.
import type { Collection, Db } from 'mongodb';
import type { StoredMessage } from '../store.js';

export interface MessageDoc {
  _id: string;
  from: string;
  to: string;
  body: string;
  /** Accept time, ms since the epoch. */
  ts: number;
  /** Server-assigned sort key (see sort-key.ts). */
  seq: number;
  /** The persist batch that inserted it (`<instance>:<batch>`): provenance for operators. */
  insertedBy: string;
}

export interface DeliveryDoc {
  /** `<recipient>/<messageId>`: user ids never contain "/", so the split is unambiguous. */
  _id: string;
  messageId: string;
  to: string;
  /** Copied from the message (immutable there): the DELIVERED ack goes to `from`, `ts` feeds latency. */
  from: string;
  ts: number;
  /** Replay order for this recipient: the message's sort key (see MongoStore.persist for the one exception). */
  seq: number;
  status: 'pending' | 'delivered';
  deliveredAt?: number;
  /** How many pending → delivered transitions happened: 0 or 1. */
  marks: number;
}

export interface ReceiptDoc {
  /** The delivery's _id. */
  _id: string;
  messageId: string;
  to: string;
  from: string;
  ts: number;
  deliveredAt: number;
  /** The mark batch that inserted it (`<instance>:<batch>`). */
  markedBy: string;
}

export interface Collections {
  readonly messages: Collection<MessageDoc>;
  readonly deliveries: Collection<DeliveryDoc>;
  readonly receipts: Collection<ReceiptDoc>;
}

export function collectionsOf(db: Db): Collections {
  return {
    messages: db.collection<MessageDoc>('messages'),
    deliveries: db.collection<DeliveryDoc>('deliveries'),
    receipts: db.collection<ReceiptDoc>('receipts'),
  };
}

/** MongoDB's (and FerretDB's) duplicate-key error code: a unique index refused an insert. */
export const DUPLICATE_KEY = 11000;

export function deliveryId(recipient: string, messageId: string): string {
  return `${recipient}/${messageId}`;
}

export const MESSAGE_PROJECTION = { _id: 1, from: 1, to: 1, body: 1, ts: 1, seq: 1 } as const;

export function toStoredMessage(doc: Pick<MessageDoc, '_id' | 'from' | 'to' | 'body' | 'ts' | 'seq'>): StoredMessage {
  return Object.freeze({ messageId: doc._id, from: doc.from, to: doc.to, body: doc.body, ts: Number(doc.ts), seq: Number(doc.seq) });
}

/** Same sender, recipient and body: a retry of the stored message, not a conflicting reuse of its id. */
export function sameContent(a: Pick<StoredMessage, 'from' | 'to' | 'body'>, b: Pick<StoredMessage, 'from' | 'to' | 'body'>): boolean {
  return a.from === b.from && a.to === b.to && a.body === b.body;
}
