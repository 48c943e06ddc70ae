// The Store contract (v2: conversations). Every implementation (memory/, mongo/) passes
// test/store/contract*.ts. The data model and its reasons: docs/store.md.
//
// - A message belongs to one conversation and is stored once, keyed by the client's messageId, never
//   changed. Its `seq` is assigned by the store: 1, 2, 3… per conversation, gapless and unique across
//   every process sharing the store.
// - Writing a message costs O(1) documents whatever the group size: delivery state is not per message
//   but a cursor per (user, device, conversation) ("everything up to seq N, plus these above it").
// - A user's delivery (what the v1 DELIVERED ack and receipts report) is the same kind of cursor per
//   (user, conversation), advanced by whichever of its devices confirms first; each advance over a
//   message is its one delivery mark.
// - An edit or a delete is an event in the same stream: stored like a message (its own id and seq,
//   replayed and confirmed per device like one), then applied to its target (applyEvent), which is the
//   one change a stored message ever sees.

import type { AccessStore } from './access-store.js';
import type { MaybePromise } from '../maybe-promise.js';
import type { PushStore } from './push-store.js';

export type ConversationKind = 'direct' | 'group';

/** The device of v1 clients and of connections that name none. */
export const DEFAULT_DEVICE = 'default';

export interface NewMessage {
  readonly messageId: string;
  /** Omitted for a direct message: the store derives it from `from` and `to` (directConversationId). */
  readonly conversationId?: string;
  readonly from: string;
  /** The sending device, which is not delivered its own message; undefined for HTTP sends (every device gets it). */
  readonly fromDevice?: string;
  /** Direct conversations only: the other member (v1's `to`). */
  readonly to?: string;
  readonly body: string;
  /** Server accept time, ms since the epoch. */
  readonly ts: number;
  /** Set for an edit or delete event: what it does, and to which message (body: the new one; '' for a delete). */
  readonly event?: MessageEventRef;
  /** Sent through the server API, which may send as a banned user: a ban does not refuse it (SenderGate). Never stored. */
  readonly byServer?: true;
}

export type MessageEventKind = 'edited' | 'deleted';

export interface MessageEventRef {
  readonly kind: MessageEventKind;
  /** The messageId of the message edited or deleted. */
  readonly target: string;
}

export interface StoredMessage {
  readonly messageId: string;
  readonly conversationId: string;
  readonly seq: number;
  readonly from: string;
  readonly fromDevice?: string;
  readonly to?: string;
  readonly body: string;
  readonly ts: number;
  /** An edit or delete event (see NewMessage.event); absent for a message. */
  readonly event?: MessageEventRef;
  /** A message: when its latest applied edit was accepted. */
  readonly editedAt?: number;
  /** A message that was deleted: a tombstone, whose body is ''. */
  readonly deleted?: true;
}

export type PersistResult =
  | { readonly kind: 'created'; readonly message: StoredMessage }
  /** The same messageId, sender, conversation and body was stored before: `message` is the original. */
  | { readonly kind: 'duplicate'; readonly message: StoredMessage }
  /** The messageId exists with another sender, conversation or body; nothing was changed. */
  | { readonly kind: 'conflict'; readonly messageId: string }
  /** The sender is not a member of that conversation (or it does not exist); nothing was stored. */
  | { readonly kind: 'not_member'; readonly messageId: string }
  /** The sender was banned while the send waited to be written (Store.admitSenders); nothing was stored. */
  | { readonly kind: 'banned'; readonly messageId: string };

/**
 * Asked for each new send just before it is written, after the store read the sender's membership:
 * `removed` refuses it, as this process heard of the sender's removal from the conversation since
 * `readAt` (ms); `banned` (the sender is banned now) refuses it unless it came through the server API
 * (`byServer`). A store that writes at once (memory) has no such wait.
 */
export type SenderGate = (userId: string, conversationId: string, readAt: number) => 'banned' | 'removed' | undefined;

