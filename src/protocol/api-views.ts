// The JSON shapes of the conversation API's answers (docs/protocol.md, HTTP).
import type { ConversationListItem, StoredMessage } from '../store/store.js';
import { conversationView } from './server-frames.js';
import { editIdOf } from './ids.js';

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
