// The per-user reads over conversations: replay targets and the conversation list. Both start from
// the user's memberships (index by_user) and read each conversation's newest message from the
// conversation_seq index: the truth on every instance, never a cached head.
import { pageAfter, type ListEntry } from '../conversation-list.js';
import { atLeast, EMPTY_CURSOR } from '../cursor.js';
import { UNREAD_CAP, type ConversationListItem, type ConversationPage, type ReplayTarget, type StoredMessage } from '../store.js';
import { MESSAGE_PROJECTION, membershipId, toCursor, toStoredMessage, type Collections, type MembershipDoc } from './documents.js';
import type { HeadCache } from './heads.js';
import { conversationView } from './membership.js';

/** Conversations read at once (one indexed read each). */
const READ_CONCURRENCY = 16;

export class ConversationReads {
  constructor(
    private readonly collections: Collections,
    private readonly heads: HeadCache,
    private readonly maxTimeMS: number,
  ) {}

  membershipsOf(userId: string): Promise<MembershipDoc[]> {
    return this.collections.memberships.find({ userId }, { sort: { userId: 1, conversationId: 1 }, maxTimeMS: this.maxTimeMS }).toArray();
  }

  /**
   * One read of the user's memberships, one of the device's cursors, then per conversation one
   * indexed read for the newest seq past the device's watermark: it touches only index entries past
   * the cursor, never the messages the device already has, and sees every process's messages.
   */
  async replayTargets(userId: string, deviceId: string): Promise<ReplayTarget[]> {
    const [memberships, cursorDocs] = await Promise.all([
      this.membershipsOf(userId),
      this.collections.deviceCursors.find({ userId, deviceId }, { projection: { conversationId: 1, upTo: 1, above: 1 }, maxTimeMS: this.maxTimeMS }).toArray(),
    ]);
    const cursors = new Map(cursorDocs.map((doc) => [doc.conversationId, toCursor(doc)!]));
    const targets = await mapLimited(memberships, READ_CONCURRENCY, async (doc): Promise<ReplayTarget | undefined> => {
      const cursor = atLeast(cursors.get(doc.conversationId) ?? EMPTY_CURSOR, Number(doc.joinSeq));
      const newest = await this.collections.messages.findOne(
        { conversationId: doc.conversationId, seq: { $gt: cursor.upTo } },
        { sort: { seq: -1 }, projection: { _id: 0, seq: 1 }, maxTimeMS: this.maxTimeMS },
      );
      if (!newest) return undefined;
      this.heads.note(doc.conversationId, Number(newest.seq));
      return { conversationId: doc.conversationId, cursor, lastSeq: Number(newest.seq) };
    });
    return targets.filter((target): target is ReplayTarget => target !== undefined);
  }

  /**
   * Every conversation's last message (one indexed read each) to sort by activity; the page's items
   * then read their conversation, members and unread count. Cost grows with the user's conversations:
   * an activity order kept by writes would cost a write per member per message instead.
   */
  async listConversations(userId: string, limit: number, cursor: string | undefined): Promise<ConversationPage> {
    const memberships = await this.membershipsOf(userId);
    const lasts = await mapLimited(memberships, READ_CONCURRENCY, (doc) => this.lastMessage(doc.conversationId));
    const entries: ListEntry[] = memberships.map((doc, i) => ({ conversationId: doc.conversationId, activityTs: activityTs(lasts[i]!.message, doc) }));
    const { ids, next } = pageAfter(entries, limit, cursor);
    const index = new Map(memberships.map((doc, i) => [doc.conversationId, i]));
    const items = await Promise.all(ids.map((id) => this.item(memberships[index.get(id)!]!, lasts[index.get(id)!]!)));
    return { items: items.filter((item): item is ConversationListItem => item !== undefined), next };
  }

  async conversationItem(conversationId: string, userId: string): Promise<ConversationListItem | undefined> {
    const doc = await this.collections.memberships.findOne({ _id: membershipId(conversationId, userId) });
    return doc ? this.item(doc, await this.lastMessage(conversationId)) : undefined;
  }

  /** The newest entry (its seq is the conversation's last) and the newest message that is not an event. */
  private async lastMessage(conversationId: string): Promise<LastEntries> {
    const options = { sort: { seq: -1 }, projection: MESSAGE_PROJECTION, maxTimeMS: this.maxTimeMS } as const;
    const doc = await this.collections.messages.findOne({ conversationId }, options);
    if (!doc) return { lastSeq: 0, message: null };
    this.heads.note(conversationId, Number(doc.seq));
    // Edits and deletes are rare: only then a second read, for the message below them.
    const message = doc.event == null ? doc : await this.collections.messages.findOne({ conversationId, event: { $exists: false } }, options);
    return { lastSeq: Number(doc.seq), message: message ? toStoredMessage(message) : null };
  }

  private async item(doc: MembershipDoc, lastEntries: LastEntries): Promise<ConversationListItem | undefined> {
    const readSeq = Number(doc.readSeq ?? doc.joinSeq);
    const { lastSeq, message: last } = lastEntries;
    const [conversation, unread] = await Promise.all([
      conversationView(this.collections, doc.conversationId),
      lastSeq > readSeq
        ? this.collections.messages.countDocuments({ conversationId: doc.conversationId, seq: { $gt: readSeq }, from: { $ne: doc.userId }, event: { $exists: false } }, { limit: UNREAD_CAP, maxTimeMS: this.maxTimeMS })
        : 0,
    ]);
    if (!conversation) return undefined;
    return { conversation, lastSeq, lastMessage: last, readSeq, unread, activityTs: activityTs(last, doc) };
  }
}

interface LastEntries {
  readonly lastSeq: number;
  readonly message: StoredMessage | null;
}

/** The list's sort key: the last message's time, or when the user joined. */
function activityTs(last: StoredMessage | null, doc: MembershipDoc): number {
  return Math.max(last?.ts ?? 0, Number(doc.joinedAt));
}

/** Maps with at most `limit` calls in flight, results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, map: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await map(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
