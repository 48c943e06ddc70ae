// The embedded default store (DB_URI=mem): everything in this process's memory, so `npm start` works
// with nothing installed. It keeps the same contract as the Mongo store (test/store/contract*.ts), but
// its truth ends with the process: use MongoDB wherever messages must survive a restart.
import { directConversationId, isDirectConversationId } from '../conversation-ids.js';
import { sameContent } from '../same-content.js';
import { advance, advanceToListing, atLeast, deliveredWatermark, EMPTY_CURSOR } from '../cursor.js';
import { pageAfter, type ListEntry } from '../conversation-list.js';
import { MemoryPushStore } from './memory-push.js';
import type { PushStore } from '../push-store.js';
import { activityTs, listItem, otherMember, view, type ConversationState } from './conversation-state.js';
import {
  DEFAULT_MAX_DEVICES_PER_USER,
  type DeviceBound,
  StoreUnavailableError,
  type ConfirmResult,
  type Conversation,
  type ConversationListItem,
  type ConversationPage,
  type Cursor,
  type DeliveryMark,
  type DeliveryState,
  type HistoryPage,
  type Membership,
  type MemberState,
  type MembershipChange,
  type NewGroup,
  type GroupCreation,
  type NewMessage,
  type PersistResult,
  type ReplayTarget,
  type SeqRange,
  type Store,
  type StoreCounts,
  type StoredMessage,
} from '../store.js';
import { MemoryAccessStore } from './memory-access.js';
import { MessageTable, RowList } from './message-table.js';
import type { MaybePromise } from '../../maybe-promise.js';


/**
 * The most messages one conversation holds here. Each conversation keeps its messages' rows in one
 * Int32Array that doubles as it fills (message-table.ts RowList): past this bound a send is refused as
 * `unavailable` and logged, rather than the doubling asking for ever larger copies (400 MB here).
 */
