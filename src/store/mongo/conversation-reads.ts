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
/** Conversations per replay-targets query on MongoDB: one `$or` clause (an index range) each. */
const TARGETS_PER_QUERY = 256;

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
   * One read of the user's memberships, one of the device's cursors, then the newest seq past the
   * device's watermark in each conversation: it touches only index entries past the cursor, never the
   * messages the device already has, and sees every process's messages. On MongoDB that is one query
   * per TARGETS_PER_QUERY conversations (an `$or` of one indexed range each); on FerretDB v1, which
   * would scan the whole collection for it, one indexed read per conversation.
   */
  async replayTargets(userId: string, deviceId: string): Promise<ReplayTarget[]> {
    const [memberships, cursorDocs] = await Promise.all([
      this.membershipsOf(userId),
      this.collections.deviceCursors.find({ userId, deviceId }, { projection: { conversationId: 1, upTo: 1, above: 1 }, maxTimeMS: this.maxTimeMS }).toArray(),
    ]);
    const cursors = new Map(cursorDocs.map((doc) => [doc.conversationId, toCursor(doc)!]));
    const wanted = memberships.map((doc) => ({ conversationId: doc.conversationId, cursor: atLeast(cursors.get(doc.conversationId) ?? EMPTY_CURSOR, Number(doc.joinSeq)) }));
    const newest = await this.newestPast(wanted.map(({ conversationId, cursor }) => ({ conversationId, upTo: cursor.upTo })));
    const targets: ReplayTarget[] = [];
    for (const { conversationId, cursor } of wanted) {
      const lastSeq = newest.get(conversationId);
      if (lastSeq === undefined) continue;
      this.heads.note(conversationId, lastSeq);
      targets.push({ conversationId, cursor, lastSeq });
    }
    return targets;
  }

  /** Each conversation's newest seq above `upTo`, for those that have one. */
  private async newestPast(ranges: readonly { conversationId: string; upTo: number }[]): Promise<Map<string, number>> {
    const newest = new Map<string, number>();
    if (this.collections.idLookup === 'each') {
      await mapLimited(ranges, READ_CONCURRENCY, async ({ conversationId, upTo }) => {
        const doc = await this.collections.messages.findOne({ conversationId, seq: { $gt: upTo } }, { sort: { seq: -1 }, projection: { _id: 0, seq: 1 }, maxTimeMS: this.maxTimeMS });
        if (doc) newest.set(conversationId, Number(doc.seq));
      });
      return newest;
    }
    const chunks: (typeof ranges)[] = [];
    for (let i = 0; i < ranges.length; i += TARGETS_PER_QUERY) chunks.push(ranges.slice(i, i + TARGETS_PER_QUERY));
    await Promise.all(chunks.map(async (chunk) => {
      // Every pending entry's (conversationId, seq), read from the conversation_seq index alone (the
      // projection is in it): FerretDB v1, which runs this shape in the tests, has no `$max` or `$first`
      // accumulator to keep the newest per conversation in the database. A replay reads these
      // messages next anyway, so this is small beside it.
      const docs = await this.collections.messages
        .find({ $or: chunk.map(({ conversationId, upTo }) => ({ conversationId, seq: { $gt: upTo } })) }, { projection: { _id: 0, conversationId: 1, seq: 1 }, maxTimeMS: this.maxTimeMS })
        .toArray();
      for (const doc of docs) {
        const seq = Number(doc.seq);
        if (seq > (newest.get(doc.conversationId) ?? 0)) newest.set(doc.conversationId, seq);
      }
    }));
    return newest;
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
