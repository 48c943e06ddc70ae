// The one place the fault tests' accounting reads the store's own documents (no server cache in
// between). Everything else in accounting.ts works on these rows, so a store whose layout changes
// (the conversations store replaces the per-message `deliveries` collection by per-device cursors)
// switches here: one adapter that still answers "which messages are stored" and "which recipient
// deliveries were marked, how many times, and when".
import type { Db } from 'mongodb';

export interface StoredMessageRow {
  readonly _id: string;
  readonly from: string;
  readonly to: string;
  readonly body: string;
}

/** One recipient's delivery of one message. */
export interface DeliveryRow {
  readonly _id: string;
  readonly messageId: string;
  /** 'pending' | 'delivered' */
  readonly status: string;
  /** pending → delivered transitions: exactly 1 once confirmed. */
  readonly marks: number;
  /** Server clock (epoch ms) of the mark, when marked. */
  readonly deliveredAt?: number;
}

/** The v1 (direct messages) layout: `messages` and `deliveries`, one delivery per message. */
export async function readStoreRows(db: Db): Promise<{ messages: StoredMessageRow[]; deliveries: DeliveryRow[] }> {
  const messages = await db.collection<StoredMessageRow>('messages').find({}, { projection: { _id: 1, from: 1, to: 1, body: 1 } }).toArray();
  const deliveries = await db.collection<DeliveryRow>('deliveries').find({}, { projection: { _id: 1, messageId: 1, status: 1, marks: 1, deliveredAt: 1 } }).toArray();
  return { messages, deliveries };
}
