// The memory store's per-conversation state and the read-only views built from it (the list item,
// the conversation as clients see it). Kept apart from memory-store.ts, which changes the state.
import { UNREAD_CAP, type Conversation, type ConversationListItem, type Cursor, type Membership, type StoredMessage } from '../store.js';
import type { KeptMessage } from './kept-message.js';

export interface ConversationState {
  readonly conversationId: string;
  readonly kind: 'direct' | 'group';
  title: string | null;
  ownerId: string | null;
  readonly createdAt: number;
  /** userId → membership; insertion order is join order. */
  readonly members: Map<string, Membership>;
  /** messages[seq - 1]. */
  readonly messages: KeptMessage[];
  /** The user-level delivery cursor of each member (what at least one device confirmed). */
  readonly delivered: Map<string, Cursor>;
  /** userId → when each message was delivered to them, at [seq - 1] (a hole: not yet): an array per member, not a key per delivery. */
  readonly deliveredAt: Map<string, number[]>;
  readonly read: Map<string, number>;
}

export function listItem(conversation: ConversationState, userId: string, stored: (kept: KeptMessage) => StoredMessage): ConversationListItem {
  const { messages } = conversation;
  // A member who joined late has read nothing from before joining, and has nothing unread there.
  const readSeq = conversation.read.get(userId) ?? conversation.members.get(userId)?.joinSeq ?? 0;
  const last = lastMessage(conversation);
  let unread = 0;
  for (let i = messages.length - 1; i >= readSeq && unread < UNREAD_CAP; i--) if (messages[i]!.from !== userId && !messages[i]!.event && !messages[i]!.deleted) unread++;
  return {
    conversation: view(conversation),
    lastSeq: messages.length,
    lastMessage: last && stored(last),
    readSeq,
    unread,
    activityTs: activityTs(conversation, userId),
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

/** The newest message that is not an edit or delete event. */
function lastMessage(conversation: ConversationState): KeptMessage | null {
  const { messages } = conversation;
  for (let i = messages.length - 1; i >= 0; i--) if (!messages[i]!.event) return messages[i]!;
  return null;
}

export function activityTs(conversation: ConversationState, userId: string): number {
  const last = lastMessage(conversation);
  return Math.max(last?.ts ?? 0, conversation.members.get(userId)?.joinedAt ?? conversation.createdAt);
}