export interface Conversation {
  readonly conversationId: string;
  readonly kind: ConversationKind;
  /** Groups only; null for direct conversations. */
  readonly title: string | null;
  /** Groups only: the owner (null once nobody is left). */
  readonly ownerId: string | null;
  readonly createdAt: number;
  /** Current members, longest-standing first. */
  readonly members: readonly string[];
}

export interface NewGroup {
  readonly conversationId: string;
  readonly title: string;
  readonly ownerId: string;
  /** Besides the owner; duplicates and the owner are ignored. */
  readonly members: readonly string[];
  readonly createdAt: number;
  /**
   * What the creating request asked for, digested (an Idempotency-Key's group): kept with the group,
   * so that the key used again for another title or other members is told apart from a retry.
   */
  readonly requestDigest?: string;
}

export interface GroupCreation {
  readonly conversation: Conversation;
  /** True for exactly one call per group, across instances. */
  readonly created: boolean;
  /** The digest the group was created with (NewGroup.requestDigest), if any. */
  readonly requestDigest?: string;
}

export interface Membership {
  readonly conversationId: string;
  readonly userId: string;
  readonly joinedAt: number;
  /** The conversation's last seq when the user joined: a member's devices are delivered only what came after. */
  readonly joinSeq: number;
}

export interface MembershipChange {
  readonly conversation: Conversation;
  /** The users whose membership changed (added, or removed/left). */
  readonly users: readonly string[];
}

/** A delivery cursor: every seq ≤ `upTo` confirmed, plus the runs above it (store/cursor.ts). */
export interface Cursor {
  readonly upTo: number;
  /** Inclusive runs of covered seqs above `upTo + 1`, flat and ascending: [from, to, from, to, …], never adjacent. */
  readonly runs: readonly number[];
}

/** What a device still has to be replayed in one conversation. */
/** A conversation's messages with seq in (afterSeq, toSeq]. */
export interface SeqRange {
  readonly conversationId: string;
  readonly afterSeq: number;
  readonly toSeq: number;
}

export interface ReplayTarget {
  readonly conversationId: string;
  /** The device's cursor there (already confirmed: skip these). */
  readonly cursor: Cursor;
  readonly lastSeq: number;
}

export interface DeliveryMark {
  readonly messageId: string;
  readonly conversationId: string;
  readonly seq: number;
  /** The sender, who gets the DELIVERED ack (direct conversations). */
  readonly from: string;
  readonly deliveredAt: number;
  /** Accept time of the message, for the delivery latency histogram. */
  readonly ts: number;
}

export interface ConfirmResult {
  /** Messages delivered to this user for the first time (by any device): each exactly once, ever. */
  readonly marks: readonly DeliveryMark[];
  /** Conversations whose user-level delivered watermark (MemberState.deliveredSeq) advanced, with the new watermark. */
  readonly advanced: readonly { readonly conversationId: string; readonly deliveredSeq: number }[];
  /** confirmIds: how many distinct ids matched no stored message (what a random-id flood is made of); absent when none. */
  readonly unknownIds?: number;
}

export interface ConversationListItem {
  readonly conversation: Conversation;
  readonly lastSeq: number;
  /** The newest message (never an event: an edited last message shows its new body). */
  readonly lastMessage: StoredMessage | null;
  /** The caller's read watermark. */
  readonly readSeq: number;
  /** Messages (not events) from others with seq > readSeq, capped at UNREAD_CAP. */
  readonly unread: number;
  /** Sort key of the list: the last message's ts, or the time the caller joined. */
  readonly activityTs: number;
}

export const UNREAD_CAP = 999;

/** A member's positions in a conversation (what receipts report, for a client that was not listening). */
export interface MemberState {
  readonly userId: string;
  /**
   * Every seq up to it was delivered to at least one of the member's devices (its own messages count),
   * with no gap below: a tick shown up to it is true. At least the member's join seq.
   */
  readonly deliveredSeq: number;
  readonly readSeq: number;
}

export interface ConversationPage {
  readonly items: readonly ConversationListItem[];
  /** Pass back as `cursor` for the next page; undefined on the last one. */
  readonly next: string | undefined;
}

