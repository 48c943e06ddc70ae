// The Mongo store's push state (push-store.ts), in two collections of its own:
//
// push_notifications: one per (recipient, conversation, seq) a sweep found undelivered past
//                     PUSH_AFTER_MS, keyed by the deterministic notification id. Inserting it is the
//                     claim: a unique-_id insert is atomic on MongoDB and on FerretDB v1, where a
//                     conditional update under concurrency is not (docs/store.md, "FerretDB v1 notes").
//                     Later changes (lease take-over, reschedule, finish) are single-document updates;
//                     a take-over race on FerretDB can let two instances send once each, which the
//                     receiver dedupes by id.
// push_slots:         one per (recipient, conversation): the coalesce bookkeeping, raised with $max.
// push_state:         one document, `scan`: how far the sweeps got (a restart resumes there).
//
// Nothing is written when a message is sent: the sweep reads messages by ts (the `push_scan` index on
// messages, created only when the webhook is configured) and the user cursors.
import type { Db } from 'mongodb';
import { EMPTY_CURSOR, highestCovered } from '../cursor.js';
import type { NewPushNotification, PushNotification, PushSlot, PushStore, ScanPosition } from '../push-store.js';
import type { StoredMessage } from '../store.js';
import { CURSOR_PROJECTION, DUPLICATE_KEY, MESSAGE_PROJECTION, membershipId, toCursor, toStoredMessage, userCursorId, type CursorDoc, type MembershipDoc, type MessageDoc } from './documents.js';

interface NotificationDoc extends Omit<PushNotification, 'id'> {
  _id: string;
}

interface SlotDoc extends PushSlot {
  /** `<userId>/<conversationId>`. */
  _id: string;
  userId: string;
  conversationId: string;
}

export class MongoPushStore implements PushStore {
  constructor(
    /** Read at each call: the store's client can be replaced while it runs (store-connection.ts). */
    private readonly db: () => Db,
    private readonly opTimeoutMs: number,
  ) {}

  private get notifications() {
    return this.db().collection<NotificationDoc>('push_notifications');
  }

  private get slots() {
    return this.db().collection<SlotDoc>('push_slots');
  }

  private get state() {
    return this.db().collection<{ _id: string; ts: number }>('push_state');
  }

  private get messages() {
    return this.db().collection<MessageDoc>('messages');
  }

  /** One index per createIndexes call (FerretDB v1, see indexes.ts). */
  async prepare(): Promise<void> {
    await this.messages.createIndexes([{ name: 'push_scan', key: { ts: 1, _id: 1 } }]);
    await this.notifications.createIndexes([{ name: 'due', key: { status: 1, nextAttemptAt: 1 } }]);
  }

  async messagesBetween(fromTs: number, toTs: number, after: ScanPosition | undefined, limit: number): Promise<StoredMessage[]> {
    if (limit <= 0) return [];
    const range = { ts: { $gte: fromTs, $lte: toTs } };
    const filter = after
      ? { $and: [range, { $or: [{ ts: { $gt: after.ts } }, { ts: after.ts, _id: { $gt: after.messageId } }] }] }
      : range;
    const docs = await this.messages.find(filter, { projection: MESSAGE_PROJECTION, sort: { ts: 1, _id: 1 }, limit, maxTimeMS: this.opTimeoutMs }).toArray();
    return docs.map(toStoredMessage);
  }

  async deliveredSeq(userId: string, conversationId: string): Promise<number | undefined> {
    const db = this.db();
    const [member, cursor] = await Promise.all([
      db.collection<MembershipDoc>('memberships').findOne({ _id: membershipId(conversationId, userId) }, { projection: { joinSeq: 1 }, maxTimeMS: this.opTimeoutMs }),
      db.collection<CursorDoc>('user_cursors').findOne({ _id: userCursorId(userId, conversationId) }, { projection: CURSOR_PROJECTION, maxTimeMS: this.opTimeoutMs }),
    ]);
    if (!member) return undefined;
    return Math.max(Number(member.joinSeq), highestCovered(toCursor(cursor) ?? EMPTY_CURSOR));
  }

  async claimNew(notification: NewPushNotification): Promise<boolean> {
    const { id, ...rest } = notification;
    try {
      await this.notifications.insertOne({ _id: id, ...rest, status: 'pending', reason: null, attempts: 0, doneAt: null });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
      throw error;
    }
  }

