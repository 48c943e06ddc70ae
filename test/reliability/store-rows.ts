// The one place the fault tests' accounting reads the store's own documents (no server cache in
// between). Everything else in accounting.ts works on these rows, so a store whose layout changes
// (the conversations store replaced the per-message `deliveries` collection by cursors and receipts)
// switches here: one adapter that still answers "which messages are stored" and "which recipient
// deliveries were marked, how many times, and when".
import type { Db } from 'mongodb';
import { covers } from '../../src/store/cursor.js';
import { toCursor } from '../../src/store/mongo/documents.js';

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

/**
 * The v2 (conversations) layout (docs/store.md): `messages`, and `receipts`, one per (recipient,
 * message), the store's exactly-once delivery mark. The fault tests send direct messages, so each
 * message has one recipient (`to`) and one delivery row here, marked as many times as it has receipts
 * for that recipient (the unique _id keeps that at most 1).
 */
export async function readStoreRows(db: Db): Promise<{ messages: StoredMessageRow[]; deliveries: DeliveryRow[] }> {
  const messages = await db.collection<StoredMessageRow>('messages').find({}, { projection: { _id: 1, from: 1, to: 1, body: 1 } }).toArray();
  const receipts = await db
    .collection<{ _id: string; messageId: string; userId: string; deliveredAt: number }>('receipts')
    .find({}, { projection: { _id: 1, messageId: 1, userId: 1, deliveredAt: 1 } })
    .toArray();
  const marks = new Map<string, { count: number; deliveredAt: number }>();
  for (const receipt of receipts) {
    const key = `${receipt.userId}/${receipt.messageId}`;
    const mark = marks.get(key);
    marks.set(key, { count: (mark?.count ?? 0) + 1, deliveredAt: Math.min(mark?.deliveredAt ?? Infinity, Number(receipt.deliveredAt)) });
  }
  const deliveries = messages.map((message): DeliveryRow => {
    const _id = `${message.to}/${message._id}`;
    const mark = marks.get(_id);
    return mark
      ? { _id, messageId: message._id, status: 'delivered', marks: mark.count, deliveredAt: mark.deliveredAt }
      : { _id, messageId: message._id, status: 'pending', marks: 0 };
  });
  return { messages, deliveries };
}

/**
 * For a resend after confirmation: what the store holds now about the message and the recipient's
 * devices in its conversation. A device cursor that covers the seq now, read stale at the replay, is
 * a different story from one that was set back and stayed; the receipt says which process marked it
 * (`markedBy` starts with that process's instance id, as its logs do).
 */
export async function resendEvidence(db: Db, messageId: string, recipient: string): Promise<string> {
  const message = await db.collection<{ _id: string; conversationId?: string; seq?: number }>('messages').findOne({ _id: messageId }, { projection: { conversationId: 1, seq: 1 } });
  const receipt = await db.collection<{ _id: string; markedBy?: string; deliveredAt?: number }>('receipts').findOne({ _id: `${recipient}/${messageId}` }, { projection: { markedBy: 1, deliveredAt: 1 } });
  if (!message?.conversationId) return 'store: message not found';
  const cursors = await db
    .collection<{ _id: string; deviceId?: string; upTo: number; runs?: number[]; above?: number[]; v?: string }>('device_cursors')
    .find({ userId: recipient, conversationId: message.conversationId }, { projection: { deviceId: 1, upTo: 1, runs: 1, above: 1, v: 1 } })
    .toArray();
  const seq = Number(message.seq);
  const described = cursors.map((doc) => {
    const cursor = toCursor(doc)!;
    return `${doc.deviceId}: upTo ${cursor.upTo}${cursor.runs.length ? ` runs [${cursor.runs.join(',')}]` : ''} v ${doc.v ?? 'none'} (${covers(cursor, seq) ? 'covers it' : 'does NOT cover it'})`;
  });
  const marked = receipt ? `marked by ${receipt.markedBy ?? '?'} at ${new Date(Number(receipt.deliveredAt)).toISOString()}` : 'no receipt';
  return `store now: seq ${seq}, ${marked}; device cursors ${described.join('; ') || 'none'}`;
}
