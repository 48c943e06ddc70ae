// The per-user reads over conversations: replay targets and the conversation list. Both start from
// the user's memberships (index by_user) and read each conversation's newest message from the
// conversation_seq index: the truth on every instance. A cached head only bounds where the list's
// query starts (it is never ahead of the truth); it is never taken as the answer.
import { mapLimited } from '../../map-limited.js';
import { pageAfter, type ListEntry } from '../conversation-list.js';
import { atLeast, EMPTY_CURSOR } from '../cursor.js';
import { UNREAD_CAP, type ConversationListItem, type ConversationPage, type ReplayTarget, type SeqRange, type StoredMessage } from '../store.js';
import { CURSOR_PROJECTION, MESSAGE_PROJECTION, membershipId, toCursor, toStoredMessage, type Collections, type MembershipDoc, type MessageDoc } from './documents.js';
import type { HeadCache } from './heads.js';
import { conversationViews } from './membership.js';

/** Conversations read at once (one indexed read each). */
const READ_CONCURRENCY = 16;
/** Conversations per replay-targets or last-entries query on MongoDB: one `$or` clause (an index range) each. */
const TARGETS_PER_QUERY = 256;
/** Entries beyond one per conversation that a last-entries query may return before it is given up. */
const LIST_SLACK = 64;
/** Unread messages one aggregate counts for a page before it gives way to a count per conversation. */
const UNREAD_SCAN_MAX = 2 * UNREAD_CAP;

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
      this.collections.deviceCursors.find({ userId, deviceId }, { projection: { conversationId: 1, ...CURSOR_PROJECTION }, maxTimeMS: this.maxTimeMS }).toArray(),
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

  /**
   * Each range's messages (replay pages): on MongoDB one query per TARGETS_PER_QUERY ranges, an `$or`
   * of one index range each, whose answers are sorted out here; on FerretDB v1, which would scan the
   * collection for that, one indexed read per range, READ_CONCURRENCY at a time. A reconnect with
   * something pending in 2,500 conversations read 2,500 pages one command each: ~0.2–0.7 ms of the
   * driver's CPU per command, and 157 round trips at 16 in flight.
   */
  async messagesIn(ranges: readonly SeqRange[]): Promise<StoredMessage[][]> {
    const results = ranges.map((): StoredMessage[] => []);
    const read = ranges.map((range, index) => ({ ...range, index })).filter(({ afterSeq, toSeq }) => toSeq > afterSeq);
    const find = (filter: object) => this.collections.messages.find(filter, { projection: MESSAGE_PROJECTION, maxTimeMS: this.maxTimeMS });
    if (this.collections.idLookup === 'each') {
      await mapLimited(read, READ_CONCURRENCY, async ({ conversationId, afterSeq, toSeq, index }) => {
        // The limit too (the range holds at most that many): with it FerretDB reads a bounded index scan
        // (without it, slow-restarts saw its refusals come late: bench/RESULTS.md).
        results[index] = (await find({ conversationId, seq: { $gt: afterSeq, $lte: toSeq } }).sort({ seq: 1 }).limit(toSeq - afterSeq).toArray()).map(toStoredMessage);
      });
      return results;
    }
    await Promise.all(chunked(read, TARGETS_PER_QUERY).map(async (chunk) => {
      const docs = await find({ $or: chunk.map(({ conversationId, afterSeq, toSeq }) => ({ conversationId, seq: { $gt: afterSeq, $lte: toSeq } })) }).toArray();
      const byConversation = new Map<string, (typeof chunk)[number][]>();
      for (const range of chunk) {
        const list = byConversation.get(range.conversationId);
        if (list) list.push(range);
        else byConversation.set(range.conversationId, [range]);
      }
      for (const doc of docs) {
        const seq = Number(doc.seq);
        for (const range of byConversation.get(doc.conversationId) ?? []) if (seq > range.afterSeq && seq <= range.toSeq) results[range.index]!.push(toStoredMessage(doc));
      }
    }));
    for (const messages of results) messages.sort((a, b) => a.seq - b.seq);
    return results;
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
    await Promise.all(chunked(ranges, TARGETS_PER_QUERY).map(async (chunk) => {
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
   * Every conversation's last message, to sort by activity; then the page's conversations, members and
   * unread counts. Cost grows with the user's conversations: an activity order kept by writes would
   * cost a write per member per message instead.
   */
  async listConversations(userId: string, limit: number, cursor: string | undefined): Promise<ConversationPage> {
    const memberships = await this.membershipsOf(userId);
    const lasts = await this.lastEntries(memberships.map((doc) => doc.conversationId));
    const entries: ListEntry[] = memberships.map((doc) => ({ conversationId: doc.conversationId, activityTs: activityTs(lasts.get(doc.conversationId)!.message, doc) }));
    const { ids, next } = pageAfter(entries, limit, cursor);
    const byId = new Map(memberships.map((doc) => [doc.conversationId, doc]));
    return { items: await this.items(ids.map((id) => byId.get(id)!), lasts), next };
  }

  async conversationItem(conversationId: string, userId: string): Promise<ConversationListItem | undefined> {
    // Both at once, a round trip fewer: a non-member's answer discards the last entries unread.
    const [doc, last] = await Promise.all([this.collections.memberships.findOne({ _id: membershipId(conversationId, userId) }), this.lastMessage(conversationId)]);
    if (!doc) return undefined;
    const [item] = await this.items([doc], new Map([[conversationId, last]]));
    return item;
  }

  /**
   * The last entries of each conversation. On MongoDB, a conversation whose head this process has
   * cached is read with the others in one `$or` query per TARGETS_PER_QUERY (each clause: the entries
   * from the cached head up, one when the cache is current; a cached head is never ahead of the truth,
   * so the newest is among them). A query that returns more than LIST_SLACK entries beyond one per
   * conversation (heads far behind: another process wrote there and this one did not hear) is
   * dropped for one read per conversation, as are conversations not cached, and all on FerretDB v1.
   */
  private async lastEntries(conversationIds: readonly string[]): Promise<Map<string, LastEntries>> {
    const lasts = new Map<string, LastEntries>();
    const each: string[] = [];
    const cached: { conversationId: string; head: number }[] = [];
    for (const conversationId of conversationIds) {
      const head = this.collections.idLookup === 'in' ? this.heads.peek(conversationId) : undefined;
      if (head === undefined) each.push(conversationId);
      else cached.push({ conversationId, head });
    }
    await Promise.all(chunked(cached, TARGETS_PER_QUERY).map(async (chunk) => {
      const cap = chunk.length + LIST_SLACK;
      const docs = await this.collections.messages
        .find({ $or: chunk.map(({ conversationId, head }) => ({ conversationId, seq: { $gte: head } })) }, { projection: MESSAGE_PROJECTION, limit: cap, batchSize: cap, maxTimeMS: this.maxTimeMS })
        .toArray();
      if (docs.length >= cap) return void each.push(...chunk.map(({ conversationId }) => conversationId));
      const newest = new Map<string, MessageDoc>();
      for (const doc of docs) {
        if (Number(doc.seq) > Number(newest.get(doc.conversationId)?.seq ?? -1)) newest.set(doc.conversationId, doc as MessageDoc);
      }
      await Promise.all(chunk.map(async ({ conversationId, head }) => {
        const doc = newest.get(conversationId);
        // Nothing from a head of 0: no message at all. Nothing from a head above 0 cannot happen
        // (seqs are never removed); read it alone rather than trust that.
        if (doc) lasts.set(conversationId, await this.lastFrom(doc));
        else if (head === 0) lasts.set(conversationId, { lastSeq: 0, message: null });
        else each.push(conversationId);
      }));
    }));
    await mapLimited(each, READ_CONCURRENCY, async (conversationId) => {
      const last = await this.lastMessage(conversationId);
      // None yet: the next list starts its query from 0. Noted here, where the id is a membership's,
      // not in lastMessage, which conversationItem also runs for any id a caller names.
      if (last.lastSeq === 0) this.heads.note(conversationId, 0);
      lasts.set(conversationId, last);
    });
    return lasts;
  }

  /** The newest entry (its seq is the conversation's last) and the newest message that is not an event. */
  private async lastMessage(conversationId: string): Promise<LastEntries> {
    const doc = await this.collections.messages.findOne({ conversationId }, this.newestFirst());
    return doc ? this.lastFrom(doc as MessageDoc) : { lastSeq: 0, message: null };
  }

  /** A conversation's newest entry first, whole. */
  private newestFirst() {
    return { sort: { seq: -1 }, projection: MESSAGE_PROJECTION, maxTimeMS: this.maxTimeMS } as const;
  }

  /** LastEntries from the conversation's newest entry. */
  private async lastFrom(doc: MessageDoc): Promise<LastEntries> {
    this.heads.note(doc.conversationId, Number(doc.seq));
    // Edits and deletes are rare: only then a second read, for the message below them.
    const message = doc.event == null
      ? doc
      : await this.collections.messages.findOne({ conversationId: doc.conversationId, event: { $exists: false } }, this.newestFirst());
    return { lastSeq: Number(doc.seq), message: message ? toStoredMessage(message) : null };
  }

  /** List items of these memberships, in their order (a conversation gone meanwhile is left out). */
  private async items(docs: readonly MembershipDoc[], lasts: ReadonlyMap<string, LastEntries>): Promise<ConversationListItem[]> {
    const [views, unreads] = await Promise.all([
      conversationViews(this.collections, docs.map((doc) => doc.conversationId)),
      this.unreadCounts(docs.filter((doc) => lasts.get(doc.conversationId)!.lastSeq > readSeqOf(doc))),
    ]);
    const items: ConversationListItem[] = [];
    docs.forEach((doc) => {
      const conversation = views.get(doc.conversationId);
      if (!conversation) return;
      const { lastSeq, message: last } = lasts.get(doc.conversationId)!;
      items.push({ conversation, lastSeq, lastMessage: last, readSeq: readSeqOf(doc), unread: unreads.get(doc.conversationId) ?? 0, activityTs: activityTs(last, doc) });
    });
    return items;
  }

  /**
   * Messages from others above the read mark of each membership, counted up to UNREAD_CAP. On MongoDB,
   * several are one aggregate over at most UNREAD_SCAN_MAX entries; a page with more unread than that
   * (a conversation far behind) is counted one by one instead, each count stopping at the cap.
   */
  private async unreadCounts(docs: readonly MembershipDoc[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (this.collections.idLookup === 'in' && docs.length > 1) {
      const groups = await this.collections.messages
        .aggregate<{ _id: string; n: number }>([{ $match: { $or: docs.map(unreadFilter) } }, { $limit: UNREAD_SCAN_MAX }, { $group: { _id: '$conversationId', n: { $sum: 1 } } }], { maxTimeMS: this.maxTimeMS })
        .toArray();
      if (groups.reduce((sum, group) => sum + Number(group.n), 0) < UNREAD_SCAN_MAX) {
        for (const group of groups) counts.set(group._id, Math.min(Number(group.n), UNREAD_CAP));
        return counts;
      }
    }
    await Promise.all(docs.map(async (doc) => {
      counts.set(doc.conversationId, await this.collections.messages.countDocuments(unreadFilter(doc), { limit: UNREAD_CAP, maxTimeMS: this.maxTimeMS }));
    }));
    return counts;
  }
}

/** A membership's unread: messages from others above its read mark (events are not messages, a deleted one is not there to read). */
function unreadFilter(doc: MembershipDoc) {
  return { conversationId: doc.conversationId, seq: { $gt: readSeqOf(doc) }, from: { $ne: doc.userId }, event: { $exists: false }, deleted: { $ne: true } };
}

function readSeqOf(doc: MembershipDoc): number {
  return Number(doc.readSeq ?? doc.joinSeq);
}

function chunked<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

interface LastEntries {
  readonly lastSeq: number;
  readonly message: StoredMessage | null;
}

/** The list's sort key: the last message's time, or when the user joined. */
function activityTs(last: StoredMessage | null, doc: MembershipDoc): number {
  return Math.max(last?.ts ?? 0, Number(doc.joinedAt));
}
