// The JSON shapes of the conversation API's answers (docs/protocol.md, HTTP).
import { encodeListCursor } from '../store/conversation-list.js';
import type { ConversationListItem, StoredMessage } from '../store/store.js';
import { conversationView } from './server-frames.js';
import { editIdOf } from './ids.js';
import { itemsWithin } from './page-budget.js';

export function messageView(message: StoredMessage): Record<string, unknown> {
  return {
    messageId: message.messageId,
    conversationId: message.conversationId,
    seq: message.seq,
    from: message.from,
    ...(message.to !== undefined ? { to: message.to } : {}),
    // A tombstone has no body; an edited message carries its latest body and when it was edited.
    ...(message.deleted ? { deleted: true } : { body: message.body }),
    ts: message.ts,
    ...(message.editedAt !== undefined ? { editedAt: message.editedAt } : {}),
  };
}

/** v1.2: the answer to PATCH and DELETE on a message: the event (its seq and id) and the message after it. */
export function eventAnswerView(event: StoredMessage, message: StoredMessage | undefined, duplicate: boolean): Record<string, unknown> {
  const { kind, target } = event.event!;
  return {
    event: kind,
    messageId: target,
    ...(kind === 'edited' ? { editId: editIdOf(event.messageId) } : {}),
    eventId: event.messageId,
    conversationId: event.conversationId,
    seq: event.seq,
    ts: event.ts,
    duplicate,
    ...(message ? { message: messageView(message) } : {}),
  };
}

export function listItemView(item: ConversationListItem, userId: string): Record<string, unknown> {
  const { conversation } = item;
  const last = item.lastMessage;
  return {
    ...conversationView(conversation),
    ...(conversation.kind === 'direct' ? { peer: conversation.members.find((member) => member !== userId) ?? userId } : {}),
    lastSeq: item.lastSeq,
    lastMessage: last ? { messageId: last.messageId, from: last.from, ...(last.deleted ? { deleted: true } : { body: last.body }), ts: last.ts, seq: last.seq, ...(last.editedAt !== undefined ? { editedAt: last.editedAt } : {}) } : null,
    readSeq: item.readSeq,
    unread: item.unread,
  };
}

/**
 * A history page's JSON, at most `maxBytes` of it: past that it keeps its newest messages and says
 * `hasMore` (the client pages on with `before` = the oldest seq it got); paging `forward`, its oldest
 * (the client pages on with `after` = the newest seq it got).
 */
export function encodeHistoryPage(messages: readonly StoredMessage[], hasMore: boolean, maxBytes: number, forward = false): string {
  const encoded = messages.map((message) => JSON.stringify(messageView(message)));
  // Cut at the end the client pages on from: backwards it keeps the newest, forwards the oldest.
  const kept = itemsWithin(encoded, maxBytes, forward ? 'start' : 'end');
  const parts = kept === encoded.length ? encoded : forward ? encoded.slice(0, kept) : encoded.slice(encoded.length - kept);
  return `{"messages":[${parts.join(',')}],"hasMore":${hasMore || kept < encoded.length}}`;
}

/**
 * A conversation-list page's JSON, at most `maxBytes` of it (each item holds its last message's body):
 * past that it ends early, and `next` goes on from its last item, since the cursor is an item's place
 * in the list whichever page it ended.
 */
export function encodeListPage(items: readonly ConversationListItem[], userId: string, next: string | undefined, maxBytes: number): string {
  const encoded = items.map((item) => JSON.stringify(listItemView(item, userId)));
  const kept = itemsWithin(encoded, maxBytes, 'start');
  const last = items[kept - 1];
  const cursor = kept < encoded.length && last ? encodeListCursor({ conversationId: last.conversation.conversationId, activityTs: last.activityTs }) : next;
  return `{"conversations":[${encoded.slice(0, kept).join(',')}],"next":${JSON.stringify(cursor ?? null)}}`;
}