export const MAX_CONVERSATION_MESSAGES = 100_000_000;

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly access = new MemoryAccessStore();
  /** Every message, as rows (message-table.ts says why not an object each). */
  private readonly table = new MessageTable();
  private readonly conversations = new Map<string, ConversationState>();
  /** NewGroup.requestDigest of the groups created with an Idempotency-Key. */
  private readonly groupDigests = new Map<string, string>();
  private readonly byUser = new Map<string, Set<string>>();
  /**
   * userId → deviceId → conversationId → cursor; a device is there once it was seen. Keyed by the two
   * ids as they come, not by a string built from both: every send and confirmation reads it, and a
   * built key is a new string to hash each time where the session's ids have their hash cached.
   */
  private readonly devices = new Map<string, Map<string, Map<string, Cursor>>>();
  /** messageId → seq of the last edit or delete applied to it (the highest seq wins). */
  private readonly appliedSeq = new Map<string, number>();
  /** messageId → its edit events' rows: emptied when it is deleted (a deleted text is never replayed). */
  private readonly editsOf = new Map<string, number[]>();
  private persists = 0;
  private deliveryMarks = 0;
  private deliveries = 0;
  private delivered = 0;
  private closed = false;
  readonly push: PushStore = new MemoryPushStore(this.table, (conversationId) => this.conversations.get(conversationId));

  private readonly maxConversationMessages: number;

  /** Devices kept per user: past it the one seen longest ago is forgotten (MAX_DEVICES_PER_USER). */
  private readonly maxDevicesPerUser: number;

  private readonly onDeviceForgotten: (() => void) | undefined;

  /** `maxConversationMessages` below the default is for tests of the bound. */
  constructor(options: { maxConversationMessages?: number } & DeviceBound = {}) {
    this.maxConversationMessages = options.maxConversationMessages ?? MAX_CONVERSATION_MESSAGES;
    this.maxDevicesPerUser = Math.max(1, options.maxDevicesPerUser ?? DEFAULT_MAX_DEVICES_PER_USER);
    this.onDeviceForgotten = options.onDeviceForgotten;
  }

  async start(): Promise<void> {}

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Answers at once, without a promise: the hot send path then takes no turn (src/maybe-promise.ts). */
  persist(input: NewMessage): MaybePromise<PersistResult> {
    this.assertOpen();
    const conversationId = input.conversationId ?? directConversationId(input.from, input.to ?? '');
    const kept = this.table.find(input.messageId);
    if (kept >= 0) {
      const existing = this.table.stored(kept);
      return sameContent(existing, input.from, conversationId, input.body, input.event?.target) ? { kind: 'duplicate', message: existing } : { kind: 'conflict', messageId: input.messageId };
    }
    let conversation = this.conversations.get(conversationId);
    if (!conversation && input.to !== undefined && input.conversationId === undefined) {
      conversation = this.createConversation(conversationId, 'direct', null, null, input.ts, [input.from, input.to]);
    }
    if (!conversation || !conversation.members.has(input.from)) return { kind: 'not_member', messageId: input.messageId };
    if (conversation.rows.length >= this.maxConversationMessages) {
      throw new Error(`The memory store holds at most ${this.maxConversationMessages} messages in one conversation; use MongoDB (DB_URI) for more`);
    }
    const seq = conversation.rows.length + 1;
    const row = this.table.add(
      input.messageId,
      conversation.conversationId,
      seq,
      input.from,
      input.fromDevice,
      conversation.kind === 'direct' ? otherMember(conversation, input.from) : undefined,
      input.ts,
      input.event,
      input.body,
    );
    conversation.rows.push(row);
    if (input.event?.kind === 'edited') {
      const edits = this.editsOf.get(input.event.target);
      if (edits) edits.push(row);
      else this.editsOf.set(input.event.target, [row]);
    }
    // The body as it came: the live delivery needs no decoding.
    const message = this.table.stored(row, input.body);
    // The sender has its own message: its user cursor and its sending device's cursor pass over it.
    conversation.delivered.set(input.from, advance(conversation.delivered.get(input.from) ?? EMPTY_CURSOR, [seq]).cursor);
    if (input.fromDevice !== undefined) {
      const cursors = this.deviceCursors(input.from, input.fromDevice);
      cursors.set(conversationId, advance(cursors.get(conversationId) ?? EMPTY_CURSOR, [seq]).cursor);
    }
    this.persists++;
    this.deliveries += conversation.members.size - 1;
    return { kind: 'created', message };
  }

  async messagesIn(ranges: readonly SeqRange[]): Promise<StoredMessage[][]> {
    this.assertOpen();
    return ranges.map(({ conversationId, afterSeq, toSeq }) => {
      const rows = this.conversations.get(conversationId)?.rows;
      const page: StoredMessage[] = [];
      // rows.at(i) has seq i + 1.
      if (rows) for (let i = Math.max(0, Math.trunc(afterSeq)); i < Math.min(rows.length, Math.trunc(toSeq)); i++) page.push(this.table.stored(rows.at(i)));
      return page;
    });
  }

  async history(conversationId: string, before: number | undefined, limit: number, after?: number): Promise<HistoryPage> {
    this.assertOpen();
    const rows = this.conversations.get(conversationId)?.rows ?? new RowList();
    const { table } = this;
    // rows.at(i) has seq i + 1.
    const end = before === undefined ? rows.length : Math.min(rows.length, Math.max(0, before - 1));
    const page: StoredMessage[] = [];
    if (after !== undefined) {
      let i = Math.max(0, after);
      for (; i < end && page.length < limit; i++) if (!table.isEvent(rows.at(i))) page.push(table.stored(rows.at(i)));
      while (i < end && table.isEvent(rows.at(i))) i++;
      return { messages: page, hasMore: i < end };
    }
    let i = end - 1;
    for (; i >= 0 && page.length < limit; i--) if (!table.isEvent(rows.at(i))) page.push(table.stored(rows.at(i)));
    while (i >= 0 && table.isEvent(rows.at(i))) i--;
    return { messages: page.reverse(), hasMore: i >= 0 };
  }

  async getMessage(messageId: string): Promise<StoredMessage | undefined> {
    const row = this.table.find(messageId);
    return row < 0 ? undefined : this.table.stored(row);
  }

  async applyEvent(event: StoredMessage): Promise<StoredMessage | undefined> {
    this.assertOpen();
    if (!event.event) return undefined;
    const { table } = this;
    const targetId = event.event.target;
    const target = table.find(targetId);
    if (target < 0) return undefined;
    const applied = this.appliedSeq.get(targetId) ?? 0;
    if (table.deleted(target)) {
      this.emptyEdits(targetId); // an edit stored in a race with the delete, or a retry after a crash
      return table.stored(target);
    }
    if (event.seq <= applied) return table.stored(target);
    this.appliedSeq.set(targetId, event.seq);
    // A tombstone keeps who, where and when, not what: the edit time goes with the body.
    if (event.event.kind === 'deleted') {
      table.delete(target);
      this.emptyEdits(targetId);
      return table.stored(target);
    }
    table.edit(target, event.body, event.ts);
    return table.stored(target, event.body);
  }

  /** A deleted message's edit events keep their place in the seq order, not the text they carried. */
  private emptyEdits(messageId: string): void {
    for (const edit of this.editsOf.get(messageId) ?? []) this.table.setBody(edit, '');
    this.editsOf.delete(messageId);
  }

  async createGroup(group: NewGroup): Promise<GroupCreation> {
    this.assertOpen();
    const existing = this.conversations.get(group.conversationId);
    if (existing) return { conversation: view(existing), created: false, requestDigest: this.groupDigests.get(group.conversationId) };
    const conversation = this.createConversation(group.conversationId, 'group', group.title, group.ownerId, group.createdAt, [group.ownerId, ...group.members]);
    if (group.requestDigest !== undefined) this.groupDigests.set(group.conversationId, group.requestDigest);
    return { conversation: view(conversation), created: true, requestDigest: group.requestDigest };
  }

  async getConversation(conversationId: string): Promise<Conversation | undefined> {
    this.assertOpen();
    const conversation = this.conversations.get(conversationId);
    return conversation && view(conversation);
  }

  async membership(conversationId: string, userId: string): Promise<Membership | undefined> {
    this.assertOpen();
    return this.conversations.get(conversationId)?.members.get(userId);
  }

  async addMembers(conversationId: string, userIds: readonly string[], at: number): Promise<MembershipChange | undefined> {
    this.assertOpen();
    const conversation = this.conversations.get(conversationId);
    if (!conversation) return undefined;
    const added = this.join(conversation, userIds, at);
    return { conversation: view(conversation), users: added };
  }

  async removeMember(conversationId: string, userId: string): Promise<MembershipChange | undefined> {
    this.assertOpen();
    const conversation = this.conversations.get(conversationId);
    if (!conversation) return undefined;
    if (!conversation.members.delete(userId)) return { conversation: view(conversation), users: [] };
    this.byUser.get(userId)?.delete(conversationId);
    conversation.delivered.delete(userId);
    conversation.read.delete(userId);
    if (conversation.ownerId === userId) conversation.ownerId = conversation.members.keys().next().value ?? null;
    return { conversation: view(conversation), users: [userId] };
  }

  async setTitle(conversationId: string, title: string): Promise<Conversation | undefined> {
    this.assertOpen();
    const conversation = this.conversations.get(conversationId);
    if (!conversation) return undefined;
    conversation.title = title;
    return view(conversation);
  }

  async listConversations(userId: string, limit: number, cursor: string | undefined): Promise<ConversationPage> {
    this.assertOpen();
    const entries: ListEntry[] = [];
    for (const conversationId of this.byUser.get(userId) ?? []) {
      const conversation = this.conversations.get(conversationId)!;
      entries.push({ conversationId, activityTs: activityTs(conversation, userId, this.table) });
    }
    const { ids, next } = pageAfter(entries, limit, cursor);
    return { items: ids.map((id) => listItem(this.conversations.get(id)!, userId, this.table)), next };
  }

  async conversationItem(conversationId: string, userId: string): Promise<ConversationListItem | undefined> {
    this.assertOpen();
    const conversation = this.conversations.get(conversationId);
    return conversation?.members.has(userId) ? listItem(conversation, userId, this.table) : undefined;
  }

  async conversationIdsOf(userId: string): Promise<string[]> {
    this.assertOpen();
    return [...(this.byUser.get(userId) ?? [])];
  }

  async groupCounts(userIds: readonly string[], atMost: number): Promise<number[]> {
    this.assertOpen();
    return userIds.map((userId) => {
      let groups = 0;
      for (const conversationId of this.byUser.get(userId) ?? []) {
        if (!isDirectConversationId(conversationId) && ++groups >= atMost) break;
      }
      return groups;
    });
  }

  async memberStates(conversationId: string): Promise<MemberState[]> {
    this.assertOpen();
    const conversation = this.conversations.get(conversationId);
    if (!conversation) return [];
    return [...conversation.members.values()].map(({ userId, joinSeq }) => ({
      userId,
      deliveredSeq: deliveredWatermark(conversation.delivered.get(userId) ?? EMPTY_CURSOR, joinSeq),
      readSeq: conversation.read.get(userId) ?? joinSeq,
    }));
  }

  async replayTargets(userId: string, deviceId: string): Promise<ReplayTarget[]> {
    this.assertOpen();
    const cursors = this.deviceCursors(userId, deviceId);
    // Seen now: last in its user's order (a Map keeps insertion order), so forgotten last.
    const ofUser = this.devices.get(userId)!;
    ofUser.delete(deviceId);
    ofUser.set(deviceId, cursors);
    const targets: ReplayTarget[] = [];
    for (const conversationId of this.byUser.get(userId) ?? []) {
      const conversation = this.conversations.get(conversationId)!;
      const joinSeq = conversation.members.get(userId)!.joinSeq;
      const cursor = atLeast(cursors.get(conversationId) ?? EMPTY_CURSOR, joinSeq);
      const lastSeq = conversation.rows.length;
      if (lastSeq > cursor.upTo) targets.push({ conversationId, cursor, lastSeq });
    }
    return targets;
  }

  /** Answers at once, without a promise, as `persist`. */
  confirmIds(userId: string, deviceId: string, messageIds: readonly string[]): MaybePromise<ConfirmResult> {
    this.assertOpen();
    const seqsByConversation = new Map<string, number[]>();
    let unknownIds = 0;
    // One id (a client confirming each message as it comes) needs no Set to drop repeats.
    const { table } = this;
    for (const messageId of messageIds.length === 1 ? messageIds : new Set(messageIds)) {
      const row = table.find(messageId);
      if (row < 0) {
        unknownIds++;
        continue;
      }
      if (table.from(row) === userId && table.fromDevice(row) === deviceId) continue;
      const conversationId = table.conversationId(row);
      const seq = table.seq(row);
      const joined = this.conversations.get(conversationId)?.members.get(userId);
      if (!joined || seq <= joined.joinSeq) continue;
      let seqs = seqsByConversation.get(conversationId);
      if (!seqs) seqsByConversation.set(conversationId, (seqs = []));
      seqs.push(seq);
    }
    const result = this.confirm(userId, deviceId, seqsByConversation, (conversation, cursor) => advance(cursor, seqsByConversation.get(conversation.conversationId)!));
    return unknownIds > 0 ? { ...result, unknownIds } : result;
  }

  async confirmUpTo(userId: string, deviceId: string, conversationId: string, seq: number): Promise<ConfirmResult> {
    this.assertOpen();
    const conversation = this.conversations.get(conversationId);
    if (!conversation?.members.has(userId)) return { marks: [], advanced: [] };
    const upTo = Math.min(seq, conversation.rows.length);
    return this.confirm(userId, deviceId, new Map([[conversationId, []]]), (_, cursor) => advanceToListing(cursor, upTo));
  }

  async markRead(userId: string, conversationId: string, seq: number): Promise<{ readSeq: number; advanced: boolean } | undefined> {
    this.assertOpen();
    const conversation = this.conversations.get(conversationId);
    if (!conversation?.members.has(userId)) return undefined;
    const previous = conversation.read.get(userId) ?? conversation.members.get(userId)!.joinSeq;
    const readSeq = Math.max(previous, Math.min(seq, conversation.rows.length));
    conversation.read.set(userId, readSeq);
    return { readSeq, advanced: readSeq > previous };
  }

  async deliveryState(messageId: string, recipient: string): Promise<DeliveryState | undefined> {
    const { table } = this;
    const row = table.find(messageId);
    if (row < 0) return undefined;
    const seq = table.seq(row);
    const conversation = this.conversations.get(table.conversationId(row));
    const joined = conversation?.members.get(recipient);
    // Not a recipient: the sender, a non-member, or a member who joined after the message.
    if (!conversation || !joined || table.from(row) === recipient || seq <= joined.joinSeq) return undefined;
    const deliveredAt = conversation.deliveredAt.get(recipient)?.[seq - 1];
    return deliveredAt === undefined ? { status: 'pending', deliveredAt: undefined, marks: 0 } : { status: 'delivered', deliveredAt, marks: 1 };
  }

  async deviceCursor(userId: string, deviceId: string, conversationId: string): Promise<Cursor | undefined> {
    return this.devices.get(userId)?.get(deviceId)?.get(conversationId);
  }

  async counts(): Promise<StoreCounts> {
    return { messages: this.table.size, deliveries: this.deliveries, delivered: this.delivered, persists: this.persists, deliveryMarks: this.deliveryMarks };
  }

  /** Advances this device's cursor, then the user's with the same seqs: user-level advances are the marks. */
  private confirm(
    userId: string,
    deviceId: string,
    conversations: Map<string, unknown>,
    step: (conversation: ConversationState, cursor: Cursor) => { cursor: Cursor; added: number[] },
  ): ConfirmResult {
    const marks: DeliveryMark[] = [];
    const advanced: { conversationId: string; deliveredSeq: number }[] = [];
    const cursors = this.deviceCursors(userId, deviceId);
    const now = Date.now();
    for (const conversationId of conversations.keys()) {
      const conversation = this.conversations.get(conversationId)!;
      const joinSeq = conversation.members.get(userId)!.joinSeq;
      cursors.set(conversationId, step(conversation, atLeast(cursors.get(conversationId) ?? EMPTY_CURSOR, joinSeq)).cursor);
      const before = atLeast(conversation.delivered.get(userId) ?? EMPTY_CURSOR, joinSeq);
      const { cursor, added } = step(conversation, before);
      if (added.length === 0) continue;
      conversation.delivered.set(userId, cursor);
      let deliveredAt = conversation.deliveredAt.get(userId);
      if (!deliveredAt) conversation.deliveredAt.set(userId, (deliveredAt = []));
      const { table } = this;
      for (const seq of added) {
        const row = conversation.rows.at(seq - 1);
        const from = table.from(row);
        if (from === userId) continue;
        deliveredAt[seq - 1] = now;
        marks.push({ messageId: table.messageId(row), conversationId, seq, from, deliveredAt: now, ts: table.ts(row) });
      }
      // The watermark with no gap below it (cursor.ts deliveredWatermark: both are past joinSeq here).
      if (cursor.upTo > before.upTo) advanced.push({ conversationId, deliveredSeq: cursor.upTo });
    }
    this.deliveryMarks += marks.length;
    this.delivered += marks.length;
    return { marks, advanced };
  }

  private deviceCursors(userId: string, deviceId: string): Map<string, Cursor> {
    let ofUser = this.devices.get(userId);
    let cursors = ofUser?.get(deviceId);
    if (cursors) return cursors;
    if (!ofUser) this.devices.set(userId, (ofUser = new Map()));
    // Every device id a client makes up stays until forgotten: past the bound, the one seen longest
    // ago goes (it comes back as a new device). Without it, one account cycling ids fills the memory.
    while (ofUser.size >= this.maxDevicesPerUser) {
      ofUser.delete(ofUser.keys().next().value!);
      this.onDeviceForgotten?.();
    }
    // A device seen for the first time (whatever it does first: replay, send or confirm) starts where
    // its user is: what no device confirmed yet.
    ofUser.set(deviceId, (cursors = new Map()));
    for (const conversationId of this.byUser.get(userId) ?? []) {
      const delivered = this.conversations.get(conversationId)!.delivered.get(userId);
      if (delivered) cursors.set(conversationId, delivered);
    }
    return cursors;
  }

  private createConversation(conversationId: string, kind: 'direct' | 'group', title: string | null, ownerId: string | null, createdAt: number, members: readonly string[]): ConversationState {
    const conversation: ConversationState = {
      conversationId, kind, title, ownerId, createdAt,
      members: new Map(), rows: new RowList(), delivered: new Map(), deliveredAt: new Map(), read: new Map(),
    };
    this.conversations.set(conversationId, conversation);
    this.join(conversation, members, createdAt);
    return conversation;
  }

  private join(conversation: ConversationState, userIds: readonly string[], at: number): string[] {
    const added: string[] = [];
    const joinSeq = conversation.rows.length;
    for (const userId of userIds) {
      if (conversation.members.has(userId)) continue;
      conversation.members.set(userId, Object.freeze({ conversationId: conversation.conversationId, userId, joinedAt: at, joinSeq }));
      let set = this.byUser.get(userId);
      if (!set) this.byUser.set(userId, (set = new Set()));
      set.add(conversation.conversationId);
      added.push(userId);
    }
    return added;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('store is closed');
  }
}
