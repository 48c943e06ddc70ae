// The memory store's per-conversation state and the read-only views built from it (the list item,
// the conversation as clients see it). Kept apart from memory-store.ts, which changes the state.
import { UNREAD_CAP, type Conversation, type ConversationListItem, type Cursor, type Membership } from '../store.js';
import type { MessageTable, RowList } from './message-table.js';

export interface ConversationState {
  readonly conversationId: string;
  readonly kind: 'direct' | 'group';
  title: string | null;
  ownerId: string | null;
  readonly createdAt: number;
  /** userId → membership; insertion order is join order. */
  readonly members: Map<string, Membership>;
  /** Its messages' rows in the MessageTable: rows.at(seq - 1). */
  readonly rows: RowList;
  /** The user-level delivery cursor of each member (what at least one device confirmed). */
  readonly delivered: Map<string, Cursor>;
  /** userId → when each message was delivered to them, at [seq - 1] (a hole: not yet): an array per member, not a key per delivery. */
  readonly deliveredAt: Map<string, number[]>;
  readonly read: Map<string, number>;
}

export function listItem(conversation: ConversationState, userId: string, table: MessageTable): ConversationListItem {
  const { rows } = conversation;
  // A member who joined late has read nothing from before joining, and has nothing unread there.
  const readSeq = conversation.read.get(userId) ?? conversation.members.get(userId)?.joinSeq ?? 0;
  const last = lastMessage(conversation, table);
  let unread = 0;
  for (let i = rows.length - 1; i >= readSeq && unread < UNREAD_CAP; i--) {
    const row = rows.at(i);
    if (table.from(row) !== userId && !table.isEvent(row) && !table.deleted(row)) unread++;
  }
  return {
    conversation: view(conversation),
    lastSeq: rows.length,
    lastMessage: last < 0 ? null : table.stored(last),
    readSeq,
    unread,
    activityTs: activityTs(conversation, userId, table),
  };
}

export function view(conversation: ConversationState): Conversation {
  return {
    conversationId: conversation.conversationId,
    kind: conversation.kind,
    title: conversation.title,
    ownerId: conversation.ownerId,
    createdAt: conversation.createdAt,
    members: [...conversation.members.keys()],
  };
}

export function otherMember(conversation: ConversationState, userId: string): string {
  for (const member of conversation.members.keys()) if (member !== userId) return member;
  return userId;
}

/** The row of the newest message that is not an edit or delete event, or -1. */
function lastMessage(conversation: ConversationState, table: MessageTable): number {
  const { rows } = conversation;
  for (let i = rows.length - 1; i >= 0; i--) if (!table.isEvent(rows.at(i))) return rows.at(i);
  return -1;
}

export function activityTs(conversation: ConversationState, userId: string, table: MessageTable): number {
  const last = lastMessage(conversation, table);
  return Math.max(last < 0 ? 0 : table.ts(last), conversation.members.get(userId)?.joinedAt ?? conversation.createdAt);
}