  async due(now: number, limit: number): Promise<PushNotification[]> {
    if (limit <= 0) return [];
    const docs = await this.notifications
      .find({ status: 'pending', nextAttemptAt: { $lte: now }, leaseUntil: { $lte: now } }, { sort: { nextAttemptAt: 1 }, limit, maxTimeMS: this.opTimeoutMs })
      .toArray();
    return docs.map(toNotification);
  }

  async takeOver(id: string, expectedLeaseUntil: number, owner: string, leaseUntil: number): Promise<boolean> {
    const result = await this.notifications.updateOne({ _id: id, status: 'pending', leaseUntil: expectedLeaseUntil }, { $set: { claimedBy: owner, leaseUntil } });
    return result.modifiedCount === 1;
  }

  async reschedule(id: string, attempts: number, nextAttemptAt: number): Promise<void> {
    await this.notifications.updateOne({ _id: id, status: 'pending' }, { $set: { attempts, nextAttemptAt, leaseUntil: 0 } });
  }

  async finish(id: string, status: 'sent' | 'dropped', reason: string | null, attempts: number, at: number): Promise<void> {
    await this.notifications.updateOne({ _id: id, status: 'pending' }, { $set: { status, reason, attempts, doneAt: at, leaseUntil: 0 } });
  }

  async get(id: string): Promise<PushNotification | undefined> {
    const doc = await this.notifications.findOne({ _id: id }, { maxTimeMS: this.opTimeoutMs });
    return doc ? toNotification(doc) : undefined;
  }

  async slot(userId: string, conversationId: string): Promise<PushSlot | undefined> {
    const doc = await this.slots.findOne({ _id: slotId(userId, conversationId) }, { maxTimeMS: this.opTimeoutMs });
    return doc ? { lastSeq: Number(doc.lastSeq ?? 0), lastAt: Number(doc.lastAt ?? 0), lastSentAt: Number(doc.lastSentAt ?? 0) } : undefined;
  }

  async noteScheduled(userId: string, conversationId: string, seq: number, at: number): Promise<void> {
    await this.raiseSlot(userId, conversationId, { lastSeq: seq, lastAt: at });
  }

  async noteSent(userId: string, conversationId: string, at: number): Promise<void> {
    await this.raiseSlot(userId, conversationId, { lastSentAt: at });
  }

  async scanCheckpoint(): Promise<number | undefined> {
    const doc = await this.state.findOne({ _id: 'scan' }, { maxTimeMS: this.opTimeoutMs });
    return doc ? Number(doc.ts) : undefined;
  }

  async saveScanCheckpoint(ts: number): Promise<void> {
    try {
      await this.state.updateOne({ _id: 'scan' }, { $max: { ts } }, { upsert: true });
    } catch (error) {
      if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
      await this.state.updateOne({ _id: 'scan' }, { $max: { ts } }, { upsert: true });
    }
  }

  /** An upsert racing another one for a new _id can fail with a duplicate key: the second try updates. */
  private async raiseSlot(userId: string, conversationId: string, fields: Partial<PushSlot>): Promise<void> {
    const update = { $max: fields, $setOnInsert: { userId, conversationId } };
    try {
      await this.slots.updateOne({ _id: slotId(userId, conversationId) }, update, { upsert: true });
    } catch (error) {
      if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
      await this.slots.updateOne({ _id: slotId(userId, conversationId) }, update, { upsert: true });
    }
  }
}

const slotId = (userId: string, conversationId: string) => `${userId}/${conversationId}`;

function toNotification(doc: NotificationDoc): PushNotification {
  return Object.freeze({
    id: doc._id,
    userId: doc.userId,
    conversationId: doc.conversationId,
    seq: Number(doc.seq),
    messageId: doc.messageId,
    from: doc.from,
    ts: Number(doc.ts),
    nextAttemptAt: Number(doc.nextAttemptAt),
    claimedBy: doc.claimedBy,
    leaseUntil: Number(doc.leaseUntil),
    createdAt: Number(doc.createdAt),
    status: doc.status,
    reason: doc.reason ?? null,
    attempts: Number(doc.attempts),
    doneAt: doc.doneAt == null ? null : Number(doc.doneAt),
  });
}
