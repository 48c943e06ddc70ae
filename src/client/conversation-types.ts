// The shapes of protocol v1.1's conversations as the SDK hands them to the application: the HTTP API's
// answers and the conversation events (docs/protocol.md, "Protocol v1.1: conversations").

export type ConversationKind = 'direct' | 'group';

/** A conversation as the server describes it. */
export interface Conversation {
  /** Server-assigned and opaque: never parse it. */
  readonly conversationId: string;
  readonly kind: ConversationKind;
  /** Groups; null or absent for direct conversations. */
  readonly title?: string | null;
  /** The first 100 members in events and lists; all of them in create/rename answers. */
  readonly members: readonly string[];
  readonly memberCount: number;
  readonly ownerId?: string | null;
  readonly createdAt: number;
}

/** The last message of a conversation, in the list. */
export interface LastMessage {
  readonly messageId: string;
  readonly from: string;
  /** "" for a deleted message. */
  readonly body: string;
  readonly ts: number;
  readonly seq: number;
  /** v1.2: edited (the body is the latest), when. */
  readonly editedAt?: number;
  /** v1.2: deleted. */
  readonly deleted?: true;
}

/** One entry of conversations.list() and conversations.get(). */
export interface ConversationListItem extends Conversation {
  /** Direct conversations: the other user. */
  readonly peer?: string;
  readonly lastSeq: number;
  readonly lastMessage: LastMessage | null;
  /** This user's read watermark. */
  readonly readSeq: number;
  /** Messages from others past readSeq, capped at 999. */
  readonly unread: number;
}

/** One member's watermarks in a conversation, as `GET /api/conversations/:id` answers them. */
export interface MemberReceipt {
  readonly userId: string;
  /** Every message up to it reached at least one of the member's devices (its own count), no gap below. */
  readonly deliveredSeq: number;
  /** The member's read watermark. */
  readonly readSeq: number;
}

/** conversations.get(): a list item plus every member's watermarks, to rebuild ticks after time away. */
export interface ConversationDetail extends ConversationListItem {
  /**
   * Every member's delivered and read watermarks: for direct conversations and groups of up to the
   * server's RECEIPTS_MAX_MEMBERS (default 100) members; absent for larger groups (no receipts there).
   */
  readonly receipts?: readonly MemberReceipt[];
}

export interface ConversationPage {
  readonly conversations: readonly ConversationListItem[];
  /** Pass as `cursor` for the next page; null on the last one. */
  readonly next: string | null;
}

/** A stored message from history (the same fields as a live one, always with conversationId and seq). */
export interface HistoryMessage {
  readonly messageId: string;
  readonly conversationId: string;
  readonly seq: number;
  readonly from: string;
  readonly to?: string;
  /** "" for a deleted message (v1.2). */
  readonly body: string;
  readonly ts: number;
  /** v1.2: edited (the body is the latest), when. */
  readonly editedAt?: number;
  /** v1.2: deleted (a tombstone). */
  readonly deleted?: true;
}

/** Which history: `before` a seq (default: the newest), or `after` one (paging forward); `limit` per page. */
export interface HistoryOptions {
  readonly before?: number;
  readonly after?: number;
  readonly limit?: number;
}

/** One page of history, oldest first. */
export interface HistoryPage {
  readonly messages: readonly HistoryMessage[];
  readonly hasMore: boolean;
}

export interface ReceiptEvent {
  readonly conversationId: string;
  readonly userId: string;
  /** The highest seq delivered to at least one of the member's devices. */
  readonly deliveredSeq?: number;
  /** The member's read watermark. */
  readonly readSeq?: number;
}

export interface TypingEvent {
  readonly conversationId: string;
  readonly userId: string;
}

export type ConversationEventKind = 'created' | 'joined' | 'left' | 'removed' | 'updated';

export interface ConversationEvent {
  readonly event: ConversationEventKind;
  readonly conversation: Conversation;
}

/** Messages fromSeq..toSeq (inclusive) of a conversation that will not arrive on the socket. */
export interface GapEvent {
  readonly conversationId: string;
  readonly fromSeq: number;
  readonly toSeq: number;
}