export interface HistoryPage {
  /** Ascending seq. */
  readonly messages: readonly StoredMessage[];
  readonly hasMore: boolean;
}

export interface DeliveryState {
  readonly status: 'pending' | 'delivered';
  readonly deliveredAt: number | undefined;
  /** How many times the pending → delivered transition happened for this user: 1 once delivered, never more. */
  readonly marks: number;
}

export interface StoreCounts {
  readonly messages: number;
  /** Recipient users of the stored messages (each member but the sender). */
  readonly deliveries: number;
  /** Of those, delivered to at least one device. */
  readonly delivered: number;
  /** Successful inserts of new messages by this process (a retry does not count). */
  readonly persists: number;
  /** Delivery marks (first confirmation of a message by a user) made by this process. */
  readonly deliveryMarks: number;
}

export interface Store {
  readonly kind: 'memory' | 'mongo';
  /** Bans and token revocations (the server API), on the same database; started by its user (src/chat/access-control.ts). */
  readonly access: AccessStore;
  /** Connects and prepares (indexes); rejects if the store cannot be reached. */
  start(): Promise<void>;
  /** Resolves if the store answers now (readiness). */
  ping(): Promise<void>;
  /** Flushes pending batches and closes. */
  close(): Promise<void>;

  // Messages.
  /**
   * Stores a message idempotently by messageId and assigns its seq. A direct message creates its
   * conversation on first use. Resolves only once the write is durable; a store that is durable at
   * once (memory) answers without a promise, and callers on the hot path take it so (`isPromise`).
   */
  persist(message: NewMessage): MaybePromise<PersistResult>;
  /**
   * A store whose sends wait to be written (a batch's reads, then its insert) asks `gate` before each
   * insert: a pipelined burst went on being stored, and delivered, after its sender was removed from
   * the group or banned elsewhere (attacker probe: 64 after a removal, 100 after a ban).
   */
  admitSenders?(gate: SenderGate): void;
  /**
   * A message another instance stored, as the live bus brought it here: a store that caches what is
   * immutable about messages (the Mongo store: the facts a confirmation needs, the conversation's head)
   * learns it now, so that confirming it here, or the next send into its conversation, asks the
   * database nothing it could know already. Optional: a store of one process has seen it already.
   */
  learn?(message: StoredMessage): void;
  /**
   * Each range's messages, ascending by seq, in the order of `ranges`: many conversations' replay pages
   * in a few reads (on MongoDB one query per 256 ranges). A seq is unique in its conversation, so a
   * range holds at most toSeq − afterSeq messages, fewer where a seq was never used.
   */
  messagesIn(ranges: readonly SeqRange[]): Promise<StoredMessage[][]>;
  /**
   * History, ascending, events not in it: the newest `limit` messages before seq `before` (or the newest
   * of all); with `after`, the oldest `limit` after seq `after` (and before `before`), for paging
   * forward. `hasMore`: the window holds more beyond the page, in the direction of paging.
   */
  history(conversationId: string, before: number | undefined, limit: number, after?: number): Promise<HistoryPage>;
  getMessage(messageId: string): Promise<StoredMessage | undefined>;
  /**
   * Applies a stored edit or delete event to its target message: the new body and `editedAt`, or the
   * tombstone. Idempotent (a retry re-applies it, which repairs a crash between store and apply); the
   * event with the highest seq wins, and a delete is final. A deleted target's edit events keep their
   * seq but lose their bodies (a replay never brings back a deleted text). Returns the target as it
   * stands after.
   */
  applyEvent(event: StoredMessage): Promise<StoredMessage | undefined>;

  // Conversations and membership.
  /**
   * Creates a group (idempotent by conversationId: an existing one is returned unchanged, with
   * `created: false`). Exactly one of concurrent calls with one id, on any instance, gets `created`.
   */
  createGroup(group: NewGroup): Promise<GroupCreation>;
  getConversation(conversationId: string): Promise<Conversation | undefined>;
  membership(conversationId: string, userId: string): Promise<Membership | undefined>;
  /** Adds users (existing members are skipped); their cursors start at the conversation's last seq. */
  addMembers(conversationId: string, userIds: readonly string[], at: number): Promise<MembershipChange | undefined>;
  /** Removes one member; the owner leaving passes ownership to the longest-standing member. */
  removeMember(conversationId: string, userId: string): Promise<MembershipChange | undefined>;
  setTitle(conversationId: string, title: string): Promise<Conversation | undefined>;
  /** The conversations `userId` is a member of, most recent activity first. */
  listConversations(userId: string, limit: number, cursor: string | undefined): Promise<ConversationPage>;
  /** One list item, or undefined for a non-member. */
  conversationItem(conversationId: string, userId: string): Promise<ConversationListItem | undefined>;
  /** Ids of every conversation `userId` is a member of. */
  conversationIdsOf(userId: string): Promise<string[]>;
  /**
   * How many groups each of `userIds` is a member of (in their order), each counted up to `atMost` at
   * least: the caller asks only whether a user reached a cap (MAX_GROUPS_PER_USER), not the total.
   */
  groupCounts(userIds: readonly string[], atMost: number): Promise<number[]>;
  /** Every member's delivered and read positions, in member order (the caller bounds the group size). */
  memberStates(conversationId: string): Promise<MemberState[]>;

  // Delivery.
  /**
   * The conversations where `deviceId` has messages past its cursor, with the cursor. A device seen
   * for the first time starts from its user's delivery cursors (what no device confirmed yet).
   */
  replayTargets(userId: string, deviceId: string): Promise<ReplayTarget[]>;
  /**
   * This device confirms messages by id. Ids of messages not addressed to the user (not a member, or
   * its own), unknown, or already confirmed by this device are ignored.
   */
  confirmIds(userId: string, deviceId: string, messageIds: readonly string[]): MaybePromise<ConfirmResult>;
  /** This device has every message of the conversation up to `seq` (clamped to its last seq). */
  confirmUpTo(userId: string, deviceId: string, conversationId: string, seq: number): Promise<ConfirmResult>;
  /** Moves the user's read watermark forward (never back; clamped). Returns it, and whether it moved. */
  markRead(userId: string, conversationId: string, seq: number): Promise<{ readonly readSeq: number; readonly advanced: boolean } | undefined>;

  // Inspection, for tests, gates and benchmarks.
  /** The user-level delivery of a message (first device), undefined if the user is not a recipient. */
  deliveryState(messageId: string, recipient: string): Promise<DeliveryState | undefined>;
  /** A device's cursor in a conversation (undefined: never confirmed anything there). */
  deviceCursor(userId: string, deviceId: string, conversationId: string): Promise<Cursor | undefined>;
  counts(): Promise<StoreCounts>;

  /** The offline-push webhook's state (push-store.ts); used only when PUSH_WEBHOOK_URL is set. */
  readonly push: PushStore;
}

/** Devices kept per user (MAX_DEVICES_PER_USER); past it the ones seen longest ago are forgotten. */
export const DEFAULT_MAX_DEVICES_PER_USER = 100;

/** How many devices a store keeps per user, and whom it tells when it forgets one (a metric). */
export interface DeviceBound {
  readonly maxDevicesPerUser?: number;
  /** Called once per device forgotten past the bound: a client making up a device id per connection shows here. */
  readonly onDeviceForgotten?: () => void;
}

/**
 * Driver errors that mean "the store could not be reached in time" (by name, so this file needs no
 * driver import): the connection, its pool or server selection failed, or an operation timed out.
 */
const UNREACHABLE_DRIVER_ERRORS = new Set([
  'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError', 'MongoNotConnectedError',
  'MongoTopologyClosedError', 'MongoPoolClearedError', 'MongoOperationTimeoutError', 'MongoWaitQueueTimeoutError',
]);

/** True when `error` says the store is unavailable now (a retry later may succeed), not that the request was wrong. */
export function isStoreUnavailable(error: unknown): boolean {
  return error instanceof StoreUnavailableError || (error instanceof Error && UNREACHABLE_DRIVER_ERRORS.has(error.name));
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
